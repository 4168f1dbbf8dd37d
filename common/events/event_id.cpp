// Transaction event ids: XXH3-128 of the source file's base name and line number.
#include "common/events/event_id.h"

#include <xxhash.h>

#include <charconv>

namespace towerstream::events {

std::string MakeTransactionEventId(std::string_view source_file_name, int64_t line) {
  const size_t slash = source_file_name.find_last_of('/');
  const std::string_view base =
      slash == std::string_view::npos ? source_file_name : source_file_name.substr(slash + 1);

  // NUL cannot occur in a file name, so "a" + 12 and "a1" + 2 hash different inputs.
  std::string input(base);
  input.push_back('\0');
  char digits[24];
  // 24 bytes hold any int64_t, so to_chars cannot fail.
  input.append(digits, std::to_chars(digits, digits + sizeof(digits), line).ptr);

  XXH128_canonical_t canonical;  // big-endian bytes: the same on every machine
  XXH128_canonicalFromHash(&canonical, XXH3_128bits(input.data(), input.size()));
  constexpr char kHex[] = "0123456789abcdef";
  std::string id(2 * sizeof(canonical.digest), '0');
  for (size_t i = 0; i < sizeof(canonical.digest); ++i) {
    id[2 * i] = kHex[canonical.digest[i] >> 4];
    id[2 * i + 1] = kHex[canonical.digest[i] & 0xf];
  }
  return id;
}

}  // namespace towerstream::events
