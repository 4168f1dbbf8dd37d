// Topic administration (create, inspect) through the admin calls of librdkafka's C API,
// which its C++ API lacks. Free functions over a Producer's handle; blocking, and safe to call
// from any one thread while the producer is in use elsewhere.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/kafka/producer.h"

namespace towerstream::kafka {

struct TopicSpec {
  std::string name;
  // Partitions bound consumer parallelism; Kafka can add more later but never remove any.
  int partitions = 1;
  // Copies of each partition; 1 on a single-node cluster, 3 for durability on a real one.
  int replication_factor = 1;
  // Topic-level settings, e.g. {"cleanup.policy", "compact"} for latest-value-per-key topics.
  std::map<std::string, std::string> configs;

  Status Validate() const;
};

// Creates `topics` and waits up to `timeout` for the controller to confirm. A topic that
// already exists counts as success and is left as it is (its partitions and configs are not
// compared). Errors name the topic.
Status CreateTopics(Producer& producer, const std::vector<TopicSpec>& topics,
                    std::chrono::milliseconds timeout);

// The number of partitions of `topic` from broker metadata; NotFound if it does not exist.
// Asks for all topics, so that it never triggers the broker's auto-creation.
Result<int> PartitionCount(Producer& producer, const std::string& topic,
                           std::chrono::milliseconds timeout);
// The same through any client's handle (a consumer's).
Result<int> PartitionCount(RdKafka::Handle& handle, const std::string& topic,
                           std::chrono::milliseconds timeout);

struct Watermarks {
  int64_t low = 0;   // oldest offset still stored
  int64_t high = 0;  // offset the next message will get
};

// The watermarks of one partition, asked of its leader (`handle` is any producer's or
// consumer's). Retries the errors a newly created topic or a leader election gives for a
// moment (not leader, leader not available, unknown partition, timed out) until `timeout`,
// then returns the last one, naming the topic and partition.
Result<Watermarks> QueryWatermarks(RdKafka::Handle& handle, const std::string& topic,
                                   int32_t partition, std::chrono::milliseconds timeout);

// Every topic-level setting of `topic` as the broker reports it, defaults included.
Result<std::map<std::string, std::string>> DescribeTopicConfig(Producer& producer,
                                                               const std::string& topic,
                                                               std::chrono::milliseconds timeout);

}  // namespace towerstream::kafka
