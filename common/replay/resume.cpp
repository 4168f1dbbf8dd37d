// Resume points: the last message of each partition, read with an assigned consumer.
#include "common/replay/resume.h"

#include <charconv>
#include <filesystem>
#include <memory>
#include <optional>

#include <librdkafka/rdkafkacpp.h>

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

// The source line of `message`, checked to come from `file`.
Result<int64_t> SourceLine(const kafka::Message& message, const std::string& file) {
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

Result<ResumePoint> ReadResumePoint(const kafka::KafkaConfig& config, const std::string& topic,
                                    std::string_view source_file,
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
    TS_ASSIGN_OR_RETURN(last_lines[message->partition], SourceLine(*message, file));
    seen[message->partition] = true;
    --pending;
  }
  return ResumePoint(std::move(last_lines));
}

}  // namespace towerstream::replay
