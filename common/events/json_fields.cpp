// Parsing event payloads with nlohmann::json and reading validated fields; its exceptions stop
// here and become Status values.
#include "common/events/json_fields.h"

#include <cmath>
#include <string>
#include <utility>

namespace towerstream::events::internal {
namespace {

// Long enough for a customer id, short enough to keep a DLQ header and a log line readable.
constexpr size_t kMaxDescribedBytes = 80;

// nlohmann's parse_error text is "... - <what went wrong>[; last read: '<raw bytes>']...".
// Keeps what went wrong and drops the raw bytes, which may be the invalid input itself.
// Shortens `text` to about kMaxDescribedBytes, cutting on a UTF-8 character boundary.
std::string Clip(std::string text) {
  if (text.size() <= kMaxDescribedBytes) return text;
  size_t cut = kMaxDescribedBytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  text.resize(cut);
  text += "...";
  return text;
}

std::string_view SyntaxProblem(std::string_view what) {
  const size_t dash = what.find(" - ");
  if (dash == std::string_view::npos) return {};
  std::string_view problem = what.substr(dash + 3);
  return problem.substr(0, problem.find("; last read: "));
}

Status WrongType(std::string_view expected, const Json& value) {
  std::string problem = "expected ";
  problem += expected;
  problem += ", got ";
  problem += value.type_name();
  return Status::InvalidArgument(std::move(problem));
}

Status OutOfRange(const Json& value, int64_t min, int64_t max) {
  return Status::InvalidArgument(Describe(value) + " is out of range [" + std::to_string(min) +
                                 ", " + std::to_string(max) + "]");
}

Status CheckSchemaVersion(const Json& document) {
  const auto it = document.find("schema_version");
  if (it == document.end()) return MissingField("schema_version");
  TS_ASSIGN_OR_RETURN(int64_t version, InField("schema_version", IntegerValueOf<int64_t>(*it)));
  if (version != kSchemaVersion) {
    return Status::InvalidArgument(std::string(kUnsupportedVersionPrefix) + " " +
                                   std::to_string(version) +
                                   " (supported: " + std::to_string(kSchemaVersion) + ")");
  }
  return Status::Ok();
}

}  // namespace

std::string FieldContext(std::string_view field) {
  std::string context(kFieldPrefix);
  context += field;
  context += '\'';
  return context;
}

Status FieldError(std::string_view field, std::string_view problem) {
  std::string message = FieldContext(field);
  message += ": ";
  message += problem;
  return Status::InvalidArgument(std::move(message));
}

Status MissingField(std::string_view field) {
  return Status::InvalidArgument(FieldContext(field) + std::string(kMissingSuffix));
}

std::string Describe(const Json& value) {
  // Parsed strings are valid UTF-8; `replace` only guards values built in code.
  return Clip(value.dump(-1, ' ', false, Json::error_handler_t::replace));
}

Result<Json> ParseEvent(std::string_view payload, const DecodeOptions& options) {
  if (payload.size() > options.max_payload_bytes) {
    return Status::InvalidArgument(std::string(kTooLargePrefix) + std::to_string(payload.size()) +
                                   " bytes, over the limit of " +
                                   std::to_string(options.max_payload_bytes));
  }
  Json document;
  try {
    document = Json::parse(payload);
  } catch (const Json::parse_error& e) {
    const std::string_view problem = SyntaxProblem(e.what());
    const std::string at = " at byte " + std::to_string(e.byte);
    if (problem.find("ill-formed UTF-8") != std::string_view::npos) {
      return Status::InvalidArgument(std::string(kInvalidUtf8Prefix) +
                                     ": ill-formed byte sequence in a string" + at);
    }
    std::string message = std::string(kNotJsonPrefix) + ": syntax error" + at;
    if (!problem.empty()) message += " (" + std::string(problem) + ")";
    return Status::InvalidArgument(std::move(message));
  } catch (const Json::exception& e) {
    // E.g. "[json.exception.out_of_range.406] number overflow parsing '1e999'"; the number
    // may be as long as the payload, hence the clip.
    const std::string_view what = e.what();
    const size_t tag_end = what.find("] ");
    return Status::InvalidArgument(
        std::string(kNotJsonPrefix) + ": " +
        Clip(std::string(tag_end == std::string_view::npos ? what : what.substr(tag_end + 2))));
  }
  if (!document.is_object()) {
    return Status::InvalidArgument(std::string(kNotObjectPrefix) + ": got " + document.type_name());
  }
  TS_RETURN_IF_ERROR(CheckSchemaVersion(document));
  return document;
}

Result<std::string> StringValue(Json& value) {
  if (!value.is_string()) return WrongType("string", value);
  return std::move(value.get_ref<std::string&>());
}

Result<int64_t> IntegerValue(const Json& value, int64_t min, int64_t max) {
  int64_t n = 0;
  if (value.is_number_unsigned()) {
    const uint64_t u = value.get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return OutOfRange(value, min, max);
    }
    n = static_cast<int64_t>(u);
  } else if (value.is_number_integer()) {
    n = value.get<int64_t>();
  } else if (value.is_number_float()) {
    // JSON Schema counts 49.0 as an integer; so do we.
    const double d = value.get<double>();
    if (d != std::trunc(d)) return Status::InvalidArgument(Describe(value) + " is not an integer");
    if (!(d >= -0x1p63 && d < 0x1p63)) {
      return OutOfRange(value, min, max);
    }
    n = static_cast<int64_t>(d);
  } else {
    return WrongType("integer", value);
  }
  if (n < min || n > max) {
    return OutOfRange(value, min, max);
  }
  return n;
}

