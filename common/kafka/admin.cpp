// Topic administration through librdkafka's C admin API, every C handle owned by a unique_ptr.
#include "common/kafka/admin.h"

#include <algorithm>
#include <memory>
#include <thread>

#include <librdkafka/rdkafka.h>

#include "common/kafka/errors.h"

namespace towerstream::kafka {
namespace {

// Leadership of a new partition settles within a few hundred milliseconds on one node.
constexpr std::chrono::milliseconds kWatermarkRetryPause{50};

template <typename T, void (*Destroy)(T*)>
struct Deleter {
  void operator()(T* pointer) const { Destroy(pointer); }
};
using QueuePtr =
    std::unique_ptr<rd_kafka_queue_t, Deleter<rd_kafka_queue_t, rd_kafka_queue_destroy>>;
using EventPtr =
    std::unique_ptr<rd_kafka_event_t, Deleter<rd_kafka_event_t, rd_kafka_event_destroy>>;
using AdminOptionsPtr =
    std::unique_ptr<rd_kafka_AdminOptions_t,
                    Deleter<rd_kafka_AdminOptions_t, rd_kafka_AdminOptions_destroy>>;
using NewTopicPtr =
    std::unique_ptr<rd_kafka_NewTopic_t, Deleter<rd_kafka_NewTopic_t, rd_kafka_NewTopic_destroy>>;
using ConfigResourcePtr =
    std::unique_ptr<rd_kafka_ConfigResource_t,
                    Deleter<rd_kafka_ConfigResource_t, rd_kafka_ConfigResource_destroy>>;

Status FromC(rd_kafka_resp_err_t code, std::string_view context) {
  return StatusFromRdKafka(static_cast<RdKafka::ErrorCode>(code), context);
}

// Adds the broker's detail to `context` unless it only repeats the code's text.
std::string WithDetail(std::string context, rd_kafka_resp_err_t code, const char* detail) {
  if (detail != nullptr && *detail != '\0' && detail != std::string(rd_kafka_err2str(code))) {
    context += ": ";
    context += detail;
  }
  return context;
}

int Millis(std::chrono::milliseconds timeout) { return static_cast<int>(timeout.count()); }

// Options for one admin request: the client gives up after `timeout`, and for calls that
// wait on the controller (create) the broker waits as long.
Result<AdminOptionsPtr> MakeAdminOptions(rd_kafka_t* client, rd_kafka_admin_op_t op,
                                         std::chrono::milliseconds timeout) {
  AdminOptionsPtr options(rd_kafka_AdminOptions_new(client, op));
  char error[512];
  if (rd_kafka_AdminOptions_set_request_timeout(options.get(), Millis(timeout), error,
                                                sizeof(error)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument(std::string("admin request timeout: ") + error);
  }
  if (op == RD_KAFKA_ADMIN_OP_CREATETOPICS &&
      rd_kafka_AdminOptions_set_operation_timeout(options.get(), Millis(timeout), error,
                                                  sizeof(error)) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    return Status::InvalidArgument(std::string("admin operation timeout: ") + error);
  }
  return options;
}

// Waits on `queue` for the result event of one admin request; fails when the request as a
// whole failed (unreachable broker, timeout).
Result<EventPtr> AwaitResult(rd_kafka_queue_t* queue, rd_kafka_event_type_t type,
                             std::chrono::milliseconds timeout, std::string_view what) {
  // The request itself times out after `timeout`; the margin lets its error event arrive.
  const auto deadline = std::chrono::steady_clock::now() + timeout + std::chrono::seconds(5);
  while (std::chrono::steady_clock::now() < deadline) {
    EventPtr event(rd_kafka_queue_poll(queue, 100));
    if (!event || rd_kafka_event_type(event.get()) != type) continue;
    if (rd_kafka_event_error(event.get()) != RD_KAFKA_RESP_ERR_NO_ERROR) {
      return FromC(rd_kafka_event_error(event.get()),
                   std::string(what) + ": " + rd_kafka_event_error_string(event.get()));
    }
    return event;
  }
  return Status::DeadlineExceeded(std::string(what) + ": no answer within " +
                                  std::to_string(timeout.count()) + " ms");
}

}  // namespace

Status TopicSpec::Validate() const {
  if (name.empty()) return Status::InvalidArgument("topic spec: empty topic name");
  if (partitions < 1) {
    return Status::InvalidArgument("topic '" + name + "': partitions must be >= 1, got " +
                                   std::to_string(partitions));
  }
  if (replication_factor < 1) {
    return Status::InvalidArgument("topic '" + name + "': replication factor must be >= 1, got " +
                                   std::to_string(replication_factor));
  }
  return Status::Ok();
}

Status CreateTopics(Producer& producer, const std::vector<TopicSpec>& topics,
                    std::chrono::milliseconds timeout) {
  if (topics.empty()) return Status::Ok();
  rd_kafka_t* client = producer.handle().c_ptr();
  std::vector<NewTopicPtr> owned;
  std::vector<rd_kafka_NewTopic_t*> raw;
  for (const TopicSpec& spec : topics) {
    TS_RETURN_IF_ERROR(spec.Validate());
    char error[512];
    NewTopicPtr topic(rd_kafka_NewTopic_new(spec.name.c_str(), spec.partitions,
                                            spec.replication_factor, error, sizeof(error)));
    if (!topic) return Status::InvalidArgument("topic '" + spec.name + "': " + error);
    for (const auto& [key, value] : spec.configs) {
      TS_RETURN_IF_ERROR(
          FromC(rd_kafka_NewTopic_set_config(topic.get(), key.c_str(), value.c_str()),
                "topic '" + spec.name + "': config " + key + "=" + value));
    }
    raw.push_back(topic.get());
    owned.push_back(std::move(topic));
  }
  TS_ASSIGN_OR_RETURN(AdminOptionsPtr options,
                      MakeAdminOptions(client, RD_KAFKA_ADMIN_OP_CREATETOPICS, timeout));
  QueuePtr queue(rd_kafka_queue_new(client));
  rd_kafka_CreateTopics(client, raw.data(), raw.size(), options.get(), queue.get());
  TS_ASSIGN_OR_RETURN(EventPtr event, AwaitResult(queue.get(), RD_KAFKA_EVENT_CREATETOPICS_RESULT,
                                                  timeout, "create topics"));
  size_t count = 0;
  const rd_kafka_topic_result_t** results =
      rd_kafka_CreateTopics_result_topics(rd_kafka_event_CreateTopics_result(event.get()), &count);
  for (size_t i = 0; i < count; ++i) {
    const rd_kafka_resp_err_t code = rd_kafka_topic_result_error(results[i]);
    if (code == RD_KAFKA_RESP_ERR_NO_ERROR || code == RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
      continue;
    }
    return FromC(code, WithDetail("create topic '" +
                                      std::string(rd_kafka_topic_result_name(results[i])) + "'",
                                  code, rd_kafka_topic_result_error_string(results[i])));
  }
  // The controller has committed the topics, but the broker's metadata may lag by a moment;
  // wait for it so that a describe, produce or subscribe right after this finds them.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (const TopicSpec& spec : topics) {
    while (true) {
      const Status known = PartitionCount(producer, spec.name, timeout).status();
      if (known.ok()) break;
      const bool settling = known.code() == StatusCode::kNotFound ||
                            known.code() == StatusCode::kUnavailable;  // no leader yet
      if (!settling || std::chrono::steady_clock::now() >= deadline) {
        return known.WithContext("topic created but not visible in metadata");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  return Status::Ok();
}

Result<Watermarks> QueryWatermarks(RdKafka::Handle& handle, const std::string& topic,
                                   int32_t partition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (true) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    Watermarks marks;
    const RdKafka::ErrorCode err =
        handle.query_watermark_offsets(topic, partition, &marks.low, &marks.high,
                                       static_cast<int>(std::max<int64_t>(left.count(), 1)));
    if (err == RdKafka::ERR_NO_ERROR) return marks;
    const bool transient =
        err == RdKafka::ERR_NOT_LEADER_FOR_PARTITION || err == RdKafka::ERR_LEADER_NOT_AVAILABLE ||
        err == RdKafka::ERR_UNKNOWN_TOPIC_OR_PART || err == RdKafka::ERR_REQUEST_TIMED_OUT ||
        err == RdKafka::ERR__TIMED_OUT || err == RdKafka::ERR__TRANSPORT;
    if (!transient || std::chrono::steady_clock::now() + kWatermarkRetryPause >= deadline) {
      return StatusFromRdKafka(
          err, "watermarks of topic '" + topic + "' partition " + std::to_string(partition));
    }
    std::this_thread::sleep_for(kWatermarkRetryPause);
  }
}

Result<int> PartitionCount(Producer& producer, const std::string& topic,
                           std::chrono::milliseconds timeout) {
  return PartitionCount(producer.handle(), topic, timeout);
}

Result<int> PartitionCount(RdKafka::Handle& handle, const std::string& topic,
                           std::chrono::milliseconds timeout) {
  RdKafka::Metadata* raw = nullptr;
  const RdKafka::ErrorCode code = handle.metadata(
      /*all_topics=*/true, /*only_rkt=*/nullptr, &raw, Millis(timeout));
  const std::unique_ptr<RdKafka::Metadata> metadata(raw);
  TS_RETURN_IF_ERROR(StatusFromRdKafka(code, "metadata for topic '" + topic + "'"));
  for (const RdKafka::TopicMetadata* entry : *metadata->topics()) {
    if (entry->topic() != topic) continue;
    if (entry->err() != RdKafka::ERR_NO_ERROR) {
      return StatusFromRdKafka(entry->err(), "metadata for topic '" + topic + "'");
    }
    return static_cast<int>(entry->partitions()->size());
  }
  return Status::NotFound("topic '" + topic + "' does not exist");
}

Result<std::map<std::string, std::string>> DescribeTopicConfig(Producer& producer,
                                                               const std::string& topic,
                                                               std::chrono::milliseconds timeout) {
  rd_kafka_t* client = producer.handle().c_ptr();
  ConfigResourcePtr resource(rd_kafka_ConfigResource_new(RD_KAFKA_RESOURCE_TOPIC, topic.c_str()));
  rd_kafka_ConfigResource_t* resources[] = {resource.get()};
  TS_ASSIGN_OR_RETURN(AdminOptionsPtr options,
                      MakeAdminOptions(client, RD_KAFKA_ADMIN_OP_DESCRIBECONFIGS, timeout));
  QueuePtr queue(rd_kafka_queue_new(client));
  const std::string what = "describe config of topic '" + topic + "'";
  rd_kafka_DescribeConfigs(client, resources, 1, options.get(), queue.get());
  TS_ASSIGN_OR_RETURN(
      EventPtr event,
      AwaitResult(queue.get(), RD_KAFKA_EVENT_DESCRIBECONFIGS_RESULT, timeout, what));
  size_t count = 0;
  const rd_kafka_ConfigResource_t** described = rd_kafka_DescribeConfigs_result_resources(
      rd_kafka_event_DescribeConfigs_result(event.get()), &count);
  if (count != 1)
    return Status::Internal(what + ": expected 1 resource, got " + std::to_string(count));
  if (rd_kafka_ConfigResource_error(described[0]) != RD_KAFKA_RESP_ERR_NO_ERROR) {
    const rd_kafka_resp_err_t code = rd_kafka_ConfigResource_error(described[0]);
    return FromC(code, WithDetail(what, code, rd_kafka_ConfigResource_error_string(described[0])));
  }
  size_t entry_count = 0;
  const rd_kafka_ConfigEntry_t** entries =
      rd_kafka_ConfigResource_configs(described[0], &entry_count);
  std::map<std::string, std::string> config;
  for (size_t i = 0; i < entry_count; ++i) {
    const char* value = rd_kafka_ConfigEntry_value(entries[i]);
    config[rd_kafka_ConfigEntry_name(entries[i])] = value != nullptr ? value : "";
  }
  return config;
}

}  // namespace towerstream::kafka
