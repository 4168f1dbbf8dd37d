// Integration tests of ts_kafka against the real broker that the `kafka` ctest fixture starts.
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "tests/harness/test_services.h"

namespace towerstream::kafka {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using std::chrono::steady_clock;

constexpr milliseconds kAdminTimeout = seconds(30);

TopicSpec Spec(std::string name, int partitions = 1, int replication_factor = 1,
               std::map<std::string, std::string> configs = {}) {
  return TopicSpec{.name = std::move(name),
                   .partitions = partitions,
                   .replication_factor = replication_factor,
                   .configs = std::move(configs)};
}

class KafkaIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> bootstrap = test_services::KafkaBootstrap();
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().ToString();
    bootstrap_ = *bootstrap;
    ProducerOptions options;
    options.config.Set("bootstrap.servers", bootstrap_);
    Result<std::unique_ptr<Producer>> producer = Producer::Create(options);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  // A name no earlier run used: the broker outlives a single test.
  std::string UniqueName(const std::string& prefix) {
    const auto info = ::testing::UnitTest::GetInstance()->current_test_info();
    return prefix + "." + info->name() + "." + std::to_string(std::random_device{}());
  }

  std::unique_ptr<Consumer> MakeConsumer(const std::string& group, const std::string& topic) {
    ConsumerOptions options;
    options.config.Set("bootstrap.servers", bootstrap_);
    options.config.Set("enable.auto.commit", "false");
    options.group_id = group;
    Result<std::unique_ptr<Consumer>> consumer = Consumer::Create(options);
    EXPECT_TRUE(consumer.ok()) << consumer.status().ToString();
    if (!consumer.ok()) return nullptr;
    const Status subscribed = (*consumer)->Subscribe({topic});
    EXPECT_TRUE(subscribed.ok()) << subscribed.ToString();
    return std::move(consumer).value();
  }

  // Polls until `count` messages arrived, then `linger` longer to catch extra deliveries.
  std::vector<Message> ConsumeAll(Consumer& consumer, size_t count, milliseconds linger) {
    std::vector<Message> messages;
    const auto deadline = steady_clock::now() + seconds(60);
    auto stop = deadline;
    while (steady_clock::now() < stop) {
      Result<std::optional<Message>> message = consumer.Poll(milliseconds(200));
      if (!message.ok()) {
        ADD_FAILURE() << message.status().ToString();
        break;
      }
      if (message->has_value()) messages.push_back(std::move(**message));
      if (messages.size() >= count && stop == deadline) stop = steady_clock::now() + linger;
    }
    return messages;
  }

  std::string bootstrap_;
  std::unique_ptr<Producer> producer_;
};

TEST_F(KafkaIntegrationTest, CreateTopicsMakesRequestedPartitions) {
  const std::string topic = UniqueName("ts.it.partitions");
  ASSERT_TRUE(CreateTopics(*producer_, {Spec(topic, 6)}, kAdminTimeout).ok());
  Result<int> partitions = PartitionCount(*producer_, topic, kAdminTimeout);
  ASSERT_TRUE(partitions.ok()) << partitions.status().ToString();
  EXPECT_EQ(*partitions, 6);
}

TEST_F(KafkaIntegrationTest, CreateTopicsTreatsExistingTopicAsSuccess) {
  const TopicSpec spec = Spec(UniqueName("ts.it.twice"), 2);
  const Status first = CreateTopics(*producer_, {spec}, kAdminTimeout);
  ASSERT_TRUE(first.ok()) << first.ToString();
  const Status second = CreateTopics(*producer_, {spec}, kAdminTimeout);
  EXPECT_TRUE(second.ok()) << second.ToString();
}

TEST_F(KafkaIntegrationTest, CreateTopicsAppliesTopicConfigs) {
  const std::string topic = UniqueName("ts.it.compacted");
  const Status created =
      CreateTopics(*producer_, {Spec(topic, 1, 1, {{"cleanup.policy", "compact"}})}, kAdminTimeout);
  ASSERT_TRUE(created.ok()) << created.ToString();
  Result<std::map<std::string, std::string>> config =
      DescribeTopicConfig(*producer_, topic, kAdminTimeout);
  ASSERT_TRUE(config.ok()) << config.status().ToString();
  EXPECT_EQ(config->at("cleanup.policy"), "compact");
}

TEST_F(KafkaIntegrationTest, CreateTopicsRejectsMoreReplicasThanBrokers) {
  const std::string topic = UniqueName("ts.it.replicas");
  const Status status = CreateTopics(*producer_, {Spec(topic, 1, 3)}, kAdminTimeout);
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << status.ToString();
  EXPECT_NE(status.message().find(topic), std::string::npos) << status.message();
}

TEST_F(KafkaIntegrationTest, PartitionCountOfMissingTopicIsNotFound) {
  EXPECT_EQ(PartitionCount(*producer_, UniqueName("ts.it.missing"), kAdminTimeout).status().code(),
            StatusCode::kNotFound);
}