Result<double> NumberValue(const Json& value) {
  if (!value.is_number()) return WrongType("number", value);
  return value.get<double>();
}

Result<bool> BoolValue(const Json& value) {
  if (!value.is_boolean()) return WrongType("boolean", value);
  return value.get<bool>();
}

Result<hm::ArticleId> ArticleIdValue(const Json& value) {
  if (value.is_string()) {
    const std::string& text = value.get_ref<const std::string&>();
    // hm's message quotes the whole value: keep a long one out of it.
    if (text.size() > static_cast<size_t>(hm::kArticleIdDigits)) {
      return Status::InvalidArgument(Describe(value) + " is not 1 to 10 digits");
    }
    return hm::ParseArticleId(text);
  }
  if (value.is_number()) {
    constexpr int64_t kMaxArticleId = 9'999'999'999;  // 10 digits
    return IntegerValue(value, 0, kMaxArticleId);
  }
  return WrongType("string or integer", value);
}

Result<Date> DateValue(const Json& value) {
  if (!value.is_string()) return WrongType("string", value);
  const std::string& text = value.get_ref<const std::string&>();
  constexpr size_t kDateChars = 10;  // YYYY-MM-DD
  // Date's message quotes the whole value: keep a long one out of it.
  if (text.size() != kDateChars) {
    return Status::InvalidArgument(Describe(value) + " is not a date of the form YYYY-MM-DD");
  }
  return Date::Parse(text);
}

Result<Json*> FieldReader::Find(std::string_view field) {
  const auto it = object_.find(field);
  if (it == object_.end()) return MissingField(field);
  return &*it;
}

Result<Json*> FieldReader::FindNullable(std::string_view field) {
  TS_ASSIGN_OR_RETURN(Json * value, Find(field));
  return value->is_null() ? nullptr : value;
}

Result<std::string> FieldReader::ReadString(std::string_view field) {
  TS_ASSIGN_OR_RETURN(Json * value, Find(field));
  return InField(field, StringValue(*value));
}

Result<bool> FieldReader::ReadBool(std::string_view field) {
  TS_ASSIGN_OR_RETURN(Json * value, Find(field));
  return InField(field, BoolValue(*value));
}

Result<hm::ArticleId> FieldReader::ReadArticleId(std::string_view field) {
  TS_ASSIGN_OR_RETURN(Json * value, Find(field));
  return InField(field, ArticleIdValue(*value));
}

Result<Date> FieldReader::ReadDate(std::string_view field) {
  TS_ASSIGN_OR_RETURN(Json * value, Find(field));
  return InField(field, DateValue(*value));
}

}  // namespace towerstream::events::internal
