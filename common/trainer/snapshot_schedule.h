// When to write snapshots: every N events, every T of wall time, and on request (SIGUSR1,
// POST /snapshot), as `--snapshot-every` and the services' signals ask.
//
// ParseSnapshotEvery is pure. A SnapshotSchedule is driven by the training thread; Request()
// may be called from any thread (a signal watcher, the admin server).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream::trainer {

struct SnapshotEvery {
  int64_t events = 0;                 // 0: not by count
  std::chrono::milliseconds time{0};  // 0: not by time

  bool operator==(const SnapshotEvery&) const = default;
};

// "10m", "30s", "2h", "500ms" (wall time) or "100000", "100k", "2M" (events trained); "0" or
// "off" for none. InvalidArgument naming the text and the accepted forms otherwise.
Result<SnapshotEvery> ParseSnapshotEvery(std::string_view text);
// The same as text, for help and logs ("every 5m", "every 100,000 events", "off").
std::string DescribeSnapshotEvery(const SnapshotEvery& every);

class SnapshotSchedule {
 public:
  using Clock = std::chrono::steady_clock;

  // Counts from `start_events` trained (a resumed run's) and the time `start`.
  explicit SnapshotSchedule(SnapshotEvery every, int64_t start_events = 0,
                            Clock::time_point start = Clock::now())
      : every_(every), last_events_(start_events), last_time_(start) {}
  SnapshotSchedule(const SnapshotSchedule&) = delete;
  SnapshotSchedule& operator=(const SnapshotSchedule&) = delete;

  // Thread-safe: asks for a snapshot at the next opportunity.
  void Request() { requested_.store(true); }
  // Whether a snapshot is due now: requested, or past the count or time since the last one.
  bool Due(int64_t events_trained, Clock::time_point now = Clock::now()) const;
  // Records a snapshot at this point and clears the request.
  void Done(int64_t events_trained, Clock::time_point now = Clock::now());

 private:
  SnapshotEvery every_;
  std::atomic<bool> requested_{false};
  int64_t last_events_;
  Clock::time_point last_time_;
};

}  // namespace towerstream::trainer
