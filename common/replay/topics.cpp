// Topic names, specs and creation for replay.
#include "common/replay/topics.h"

#include "common/events/events.h"

namespace towerstream::replay {

std::vector<kafka::TopicSpec> TopicSpecs(const TopicNames& names, int partitions,
                                         int replication_factor) {
  const auto spec = [&](const std::string& name, std::map<std::string, std::string> configs) {
    return kafka::TopicSpec{.name = name,
                            .partitions = partitions,
                            .replication_factor = replication_factor,
                            .configs = std::move(configs)};
  };
  const std::map<std::string, std::string> compacted = {{"cleanup.policy", "compact"}};
  const std::map<std::string, std::string> kept = {{"retention.ms", "-1"}};
  return {spec(names.articles, compacted), spec(names.customers, compacted),
          spec(names.transactions, kept), spec(names.examples, kept), spec(names.dlq, {})};
}

Status EnsureTopics(kafka::Producer& producer, const TopicNames& names, int partitions,
                    int replication_factor, std::chrono::milliseconds timeout) {
  std::vector<kafka::TopicSpec> missing;
  for (kafka::TopicSpec& spec : TopicSpecs(names, partitions, replication_factor)) {
    Result<int> existing = kafka::PartitionCount(producer, spec.name, timeout);
    if (existing.ok()) {
      const bool keyed_by_count = spec.name == names.transactions || spec.name == names.examples;
      if (keyed_by_count && *existing != partitions) {
        return Status::FailedPrecondition(
            "topic '" + spec.name + "' exists with " + std::to_string(*existing) +
            " partitions, but --partitions is " + std::to_string(partitions) +
            ": replay assigns customers to partitions by count, so use --partitions " +
            std::to_string(*existing) + " or delete the topic");
      }
      continue;
    }
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    missing.push_back(std::move(spec));
  }
  return kafka::CreateTopics(producer, missing, timeout);
}

}  // namespace towerstream::replay
