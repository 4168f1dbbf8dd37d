// Rate limiting and event-time schedules for replay.
#include "common/replay/pacing.h"

#include <algorithm>

namespace towerstream::replay {

RateLimiter::RateLimiter(double rate, double burst)
    : interval_(1.0 / rate),
      tolerance_((std::max(burst, 1.0) - 1.0) / rate),
      theoretical_arrival_(0) {}

double RateLimiter::Acquire(double now) {
  if (!started_) {
    started_ = true;
    theoretical_arrival_ = now;
  }
  const double due = std::max(now, theoretical_arrival_ - tolerance_);
  theoretical_arrival_ = std::max(theoretical_arrival_, due) + interval_;
  return due;
}

double SpeedupSchedule::DueSeconds(Date day, int64_t index, int64_t count) const {
  constexpr double kSecondsPerDay = 86400;
  const double fraction = count > 0 ? static_cast<double>(index) / static_cast<double>(count) : 0;
  return (static_cast<double>(day - first_day_) + fraction) * kSecondsPerDay / speedup_;
}

}  // namespace towerstream::replay
