// Resume points: the last message of each partition, read with an assigned consumer.
#include "common/replay/resume.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>

#include <librdkafka/rdkafkacpp.h>
#include <xxhash.h>

#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/kafka/errors.h"

namespace towerstream::replay {
namespace {

std::string BaseName(std::string_view path) {
  return std::filesystem::path(path).filename().string();
}

std::string Where(const std::string& topic, int32_t partition, int64_t offset) {
  return "topic '" + topic + "' partition " + std::to_string(partition) + " offset " +
         std::to_string(offset);
}

// Reads exactly `size` bytes at `offset` of `fd` into `out` (short only at the end of the file).
Status ReadAt(int fd, const std::string& path, int64_t offset, int64_t size, std::string& out) {
  out.resize(static_cast<size_t>(size));
  int64_t done = 0;
  while (done < size) {
    const ssize_t n = ::pread(fd, out.data() + done, static_cast<size_t>(size - done),
                              static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Status::IoError("read " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    done += n;
  }
  out.resize(static_cast<size_t>(done));
  return Status::Ok();
}

// Closes a read-only file descriptor when it goes out of scope. Neither copyable nor movable.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

std::string Hex(uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016" PRIx64, value);
  return text;
}

// The source line of `message`, checked to come from `file` with `fingerprint`. Counts a message
// without a fingerprint header in `unfingerprinted`.
Result<int64_t> SourceLine(const kafka::Message& message, const std::string& file,
                           const FileFingerprint& fingerprint, int& unfingerprinted) {
  const std::string where = Where(message.topic, message.partition, message.offset);
  const std::optional<std::string> source = message.HeaderValue(std::string(kSourceFileHeader));
  const std::optional<std::string> line_text = message.HeaderValue(std::string(kSourceLineHeader));
  if (!source || !line_text) {
    return Status::FailedPrecondition(
        where + ": the last message has no '" + std::string(kSourceFileHeader) + "'/'" +
        std::string(kSourceLineHeader) +
        "' headers, so it was not written by replay and cannot tell where to resume");
  }
  if (*source != file) {
    return Status::FailedPrecondition(where + ": the last message comes from '" + *source +
                                      "', not '" + file +
                                      "'; --resume continues the replay of the same file");
  }
  const std::optional<std::string> recorded =
      message.HeaderValue(std::string(kSourceFingerprintHeader));
  if (!recorded) {
    ++unfingerprinted;
  } else {
    const std::optional<FileFingerprint> then = FileFingerprint::Parse(*recorded);
    if (!then) {
      return Status::FailedPrecondition(where + ": bad '" + std::string(kSourceFingerprintHeader) +
                                        "' header '" + *recorded + "'");
    }
    if (*then != fingerprint) {
      return Status::FailedPrecondition(
          file + " changed since it was replayed into topic '" + message.topic +
          "': " + then->DescribeChangeTo(fingerprint) + " (the " +
          std::string(kSourceFingerprintHeader) + " of partition " +
          std::to_string(message.partition) + " offset " + std::to_string(message.offset) +
          "). --resume continues the replay of the same file; replay changed data into empty "
          "topics (scripts/stack up --fresh, or another --topic-prefix)");
    }
  }
  int64_t line = 0;
  const auto [end, error] =
      std::from_chars(line_text->data(), line_text->data() + line_text->size(), line);
  if (error != std::errc() || end != line_text->data() + line_text->size() || line < 1) {
    return Status::FailedPrecondition(where + ": bad '" + std::string(kSourceLineHeader) +
                                      "' header '" + *line_text + "'");
  }
  return line;
}

}  // namespace

std::string FileFingerprint::ToString() const {
  return "size=" + std::to_string(size) + " xxh3-sample=" + Hex(sample_xxh3);
}

std::optional<FileFingerprint> FileFingerprint::Parse(std::string_view text) {
  constexpr std::string_view kSize = "size=", kHash = " xxh3-sample=";
  if (!text.starts_with(kSize)) return std::nullopt;
  text.remove_prefix(kSize.size());
  FileFingerprint result;
  const auto size = std::from_chars(text.data(), text.data() + text.size(), result.size);
  if (size.ec != std::errc() || result.size < 0) return std::nullopt;
  text.remove_prefix(static_cast<size_t>(size.ptr - text.data()));
  if (!text.starts_with(kHash)) return std::nullopt;
  text.remove_prefix(kHash.size());
  if (text.size() != 16) return std::nullopt;
  const auto hash =
      std::from_chars(text.data(), text.data() + text.size(), result.sample_xxh3, /*base=*/16);
  if (hash.ec != std::errc() || hash.ptr != text.data() + text.size()) return std::nullopt;
  return result;
}

std::string FileFingerprint::DescribeChangeTo(const FileFingerprint& now) const {
  if (size != now.size) {
    return "size " + std::to_string(size) + " bytes then, " + std::to_string(now.size) + " now";
  }
  return "same size (" + std::to_string(size) + " bytes) but other content: XXH3 of sampled " +
         "blocks " + Hex(sample_xxh3) + " then, " + Hex(now.sample_xxh3) + " now";
}

Result<FileFingerprint> FingerprintFile(const std::string& path) {
  int opened;
  do {
    opened = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  } while (opened < 0 && errno == EINTR);
  if (opened < 0) return Status::IoError("open " + path + ": " + std::strerror(errno));
  const ScopedFd fd(opened);
  struct stat info;
  if (::fstat(fd.get(), &info) != 0) {
    return Status::IoError("stat " + path + ": " + std::strerror(errno));
  }
  FileFingerprint fingerprint;
  fingerprint.size = static_cast<int64_t>(info.st_size);

  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  if (!state || XXH3_64bits_reset(state.get()) != XXH_OK) {
    return Status::Internal("XXH3 state for " + path);
  }
  const int64_t size = fingerprint.size;
  const int64_t block = kFingerprintBlockBytes;
  const int64_t blocks = kFingerprintBlocks;
  std::string buffer;
  if (size <= block * blocks) {
    TS_RETURN_IF_ERROR(ReadAt(fd.get(), path, 0, size, buffer));
    XXH3_64bits_update(state.get(), buffer.data(), buffer.size());
  } else {
    // Block i starts at i/(blocks-1) of the way to the last block's start.
    for (int64_t i = 0; i < blocks; ++i) {
      const int64_t offset = (size - block) * i / (blocks - 1);
      TS_RETURN_IF_ERROR(ReadAt(fd.get(), path, offset, block, buffer));
      XXH3_64bits_update(state.get(), buffer.data(), buffer.size());
    }
  }
  fingerprint.sample_xxh3 = XXH3_64bits_digest(state.get());
  return fingerprint;
}

Result<ResumePoint> ReadResumePoint(const kafka::KafkaConfig& config, const std::string& topic,
                                    std::string_view source_file,
                                    const FileFingerprint& fingerprint,
                                    std::chrono::milliseconds timeout) {
  kafka::ConsumerOptions options;
  options.config = config;
  // A group id is required by librdkafka's consumer, but the consumer only assigns partitions
  // and commits nothing, so the group never appears on the broker.
  options.group_id = "towerstream-replay-resume";
  options.config.Set("enable.auto.commit", "false", "replay --resume");
  options.config.Set("enable.auto.offset.store", "false", "replay --resume");
  TS_ASSIGN_OR_RETURN(std::unique_ptr<kafka::Consumer> consumer, kafka::Consumer::Create(options));
  RdKafka::KafkaConsumer& handle = consumer->handle();
  const int timeout_ms = static_cast<int>(timeout.count());

  RdKafka::Metadata* raw = nullptr;
  TS_RETURN_IF_ERROR(kafka::StatusFromRdKafka(
      handle.metadata(/*all_topics=*/true, nullptr, &raw, timeout_ms), "metadata for --resume"));
  const std::unique_ptr<RdKafka::Metadata> metadata(raw);
  int partitions = 0;
  for (const RdKafka::TopicMetadata* entry : *metadata->topics()) {
    if (entry->topic() == topic) partitions = static_cast<int>(entry->partitions()->size());
  }
  std::vector<int64_t> last_lines(partitions, 0);
  if (partitions == 0) return ResumePoint(std::move(last_lines));

  std::vector<std::unique_ptr<RdKafka::TopicPartition>> owned;
  std::vector<RdKafka::TopicPartition*> assignment;
  for (int32_t p = 0; p < partitions; ++p) {
    TS_ASSIGN_OR_RETURN(
        kafka::Watermarks marks,
        kafka::QueryWatermarks(handle, topic, p, std::chrono::milliseconds(timeout_ms)));
    const int64_t low = marks.low, high = marks.high;
    if (high == 0) continue;  // never written to
    if (low >= high) {
      return Status::FailedPrecondition(
          "topic '" + topic + "' partition " + std::to_string(p) + " had " + std::to_string(high) +
          " messages but retention deleted them all, so where the replay stopped is lost");
    }
    owned.emplace_back(RdKafka::TopicPartition::create(topic, p, high - 1));
    assignment.push_back(owned.back().get());
  }
  if (assignment.empty()) return ResumePoint(std::move(last_lines));
  TS_RETURN_IF_ERROR(kafka::StatusFromRdKafka(handle.assign(assignment),
                                              "assign topic '" + topic + "' for --resume"));

  const std::string file = BaseName(source_file);
  int unfingerprinted = 0;
  size_t pending = assignment.size();
  std::vector<bool> seen(partitions, false);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last_error;
  while (pending > 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::DeadlineExceeded(
          "--resume: no last message from " + std::to_string(pending) + " partition(s) of topic '" +
          topic + "' within " + std::to_string(timeout.count()) + " ms" +
          (last_error.ok() ? "" : "; last error: " + last_error.message()));
    }
    Result<std::optional<kafka::Message>> polled = consumer->Poll(std::chrono::milliseconds(100));
    if (!polled.ok()) {
      // Mostly transient (a leader moving, a busy broker): poll on until the deadline.
      last_error = polled.status();
      continue;
    }
    const std::optional<kafka::Message>& message = *polled;
    if (!message || seen[message->partition]) continue;
    TS_ASSIGN_OR_RETURN(last_lines[message->partition],
                        SourceLine(*message, file, fingerprint, unfingerprinted));
    seen[message->partition] = true;
    --pending;
  }
  return ResumePoint(std::move(last_lines), unfingerprinted);
}

}  // namespace towerstream::replay
