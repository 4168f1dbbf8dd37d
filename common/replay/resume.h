// Where an interrupted replay of one file into one topic got to, read back from the topic.
//
// Replay sends each file's rows in line order, each to the partition its key hashes to, with
// the idempotent producer, so every partition holds a prefix of the rows that hash to it (no
// gaps, no duplicates). The source line of a partition's last message therefore says exactly
// which of its rows are in already; ResumePoint answers that per row. Value type.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "common/kafka/kafka_config.h"

namespace towerstream::replay {

// Kafka headers replay puts on every message: the source file's base name and the row's line
// (1-based, header included, in decimal), as in events::MakeTransactionEventId.
inline constexpr std::string_view kSourceFileHeader = "source.file";
inline constexpr std::string_view kSourceLineHeader = "source.line";

class ResumePoint {
 public:
  // Nothing sent yet: no row is skipped.
  ResumePoint() = default;
  // `last_lines[p]`: source line of partition p's last message, 0 when p is empty.
  explicit ResumePoint(std::vector<int64_t> last_lines) : last_lines_(std::move(last_lines)) {}

  // Whether the row on `line`, which hashes to `partition`, is already in the topic.
  bool AlreadySent(int32_t partition, int64_t line) const {
    return static_cast<size_t>(partition) < last_lines_.size() && line <= last_lines_[partition];
  }
  const std::vector<int64_t>& last_lines() const { return last_lines_; }

 private:
  std::vector<int64_t> last_lines_;
};

// Reads the last message of every partition of `topic` (a consumer assigned at high watermark
// - 1; no group offsets are committed) and returns their source lines. A topic that does not
// exist or is empty gives an empty ResumePoint. Fails with FailedPrecondition, naming topic,
// partition and offset, when a last message lacks the headers, comes from another file than
// `source_file` (compared by base name), or was deleted by retention.
Result<ResumePoint> ReadResumePoint(const kafka::KafkaConfig& config, const std::string& topic,
                                    std::string_view source_file,
                                    std::chrono::milliseconds timeout);

}  // namespace towerstream::replay
