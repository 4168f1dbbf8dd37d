// Compact JSON output: RFC 8259 string escaping with UTF-8 validation, shortest doubles.
#include "common/events/json_writer.h"

#include <charconv>
#include <cmath>
#include <utility>

namespace towerstream::events::internal {
namespace {

constexpr char kHex[] = "0123456789abcdef";
constexpr std::string_view kReplacementCharacter = "\xEF\xBF\xBD";  // U+FFFD

bool InRange(unsigned char c, unsigned char lo, unsigned char hi) { return c >= lo && c <= hi; }

// Length of the well-formed UTF-8 sequence starting at p[0] (a byte >= 0x80), or 0 if it is
// ill-formed (Unicode Table 3-7: no overlongs, no surrogates, nothing above U+10FFFF).
size_t Utf8SequenceLength(const unsigned char* p, size_t available) {
  const unsigned char lead = p[0];
  size_t length;
  unsigned char lo = 0x80, hi = 0xBF;  // range of the second byte
  if (InRange(lead, 0xC2, 0xDF)) {
    length = 2;
  } else if (InRange(lead, 0xE0, 0xEF)) {
    length = 3;
    if (lead == 0xE0) lo = 0xA0;
    if (lead == 0xED) hi = 0x9F;
  } else if (InRange(lead, 0xF0, 0xF4)) {
    length = 4;
    if (lead == 0xF0) lo = 0x90;
    if (lead == 0xF4) hi = 0x8F;
  } else {
    return 0;
  }
  if (available < length || !InRange(p[1], lo, hi)) return 0;
  for (size_t i = 2; i < length; ++i) {
    if (!InRange(p[i], 0x80, 0xBF)) return 0;
  }
  return length;
}

}  // namespace

void AppendJsonString(std::string_view value, std::string* out) {
  out->push_back('"');
  const auto* bytes = reinterpret_cast<const unsigned char*>(value.data());
  const size_t n = value.size();
  size_t run_start = 0;  // bytes [run_start, i) are copied verbatim
  size_t i = 0;
  while (i < n) {
    const unsigned char c = bytes[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0x80) {
      const size_t length = Utf8SequenceLength(bytes + i, n - i);
      if (length > 0) {
        i += length;
        continue;
      }
    }
    out->append(value.data() + run_start, i - run_start);
    switch (c) {
      case '"':
        out->append("\\\"");
        break;
      case '\\':
        out->append("\\\\");
        break;
      case '\n':
        out->append("\\n");
        break;
      case '\r':
        out->append("\\r");
        break;
      case '\t':
        out->append("\\t");
        break;
      case '\b':
        out->append("\\b");
        break;
      case '\f':
        out->append("\\f");
        break;
      default:
        if (c < 0x20) {
          const char escape[] = {'\\', 'u', '0', '0', kHex[c >> 4], kHex[c & 0xF]};
          out->append(escape, sizeof(escape));
        } else {
          out->append(kReplacementCharacter);  // an ill-formed byte
        }
    }
    ++i;
    run_start = i;
  }
  out->append(value.data() + run_start, n - run_start);
  out->push_back('"');
}

ObjectWriter::ObjectWriter(size_t reserve) {
  out_.reserve(reserve);
  out_.push_back('{');
}

void ObjectWriter::Key(std::string_view key) {
  if (out_.size() > 1) out_.push_back(',');
  out_.push_back('"');
  out_.append(key);
  out_.append("\":");
}

void ObjectWriter::String(std::string_view key, std::string_view value) {
  Key(key);
  AppendJsonString(value, &out_);
}

void ObjectWriter::Integer(std::string_view key, int64_t value) {
  Key(key);
  char digits[24];
  out_.append(digits, std::to_chars(digits, digits + sizeof(digits), value).ptr);
}

void ObjectWriter::Number(std::string_view key, double value) {
  if (!std::isfinite(value)) return Null(key);
  Key(key);
  char digits[32];  // the shortest round-trip form of any double fits in 24
  out_.append(digits, std::to_chars(digits, digits + sizeof(digits), value).ptr);
}

void ObjectWriter::Bool(std::string_view key, bool value) {
  Key(key);
  out_.append(value ? "true" : "false");
}

void ObjectWriter::Null(std::string_view key) {
  Key(key);
  out_.append("null");
}

void ObjectWriter::QuotedArticleId(hm::ArticleId id) {
  char digits[hm::kArticleIdDigits];
  hm::FormatArticleId(id, digits);
  out_.push_back('"');
  out_.append(digits, sizeof(digits));
  out_.push_back('"');
}

void ObjectWriter::ArticleId(std::string_view key, hm::ArticleId id) {
  Key(key);
  QuotedArticleId(id);
}

void ObjectWriter::ArticleIds(std::string_view key, std::span<const hm::ArticleId> ids) {
  Key(key);
  out_.push_back('[');
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i > 0) out_.push_back(',');
    QuotedArticleId(ids[i]);
  }
  out_.push_back(']');
}

void ObjectWriter::NullableString(std::string_view key, const std::optional<std::string>& value) {
  value ? String(key, *value) : Null(key);
}

void ObjectWriter::NullableInteger(std::string_view key, std::optional<int32_t> value) {
  value ? Integer(key, *value) : Null(key);
}

void ObjectWriter::NullableNumber(std::string_view key, std::optional<float> value) {
  value ? Number(key, static_cast<double>(*value)) : Null(key);
}

std::string ObjectWriter::Finish() && {
  out_.push_back('}');
  return std::move(out_);
}

}  // namespace towerstream::events::internal
