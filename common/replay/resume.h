// Where an interrupted replay of one file into one topic got to, read back from the topic.
//
// Replay sends each file's rows in line order, each to the partition its key hashes to, with
// the idempotent producer, so every partition holds a prefix of the rows that hash to it (no
// gaps, no duplicates). The source line of a partition's last message therefore says exactly
// which of its rows are in already; ResumePoint answers that per row. Value type. Lines only
// mean something for the same file, so every message also carries the file's fingerprint,
// and a resume onto a changed file is refused.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
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
// The source file's FileFingerprint::ToString(). Absent on messages of replays before it was
// added; such a resume is accepted on name and lines alone, with a warning.
inline constexpr std::string_view kSourceFingerprintHeader = "source.fingerprint";

// What tells one version of a source file from another without reading all of it: its size
// and an XXH3-64 of a sample of its bytes (the whole file up to kFingerprintBlocks blocks of
// kFingerprintBlockBytes; beyond, that many blocks spread evenly from the first byte to the
// last, so the header, the first and the last rows are always in). At most 4 MiB read from any
// file: on Kaggle's 3.5 GB transactions file 19 ms with a cold page cache (7 ms warm), where
// reading all of it took 9.4 s (the same disk, cold). Appended, removed or reordered rows,
// another export or another dataset change it; an edit of the same size that misses every
// block does not. The modification time is left out on purpose: a copy
// of the same data (cp, a container volume) must resume. Value type.
struct FileFingerprint {
  int64_t size = 0;
  uint64_t sample_xxh3 = 0;

  // "size=N xxh3-sample=<16 hex>": the header's value.
  std::string ToString() const;
  // Parses ToString()'s text; nullopt when it is not one.
  static std::optional<FileFingerprint> Parse(std::string_view text);
  // "size 1000 bytes then, 1200 now" or "same size (1000 bytes) but other content (...)".
  std::string DescribeChangeTo(const FileFingerprint& now) const;
  bool operator==(const FileFingerprint&) const = default;
};

inline constexpr int kFingerprintBlocks = 64;
inline constexpr int64_t kFingerprintBlockBytes = 64 * 1024;

// Fingerprints the file at `path`; IoError naming it when it cannot be read.
Result<FileFingerprint> FingerprintFile(const std::string& path);

class ResumePoint {
 public:
  // Nothing sent yet: no row is skipped.
  ResumePoint() = default;
  // `last_lines[p]`: source line of partition p's last message, 0 when p is empty.
  explicit ResumePoint(std::vector<int64_t> last_lines, int unfingerprinted_partitions = 0)
      : last_lines_(std::move(last_lines)),
        unfingerprinted_partitions_(unfingerprinted_partitions) {}

  // Whether the row on `line`, which hashes to `partition`, is already in the topic.
  bool AlreadySent(int32_t partition, int64_t line) const {
    return static_cast<size_t>(partition) < last_lines_.size() && line <= last_lines_[partition];
  }
  const std::vector<int64_t>& last_lines() const { return last_lines_; }
  // Partitions whose last message has no fingerprint header (written by an older replay): their
  // file could not be checked, only its name.
  int unfingerprinted_partitions() const { return unfingerprinted_partitions_; }

 private:
  std::vector<int64_t> last_lines_;
  int unfingerprinted_partitions_ = 0;
};

// Reads the last message of every partition of `topic` (a consumer assigned at high watermark
// - 1; no group offsets are committed) and returns their source lines. A topic that does not
// exist or is empty gives an empty ResumePoint. Fails with FailedPrecondition, naming topic,
// partition and offset, when a last message lacks the file and line headers, comes from another
// file than `source_file` (compared by base name), comes from the same file with another
// fingerprint than `fingerprint` (the file changed since: naming it and what changed), or was
// deleted by retention.
Result<ResumePoint> ReadResumePoint(const kafka::KafkaConfig& config, const std::string& topic,
                                    std::string_view source_file,
                                    const FileFingerprint& fingerprint,
                                    std::chrono::milliseconds timeout);

}  // namespace towerstream::replay
