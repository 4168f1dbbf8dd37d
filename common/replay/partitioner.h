// Kafka's default key partitioner (murmur2), computed by replay so that it can produce with an
// explicit partition and know, per source row, which partition holds it (what --resume needs).
#pragma once

#include <cstdint>
#include <string_view>

namespace towerstream::replay {

// MurmurHash2 (32-bit) with the seed and byte order of Kafka's Java client
// (org.apache.kafka.common.utils.Utils.murmur2) and librdkafka's rd_murmur2.
uint32_t Murmur2(std::string_view key);

// The partition Kafka's Java producer and librdkafka's "murmur2" / "murmur2_random"
// partitioners choose for a non-null `key`: (murmur2(key) & 0x7fffffff) % partitions.
// `partitions` must be >= 1.
int32_t PartitionForKey(std::string_view key, int32_t partitions);

}  // namespace towerstream::replay
