// Hexadecimal digits, for the parsers of ids and URLs.
#pragma once

namespace towerstream {

// The value of one hex digit (either case), -1 for any other character.
constexpr int HexDigitValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace towerstream
