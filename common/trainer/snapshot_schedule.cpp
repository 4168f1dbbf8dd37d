// --snapshot-every parsing and the snapshot schedule.
#include "common/trainer/snapshot_schedule.h"

#include <charconv>

#include "common/base/progress.h"

namespace towerstream::trainer {

Result<SnapshotEvery> ParseSnapshotEvery(std::string_view text) {
  const auto bad = [&] {
    return Status::InvalidArgument(
        "--snapshot-every '" + std::string(text) +
        "': expected a wall time such as 30s, 10m, 2h, 500ms, a number of events such as "
        "100000, 100k, 2M, or off");
  };
  if (text == "off" || text == "0") return SnapshotEvery{};
  int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || value <= 0) return bad();
  const std::string_view unit(end, text.data() + text.size() - end);
  SnapshotEvery every;
  using std::chrono::milliseconds;
  if (unit.empty() || unit == "events") {
    every.events = value;
  } else if (unit == "k") {
    every.events = value * 1000;
  } else if (unit == "M") {
    every.events = value * 1'000'000;
  } else if (unit == "ms") {
    every.time = milliseconds(value);
  } else if (unit == "s") {
    every.time = milliseconds(value * 1000);
  } else if (unit == "m") {
    every.time = milliseconds(value * 60'000);
  } else if (unit == "h") {
    every.time = milliseconds(value * 3'600'000);
  } else {
    return bad();
  }
  return every;
}

std::string DescribeSnapshotEvery(const SnapshotEvery& every) {
  if (every.events > 0) return "every " + FormatCount(every.events) + " events";
  if (every.time.count() > 0) {
    return "every " + FormatDuration(static_cast<double>(every.time.count()) / 1000.0);
  }
  return "off";
}

bool SnapshotSchedule::Due(int64_t events_trained, Clock::time_point now) const {
  if (requested_.load()) return true;
  if (every_.events > 0 && events_trained - last_events_ >= every_.events) return true;
  return every_.time.count() > 0 && now - last_time_ >= every_.time;
}

void SnapshotSchedule::Done(int64_t events_trained, Clock::time_point now) {
  requested_.store(false);
  last_events_ = events_trained;
  last_time_ = now;
}

}  // namespace towerstream::trainer
