// Murmur2 partitioning, bit for bit as Kafka's clients do it.
#include "common/replay/partitioner.h"

namespace towerstream::replay {

uint32_t Murmur2(std::string_view key) {
  constexpr uint32_t kSeed = 0x9747b28c;
  constexpr uint32_t kMultiplier = 0x5bd1e995;
  constexpr int kShift = 24;
  const auto* data = reinterpret_cast<const unsigned char*>(key.data());
  const size_t length = key.size();
  uint32_t hash = kSeed ^ static_cast<uint32_t>(length);
  const size_t whole = length & ~size_t{3};
  for (size_t i = 0; i < whole; i += 4) {
    // Little-endian words regardless of the machine, as the Java client reads them.
    uint32_t k = static_cast<uint32_t>(data[i]) | static_cast<uint32_t>(data[i + 1]) << 8 |
                 static_cast<uint32_t>(data[i + 2]) << 16 |
                 static_cast<uint32_t>(data[i + 3]) << 24;
    k *= kMultiplier;
    k ^= k >> kShift;
    k *= kMultiplier;
    hash *= kMultiplier;
    hash ^= k;
  }
  switch (length & 3) {
    case 3:
      hash ^= static_cast<uint32_t>(data[whole + 2]) << 16;
      [[fallthrough]];
    case 2:
      hash ^= static_cast<uint32_t>(data[whole + 1]) << 8;
      [[fallthrough]];
    case 1:
      hash ^= static_cast<uint32_t>(data[whole]);
      hash *= kMultiplier;
  }
  hash ^= hash >> 13;
  hash *= kMultiplier;
  hash ^= hash >> 15;
  return hash;
}

int32_t PartitionForKey(std::string_view key, int32_t partitions) {
  return static_cast<int32_t>((Murmur2(key) & 0x7fffffff) % static_cast<uint32_t>(partitions));
}

}  // namespace towerstream::replay
