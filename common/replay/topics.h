// The towerstream topics (docs/design.md §3) as replay creates them: names under an optional
// prefix, partition counts and topic configs.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "common/events/events.h"
#include "common/kafka/admin.h"
#include "common/kafka/producer.h"

namespace towerstream::replay {

using events::TopicNames;

// The specs of all five topics. hm.articles and hm.customers are compacted (the latest record
// per id is the entity); hm.transactions and hm.examples keep everything (retention.ms=-1:
// consumers resume from offsets in snapshots, which must not expire under them); hm.dlq keeps
// the broker's default retention. Every topic gets `partitions` partitions.
std::vector<kafka::TopicSpec> TopicSpecs(const TopicNames& names, int partitions,
                                         int replication_factor);

// Creates whichever of the five topics are missing. Fails with FailedPrecondition when
// hm.transactions or hm.examples already exists with another partition count than
// `partitions`: customers are keyed to partitions by count, so mixing counts would split a
// customer's history across partitions.
Status EnsureTopics(kafka::Producer& producer, const TopicNames& names, int partitions,
                    int replication_factor, std::chrono::milliseconds timeout);

}  // namespace towerstream::replay
