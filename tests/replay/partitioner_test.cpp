// Tests of replay's murmur2 partitioner against Kafka's published values and librdkafka's own.
#include <gtest/gtest.h>

#include <librdkafka/rdkafka.h>

#include <cstdint>
#include <string>

#include "common/replay/partitioner.h"

namespace towerstream::replay {
namespace {

TEST(Murmur2Test, MatchesKafkaJavaClientValues) {
  // The expected values are those of Kafka's UtilsTest.testMurmur2 (signed Java ints).
  struct Case {
    std::string key;
    int32_t expected;
  };
  for (const Case& c : {Case{"21", -973932308}, Case{"foobar", -790332482},
                        Case{"a-little-bit-long-string", -985981536},
                        Case{"a-little-bit-longer-string", -1486304829},
                        Case{"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8", -58897971},
                        Case{"abc", 479470107}}) {
    EXPECT_EQ(static_cast<int32_t>(Murmur2(c.key)), c.expected) << "key '" << c.key << "'";
  }
}

TEST(PartitionForKeyTest, AgreesWithLibrdkafkaMurmur2Partitioner) {
  // Every key length 0..70 (all tail cases), hex like customer ids, several partition counts.
  for (int32_t partitions : {1, 2, 3, 6, 7, 12, 64}) {
    std::string key;
    for (int length = 0; length <= 70; ++length) {
      const int32_t expected = rd_kafka_msg_partitioner_murmur2(nullptr, key.data(), key.size(),
                                                                partitions, nullptr, nullptr);
      ASSERT_EQ(PartitionForKey(key, partitions), expected)
          << "key '" << key << "', " << partitions << " partitions";
      key.push_back("0123456789abcdef"[(length * 7 + 3) % 16]);
    }
  }
}

TEST(PartitionForKeyTest, HandlesBytesAbove127) {
  const std::string key = "\xff\x80\x7f\xc3\xa9";
  EXPECT_EQ(PartitionForKey(key, 10), rd_kafka_msg_partitioner_murmur2(
                                          nullptr, key.data(), key.size(), 10, nullptr, nullptr));
}

}  // namespace
}  // namespace towerstream::replay
