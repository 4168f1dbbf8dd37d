// Tests of replay pacing: the rate limiter and the --speedup schedule, on injected times.
#include <gtest/gtest.h>

#include "common/replay/pacing.h"

namespace towerstream::replay {
namespace {

TEST(RateLimiterTest, SpacesBackToBackEventsByTheInterval) {
  RateLimiter limiter(/*rate=*/100, /*burst=*/1);
  for (int i = 0; i < 10; ++i) {
    EXPECT_NEAR(limiter.Acquire(5.0), 5.0 + i * 0.01, 1e-9) << "event " << i;
  }
}

TEST(RateLimiterTest, LetsABurstGoAtOnceAfterIdling) {
  RateLimiter limiter(/*rate=*/100, /*burst=*/5);
  EXPECT_DOUBLE_EQ(limiter.Acquire(0), 0);
  // After a second idle, the bucket is full: 5 go at once, the 6th waits one interval.
  for (int i = 0; i < 5; ++i) EXPECT_DOUBLE_EQ(limiter.Acquire(1.0), 1.0) << "event " << i;
  EXPECT_NEAR(limiter.Acquire(1.0), 1.01, 1e-9);
}

TEST(RateLimiterTest, DoesNotBankTimeBeyondTheBurst) {
  RateLimiter limiter(/*rate=*/10, /*burst=*/2);
  limiter.Acquire(0);
  // 100 s idle must not allow 1000 events at once.
  EXPECT_DOUBLE_EQ(limiter.Acquire(100), 100);
  EXPECT_DOUBLE_EQ(limiter.Acquire(100), 100);
  EXPECT_NEAR(limiter.Acquire(100), 100.1, 1e-9);
}

TEST(RateLimiterTest, AverageRateHoldsOverManyEvents) {
  RateLimiter limiter(/*rate=*/4000, /*burst=*/40);
  double due = 0;
  for (int i = 0; i < 2000; ++i) due = limiter.Acquire(0);
  // 2000 events at 4000/s: the last may go at (2000 - burst) / 4000 s.
  EXPECT_NEAR(due, (2000 - 40) / 4000.0, 1e-9);
}

TEST(SpeedupScheduleTest, SpreadsEachDayOverItsWallSlot) {
  const Date first = Date::FromCivil(2020, 1, 1);
  const SpeedupSchedule schedule(/*speedup=*/86400, first);  // a day per wall second
  struct Case {
    int day_offset;
    int64_t index;
    int64_t count;
    double expected;
  };
  for (const Case& c : {Case{0, 0, 4, 0.0}, Case{0, 1, 4, 0.25}, Case{0, 3, 4, 0.75},
                        Case{1, 0, 1, 1.0}, Case{2, 5, 10, 2.5}, Case{10, 0, 0, 10.0}}) {
    EXPECT_NEAR(schedule.DueSeconds(first + c.day_offset, c.index, c.count), c.expected, 1e-9)
        << "day +" << c.day_offset << " event " << c.index << "/" << c.count;
  }
}

TEST(SpeedupScheduleTest, ScalesWithTheSpeedup) {
  const Date first = Date::FromCivil(2020, 1, 1);
  EXPECT_NEAR(SpeedupSchedule(3600, first).DueSeconds(first + 1, 0, 1), 24.0, 1e-9);
  EXPECT_NEAR(SpeedupSchedule(1, first).DueSeconds(first, 1, 2), 43200.0, 1e-9);
}

}  // namespace
}  // namespace towerstream::replay
