// Dead letters on hm.dlq: reason codes and the Kafka headers that carry them, without Kafka.
//
// A dead letter is the original key and payload, unchanged, plus headers naming the reason and
// where the message came from (schemas/dlq.schema.json). Plain values and pure functions.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/base/status.h"

namespace towerstream::events {

inline constexpr std::string_view kDlqReasonHeader = "dlq.reason";
inline constexpr std::string_view kDlqSourceTopicHeader = "dlq.source.topic";
inline constexpr std::string_view kDlqSourcePartitionHeader = "dlq.source.partition";
inline constexpr std::string_view kDlqSourceOffsetHeader = "dlq.source.offset";
// Optional, for people: the decoder's message.
inline constexpr std::string_view kDlqErrorHeader = "dlq.error";

// Why a message was dead-lettered. The names are stable: they are metrics labels.
enum class DlqReason {
  kNotJson,             // "not_json": not parseable JSON, or not a JSON object
  kInvalidUtf8,         // "invalid_utf8"
  kTooLarge,            // "too_large": over DecodeOptions::max_payload_bytes
  kUnsupportedVersion,  // "unsupported_version": schema_version this build does not know
  kMissingField,        // "missing_field"
  kInvalidField,        // "invalid_field": wrong type or value out of its domain
  kUnknownArticle,      // "unknown_article": valid event about an article ingest never saw
};
inline constexpr std::array<DlqReason, 7> kAllDlqReasons = {
    DlqReason::kNotJson,       DlqReason::kInvalidUtf8,
    DlqReason::kTooLarge,      DlqReason::kUnsupportedVersion,
    DlqReason::kMissingField,  DlqReason::kInvalidField,
    DlqReason::kUnknownArticle};

std::string_view DlqReasonName(DlqReason reason);
Result<DlqReason> ParseDlqReason(std::string_view name);

// The reason for an error returned by one of this library's Decode functions (classified by
// the message those functions write); kInvalidField for any other non-OK Status.
DlqReason DecodeErrorReason(const Status& decode_error);

// A Kafka header: name and value bytes.
using Header = std::pair<std::string, std::string>;

struct DeadLetter {
  std::optional<std::string> key;  // the original key; nullopt when it had none
  std::string payload;             // the original value, byte for byte
  DlqReason reason = DlqReason::kInvalidField;
  std::string error;  // human-readable detail; may be empty
  std::string source_topic;
  int32_t source_partition = 0;
  int64_t source_offset = 0;

  bool operator==(const DeadLetter&) const = default;
};

// The dlq.* headers for `letter` (dlq.error only when `error` is not empty).
std::vector<Header> DeadLetterHeaders(const DeadLetter& letter);

// Rebuilds a dead letter from a message read off hm.dlq. Headers other than dlq.* are
// ignored; a missing or malformed required header is an error naming it.
Result<DeadLetter> ReadDeadLetter(std::optional<std::string> key, std::string payload,
                                  std::span<const Header> headers);

}  // namespace towerstream::events
