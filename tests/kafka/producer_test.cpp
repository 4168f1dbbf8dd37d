// Tests that the producer fails in bounded time, with an error, when no broker answers.
#include "common/kafka/producer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

#include "tests/testing/ports.h"

namespace towerstream::kafka {
namespace {

using std::chrono::milliseconds;
using std::chrono::steady_clock;

ProducerOptions UnreachableBrokerOptions() {
  ProducerOptions options;
  options.config.Set("bootstrap.servers",
                     "127.0.0.1:" + std::to_string(towerstream::testing::UnusedLoopbackPort()));
  options.close_timeout = milliseconds(500);
  return options;
}

Message SampleMessage() {
  return Message{.topic = "ts.unreachable", .key = "k", .value = "v", .headers = {{"h", "1"}}};
}

TEST(ProducerTest, ReportsDeliveryFailureWhenBrokerUnreachable) {
  ProducerOptions options = UnreachableBrokerOptions();
  options.config.Set("message.timeout.ms", "1500");
  Result<std::unique_ptr<Producer>> producer = Producer::Create(options);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ASSERT_TRUE((*producer)->Produce(SampleMessage()).ok());

  const auto start = steady_clock::now();
  const Status status = (*producer)->Flush(milliseconds(20'000));
  const auto elapsed = steady_clock::now() - start;

  EXPECT_EQ(status.code(), StatusCode::kUnavailable) << status.ToString();
  EXPECT_NE(status.message().find("ts.unreachable"), std::string::npos) << status.message();
  EXPECT_LT(elapsed, milliseconds(10'000));
  EXPECT_EQ((*producer)->failed_count(), 1);
  EXPECT_EQ((*producer)->delivered_count(), 0);
}

TEST(ProducerTest, FlushStopsAtItsDeadlineWhileMessagesArePending) {
  // librdkafka's own message timeout (5 min by default) is far away: only Flush's bounds it.
  Result<std::unique_ptr<Producer>> producer = Producer::Create(UnreachableBrokerOptions());
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ASSERT_TRUE((*producer)->Produce(SampleMessage()).ok());

  const auto start = steady_clock::now();
  const Status status = (*producer)->Flush(milliseconds(500));
  const auto elapsed = steady_clock::now() - start;

  EXPECT_EQ(status.code(), StatusCode::kDeadlineExceeded) << status.ToString();
  EXPECT_LT(elapsed, milliseconds(3'000));
  // The message is still queued. librdkafka's queue length also counts requests in flight
  // (a metadata request to the unreachable broker at times), so it is at least 1.
  EXPECT_GE((*producer)->outstanding_count(), 1);
}

TEST(ProducerTest, DestructorDoesNotWaitForUndeliverableMessages) {
  Result<std::unique_ptr<Producer>> producer = Producer::Create(UnreachableBrokerOptions());
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ASSERT_TRUE((*producer)->Produce(SampleMessage()).ok());

  const auto start = steady_clock::now();
  producer->reset();
  EXPECT_LT(steady_clock::now() - start, milliseconds(5'000));
}

}  // namespace
}  // namespace towerstream::kafka
