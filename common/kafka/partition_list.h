// An owned list of RdKafka::TopicPartition, the argument librdkafka's assign, seek, commit and
// position calls take (they leave the objects to the caller).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>

namespace towerstream::kafka {

// Destroys its TopicPartition objects. Not copyable or movable; one thread at a time.
class PartitionList {
 public:
  PartitionList() = default;
  ~PartitionList() { RdKafka::TopicPartition::destroy(list_); }
  PartitionList(const PartitionList&) = delete;
  PartitionList& operator=(const PartitionList&) = delete;

  void Add(const std::string& topic, int32_t partition, int64_t offset) {
    list_.push_back(RdKafka::TopicPartition::create(topic, partition, offset));
  }
  std::vector<RdKafka::TopicPartition*>& get() { return list_; }
  bool empty() const { return list_.empty(); }

 private:
  std::vector<RdKafka::TopicPartition*> list_;
};

}  // namespace towerstream::kafka
