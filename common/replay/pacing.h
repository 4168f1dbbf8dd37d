// Pacing of replayed events: a smooth rate limit (--rate) or event time played faster than
// real time (--speedup). Both work on times the caller passes in (seconds on a monotonic
// clock), so tests drive them without sleeping. Value types; not thread-safe.
#pragma once

#include <cstdint>

#include "common/base/date.h"

namespace towerstream::replay {

// A token bucket in its virtual-scheduling form (GCRA): events go at `rate` per second on
// average, and at most `burst` of them back to back after an idle spell.
class RateLimiter {
 public:
  // `rate` > 0 events per second; `burst` >= 1 events.
  RateLimiter(double rate, double burst);

  // Books one event arriving at `now` and returns when it may go: `now` when there is room,
  // else the later time at which the bucket has a token for it.
  double Acquire(double now);

 private:
  double interval_;   // seconds per event
  double tolerance_;  // how far ahead of schedule a burst may run: (burst - 1) intervals
  double theoretical_arrival_;
  bool started_ = false;
};

// Plays event time `speedup` times faster than wall time: `speedup` seconds of event time per
// wall second. t_dat has day resolution, so the `count` events of one day are spread evenly
// over that day's 86400 / speedup wall seconds; days without events still take their time.
class SpeedupSchedule {
 public:
  // `speedup` > 0; `first_day` is played at wall second 0.
  SpeedupSchedule(double speedup, Date first_day) : speedup_(speedup), first_day_(first_day) {}

  // Wall seconds after the start at which event `index` (0-based) of `day`'s `count` is due.
  double DueSeconds(Date day, int64_t index, int64_t count) const;

 private:
  double speedup_;
  Date first_day_;
};

}  // namespace towerstream::replay