TEST_F(KafkaIntegrationTest, RoundTripDeliversEveryMessageOnceWithKeyHeadersAndKeyOrder) {
  constexpr int kMessages = 1'200;
  constexpr int kKeys = 37;
  const std::string topic = UniqueName("ts.it.roundtrip");
  ASSERT_TRUE(CreateTopics(*producer_, {Spec(topic, 6)}, kAdminTimeout).ok());

  std::vector<Message> sent;
  for (int i = 0; i < kMessages; ++i) {
    Message message{.topic = topic,
                    .key = "customer-" + std::to_string(i % kKeys),
                    .value = "value-" + std::to_string(i),
                    .headers = {{"seq", std::to_string(i)}, {"source", "integration"}}};
    if (i % 100 == 0) message.headers.push_back({"empty", ""});
    const Status produced = producer_->Produce(message);
    ASSERT_TRUE(produced.ok()) << "message " << i << ": " << produced.ToString();
    sent.push_back(std::move(message));
  }
  const Status flushed = producer_->Flush(seconds(30));
  ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  EXPECT_EQ(producer_->delivered_count(), kMessages);

  std::unique_ptr<Consumer> consumer = MakeConsumer(UniqueName("ts.it.group"), topic);
  ASSERT_NE(consumer, nullptr);
  const std::vector<Message> received = ConsumeAll(*consumer, kMessages, seconds(2));

  ASSERT_EQ(received.size(), static_cast<size_t>(kMessages));
  std::set<int> seen;
  std::map<std::string, int> last_seq_by_key;
  std::map<std::string, int32_t> partition_by_key;
  for (const Message& message : received) {
    const std::optional<std::string> seq_header = message.HeaderValue("seq");
    ASSERT_TRUE(seq_header.has_value()) << message.value;
    const int seq = std::stoi(*seq_header);
    ASSERT_TRUE(seen.insert(seq).second) << "duplicate seq " << seq;
    const Message& original = sent.at(seq);
    EXPECT_EQ(message.topic, topic);
    EXPECT_EQ(message.key, original.key) << "seq " << seq;
    EXPECT_EQ(message.value, original.value) << "seq " << seq;
    EXPECT_EQ(message.headers, original.headers) << "seq " << seq;
    EXPECT_GT(message.timestamp_ms, 0) << "seq " << seq;
    // Per-key order: each key's messages arrive in the order they were produced.
    auto [last, inserted] = last_seq_by_key.try_emplace(*message.key, seq);
    if (!inserted) {
      EXPECT_GT(seq, last->second) << "key " << *message.key;
      last->second = seq;
    }
    auto [partition, first] = partition_by_key.try_emplace(*message.key, message.partition);
    EXPECT_EQ(message.partition, partition->second) << "key " << *message.key;
  }
  EXPECT_EQ(last_seq_by_key.size(), static_cast<size_t>(kKeys));
  std::set<int32_t> partitions_used;
  for (const auto& [key, partition] : partition_by_key) partitions_used.insert(partition);
  EXPECT_GT(partitions_used.size(), 1u) << "keys should spread over the 6 partitions";
}

TEST_F(KafkaIntegrationTest, GroupResumesAfterCommittedOffsets) {
  const std::string topic = UniqueName("ts.it.commit");
  const std::string group = UniqueName("ts.it.group");
  ASSERT_TRUE(CreateTopics(*producer_, {Spec(topic, 2)}, kAdminTimeout).ok());
  const auto produce = [&](int from, int to) {
    for (int i = from; i < to; ++i) {
      ASSERT_TRUE(producer_
                      ->Produce({.topic = topic,
                                 .key = "k" + std::to_string(i % 3),
                                 .value = std::to_string(i),
                                 .headers = {}})
                      .ok());
    }
    const Status flushed = producer_->Flush(seconds(30));
    ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  };

  produce(0, 10);
  {
    std::unique_ptr<Consumer> consumer = MakeConsumer(group, topic);
    ASSERT_NE(consumer, nullptr);
    ASSERT_EQ(ConsumeAll(*consumer, 10, milliseconds(0)).size(), 10u);
    const Status committed = consumer->Commit();
    ASSERT_TRUE(committed.ok()) << committed.ToString();
    ASSERT_TRUE(consumer->Close().ok());
  }
  produce(10, 15);
  std::unique_ptr<Consumer> consumer = MakeConsumer(group, topic);
  ASSERT_NE(consumer, nullptr);
  std::set<std::string> values;
  for (const Message& message : ConsumeAll(*consumer, 5, seconds(1))) {
    values.insert(message.value);
  }
  EXPECT_EQ(values, (std::set<std::string>{"10", "11", "12", "13", "14"}));
}

}  // namespace
}  // namespace towerstream::kafka
