// EventTimeOrder: the partitions of a stream merged into event-time order, waiting for a
// partition behind in event time only until it has been idle for a while.
#include "common/trainer/event_time_order.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <vector>

namespace towerstream::trainer {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

EventTimeOrderOptions Options(int64_t max_buffered = 100, milliseconds idle = milliseconds(50)) {
  EventTimeOrderOptions options;
  options.max_buffered = max_buffered;
  options.idle_after = idle;
  return options;
}

// Everything Next() hands out at `now`, as "partition:item".
std::vector<std::string> Drain(EventTimeOrder<std::string>& order, Clock::time_point now) {
  std::vector<std::string> out;
  while (auto next = order.Next(now)) {
    out.push_back(std::to_string(next->first) + ":" + next->second);
  }
  return out;
}

TEST(EventTimeOrderTest, MergesPartitionsByEventTimeTakingTurnsOnTies) {
  const Clock::time_point t0 = Clock::now();
  EventTimeOrder<std::string> order(Options(), 2, t0);
  // Partition 0 delivered a month ahead of partition 1, as a consumer catching up may.
  order.Add(0, 10, "a", t0);
  order.Add(0, 10, "b", t0);
  order.Add(0, 40, "c", t0);
  order.Add(1, 10, "x", t0);
  order.Add(1, 20, "y", t0);
  order.Add(1, 20, "z", t0);
  EXPECT_EQ(Drain(order, t0), (std::vector<std::string>{"0:a", "1:x", "0:b", "1:y", "1:z"}))
      << "partition 0's day 40 waits: partition 1 may still deliver days before it";
  EXPECT_EQ(order.buffered(), 1);
  order.Add(1, 45, "w", t0);
  EXPECT_EQ(Drain(order, t0), (std::vector<std::string>{"0:c"}));
}

TEST(EventTimeOrderTest, APartitionBehindHoldsTheOthersBackUntilIdle) {
  const Clock::time_point t0 = Clock::now();
  EventTimeOrder<std::string> order(Options(100, milliseconds(50)), 2, t0);
  order.Add(0, 10, "a", t0);
  order.Add(1, 5, "x", t0);
  EXPECT_EQ(Drain(order, t0), (std::vector<std::string>{"1:x"}));
  // Partition 1 is at day 5 and empty: day 10 of partition 0 waits for it...
  EXPECT_EQ(Drain(order, t0 + milliseconds(49)), std::vector<std::string>{});
  // ...until it has delivered nothing for idle_after.
  EXPECT_EQ(Drain(order, t0 + milliseconds(50)), (std::vector<std::string>{"0:a"}));
}

TEST(EventTimeOrderTest, APartitionNeverHeardFromIsWaitedForOnce) {
  const Clock::time_point t0 = Clock::now();
  EventTimeOrder<std::string> order(Options(100, milliseconds(50)), 3, t0);
  order.Add(0, 1, "a", t0 + milliseconds(10));
  EXPECT_TRUE(Drain(order, t0 + milliseconds(10)).empty());
  EXPECT_EQ(Drain(order, t0 + milliseconds(50)), (std::vector<std::string>{"0:a"}));
}

TEST(EventTimeOrderTest, AnEmptyPartitionAlreadyPastTheTimeDoesNotHoldBack) {
  const Clock::time_point t0 = Clock::now();
  EventTimeOrder<std::string> order(Options(), 2, t0);
  order.Add(1, 7, "x", t0);
  order.Add(0, 7, "a", t0);
  EXPECT_EQ(Drain(order, t0), (std::vector<std::string>{"0:a", "1:x"}))
      << "the same day in both: nothing earlier can come";
  order.Add(0, 7, "b", t0);
  EXPECT_EQ(Drain(order, t0), (std::vector<std::string>{"0:b"}));
}

TEST(EventTimeOrderTest, ItemsOfAnyTimeGoFirstAndNeverWait) {
  const Clock::time_point t0 = Clock::now();
  EventTimeOrder<std::string> order(Options(), 2, t0);
  order.Add(0, kAnyEventTime, "dead letter", t0);
  order.Add(0, 3, "a", t0);
  EXPECT_EQ(Drain(order, t0), (std::vector<std::string>{"0:dead letter"}))
      << "a dead letter only advances its offset; day 3 waits for partition 1";
}

TEST(EventTimeOrderTest, FullAtTheLimitDrainedAtHalf) {
  const Clock::time_point t0 = Clock::now();
  EventTimeOrder<std::string> order(Options(4), 2, t0);
  for (int i = 0; i < 4; ++i) order.Add(0, 10 + i, "a" + std::to_string(i), t0);
  EXPECT_TRUE(order.Full(0));
  EXPECT_FALSE(order.Full(1));
  EXPECT_FALSE(order.Drained(0));
  order.Add(1, 100, "x", t0);
  ASSERT_TRUE(order.Next(t0).has_value());
  EXPECT_FALSE(order.Full(0));
  EXPECT_FALSE(order.Drained(0)) << "3 left of a limit of 4";
  ASSERT_TRUE(order.Next(t0).has_value());
  EXPECT_TRUE(order.Drained(0));
}

TEST(EventTimeOrderTest, OptionsAreValidated) {
  EXPECT_TRUE(Options().Validate().ok());
  EXPECT_FALSE(Options(0).Validate().ok());
  EXPECT_FALSE(Options(10, milliseconds(0)).Validate().ok());
}

}  // namespace
}  // namespace towerstream::trainer
