// Query-string decoding and encoding: the two directions side by side.
#include "common/admin/query_string.h"

#include <cctype>

#include "common/base/hex.h"

namespace towerstream::admin {
namespace {

Result<std::string> DecodeComponent(std::string_view s) {
  std::string text;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      text += ' ';
    } else if (s[i] == '%') {
      const bool complete = i + 2 < s.size();
      const int hi = complete ? HexDigitValue(s[i + 1]) : -1;
      const int lo = complete ? HexDigitValue(s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return Status::InvalidArgument("bad percent escape in the query string");
      text += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else {
      text += s[i];
    }
  }
  return text;
}

}  // namespace

Result<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    TS_ASSIGN_OR_RETURN(std::string name, DecodeComponent(pair.substr(0, eq)));
    TS_ASSIGN_OR_RETURN(
        std::string value,
        DecodeComponent(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1)));
    out[std::move(name)] = std::move(value);
  }
  return out;
}

std::string EncodeQueryValue(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (std::isalnum(byte) != 0 || c == '-' || c == '_' || c == '.' || c == '~') {
      out += c;
    } else {
      out += '%';
      out += kHex[byte >> 4];
      out += kHex[byte & 0xf];
    }
  }
  return out;
}

}  // namespace towerstream::admin
