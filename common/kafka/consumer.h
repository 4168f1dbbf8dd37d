// Kafka consumer in a consumer group over librdkafka's KafkaConsumer.
//
// Use from one thread at a time. Neither copyable nor movable; owned through the unique_ptr
// Create returns. The destructor closes it: leaves the group after committing what auto
// commit would.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

#include "common/base/status.h"
#include "common/kafka/kafka_config.h"
#include "common/kafka/message.h"

namespace towerstream::kafka {

struct ConsumerOptions {
  // librdkafka properties; bootstrap.servers is required, and group.id unless `group_id` is
  // set. Create adds auto.offset.reset=earliest where not set: a new group reads a topic from
  // its start, which is what a replayed stream needs.
  KafkaConfig config;
  // Consumer group; when not empty it replaces config's group.id.
  std::string group_id;
  // Receives partition assignments and revocations (on the thread calling Poll or Close)
  // instead of librdkafka assigning on its own; it must call assign()/unassign(). Not owned:
  // it must outlive the consumer. Null: librdkafka's automatic assignment.
  RdKafka::RebalanceCb* rebalance_cb = nullptr;

  Status Validate() const;
};

class Consumer {
 public:
  static Result<std::unique_ptr<Consumer>> Create(const ConsumerOptions& options);

  ~Consumer();
  Consumer(const Consumer&) = delete;
  Consumer& operator=(const Consumer&) = delete;

  // Joins the group for `topics`; partitions are assigned during later Poll calls.
  Status Subscribe(const std::vector<std::string>& topics);

  // Waits up to `timeout` for the next message; nullopt when none came. Errors carry
  // librdkafka's detail; most (broker down, transport) are transient and polling may go on.
  Result<std::optional<Message>> Poll(std::chrono::milliseconds timeout);

  // Synchronously commits the positions after the messages Poll has returned.
  Status Commit();

  // Commits (with auto commit), leaves the group and stops fetching; later calls fail.
  // Blocks at most about session.timeout.ms. Idempotent.
  Status Close();

  // The librdkafka handle, for calls this class does not wrap (assignment, seek, positions).
  RdKafka::KafkaConsumer& handle() { return *handle_; }

 private:
  Consumer() = default;

  std::unique_ptr<RdKafka::KafkaConsumer> handle_;
  bool closed_ = false;
};

}  // namespace towerstream::kafka
