// Dead-letter reasons, their classification from decode errors, and the dlq.* headers.
#include "common/events/dead_letter.h"

#include <charconv>

#include "common/events/decode_errors.h"

namespace towerstream::events {
namespace {

// Parses a whole decimal header value into `out`.
template <typename Int>
Status ParseDecimalHeader(std::string_view name, std::string_view text, Int* out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), *out);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || *out < 0) {
    return Status::InvalidArgument("header '" + std::string(name) + "': '" + std::string(text) +
                                   "' is not a non-negative decimal integer");
  }
  return Status::Ok();
}

}  // namespace

std::string_view DlqReasonName(DlqReason reason) {
  switch (reason) {
    case DlqReason::kNotJson:
      return "not_json";
    case DlqReason::kInvalidUtf8:
      return "invalid_utf8";
    case DlqReason::kTooLarge:
      return "too_large";
    case DlqReason::kUnsupportedVersion:
      return "unsupported_version";
    case DlqReason::kMissingField:
      return "missing_field";
    case DlqReason::kInvalidField:
      return "invalid_field";
    case DlqReason::kUnknownArticle:
      return "unknown_article";
  }
  return "invalid_field";
}

Result<DlqReason> ParseDlqReason(std::string_view name) {
  for (DlqReason reason : kAllDlqReasons) {
    if (DlqReasonName(reason) == name) return reason;
  }
  return Status::InvalidArgument("'" + std::string(name) + "' is not a dead-letter reason");
}

DlqReason DecodeErrorReason(const Status& decode_error) {
  const std::string_view m = decode_error.message();
  if (m.starts_with(internal::kTooLargePrefix)) return DlqReason::kTooLarge;
  if (m.starts_with(internal::kNotJsonPrefix) || m.starts_with(internal::kNotObjectPrefix)) {
    return DlqReason::kNotJson;
  }
  if (m.starts_with(internal::kInvalidUtf8Prefix)) return DlqReason::kInvalidUtf8;
  if (m.starts_with(internal::kUnsupportedVersionPrefix)) return DlqReason::kUnsupportedVersion;
  if (m.starts_with(internal::kFieldPrefix) && m.ends_with(internal::kMissingSuffix)) {
    return DlqReason::kMissingField;
  }
  return DlqReason::kInvalidField;
}

std::vector<Header> DeadLetterHeaders(const DeadLetter& letter) {
  std::vector<Header> headers;
  headers.reserve(5);
  headers.emplace_back(kDlqReasonHeader, DlqReasonName(letter.reason));
  headers.emplace_back(kDlqSourceTopicHeader, letter.source_topic);
  headers.emplace_back(kDlqSourcePartitionHeader, std::to_string(letter.source_partition));
  headers.emplace_back(kDlqSourceOffsetHeader, std::to_string(letter.source_offset));
  if (!letter.error.empty()) headers.emplace_back(kDlqErrorHeader, letter.error);
  return headers;
}

Result<DeadLetter> ReadDeadLetter(std::optional<std::string> key, std::string payload,
                                  std::span<const Header> headers) {
  DeadLetter letter;
  letter.key = std::move(key);
  letter.payload = std::move(payload);
  bool seen_reason = false, seen_topic = false, seen_partition = false, seen_offset = false;
  for (const auto& [name, value] : headers) {
    if (name == kDlqReasonHeader) {
      Result<DlqReason> reason = ParseDlqReason(value);
      if (!reason.ok()) return reason.status().WithContext("header '" + std::string(name) + "'");
      letter.reason = *reason;
      seen_reason = true;
    } else if (name == kDlqSourceTopicHeader) {
      if (value.empty()) return Status::InvalidArgument("header 'dlq.source.topic': empty");
      letter.source_topic = value;
      seen_topic = true;
    } else if (name == kDlqSourcePartitionHeader) {
      TS_RETURN_IF_ERROR(ParseDecimalHeader(name, value, &letter.source_partition));
      seen_partition = true;
    } else if (name == kDlqSourceOffsetHeader) {
      TS_RETURN_IF_ERROR(ParseDecimalHeader(name, value, &letter.source_offset));
      seen_offset = true;
    } else if (name == kDlqErrorHeader) {
      letter.error = value;
    }
  }
  const std::pair<bool, std::string_view> required[] = {{seen_reason, kDlqReasonHeader},
                                                        {seen_topic, kDlqSourceTopicHeader},
                                                        {seen_partition, kDlqSourcePartitionHeader},
                                                        {seen_offset, kDlqSourceOffsetHeader}};
  for (const auto& [seen, name] : required) {
    if (!seen) return Status::InvalidArgument("header '" + std::string(name) + "': missing");
  }
  return letter;
}

}  // namespace towerstream::events
