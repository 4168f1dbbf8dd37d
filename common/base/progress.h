// Progress reporting for long jobs (generate, replay, train): a bar on a terminal, a plain
// line now and then in a log, and a summary line at the end.
//
// A ProgressBar reports one job of a known (or unknown: total 0) size. Add() is thread-safe
// and cheap (an atomic add and a clock read); drawing happens inside Add() at most once per
// interval. The bar does not own `out`. Neither copyable nor movable.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream {

struct ProgressOptions {
  // Printed first on every line, e.g. "transactions".
  std::string label;
  // What is counted, printed after counts and rates ("rows", "events").
  std::string unit = "rows";
  // Where to draw (not owned). nullptr draws nothing: a quiet run.
  std::FILE* out = stderr;
  // Terminal mode redraws one line in place; log mode prints a new line every log interval.
  // Unset: terminal mode exactly when `out` is a terminal.
  std::optional<bool> terminal;
  // Terminal mode: seconds between redraws (0.2 is at most five a second, cheap on a slow TTY).
  double redraw_interval_s = 0.2;
  // Log mode: seconds between progress lines (short enough to show life, few enough to read).
  double log_interval_s = 10.0;
  // Seconds on a monotonic clock; unset uses std::chrono::steady_clock. Tests inject one.
  std::function<double()> clock;
  // Extra text appended to each progress line (e.g. "loss 5.21, recall@100 0.31"), called
  // from the drawing thread; unset appends nothing.
  std::function<std::string()> detail;

  Status Validate() const;
};

class ProgressBar {
 public:
  // `options` must be valid (Validate()); the clock starts now.
  ProgressBar(int64_t total, ProgressOptions options);
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;
  // Prints the summary line unless Finish() already did.
  ~ProgressBar();

  // Records `n` more units done and redraws when the interval has passed.
  void Add(int64_t n);
  // Prints the summary ("transactions: 31,788,324 rows in 1:32 (345,526 rows/s)"). Idempotent.
  void Finish();

  int64_t done() const { return done_.load(std::memory_order_relaxed); }
  int64_t total() const { return total_; }

 private:
  double Now() const;
  void Draw(double now);  // requires draw_mu_

  const int64_t total_;
  const ProgressOptions options_;
  const bool terminal_;
  const double start_;
  std::atomic<int64_t> done_{0};
  std::mutex draw_mu_;
  double last_draw_ = 0;   // guarded by draw_mu_
  bool finished_ = false;  // guarded by draw_mu_
};

// Prints `line` on a line of its own on `out`, for messages from another thread while a bar may
// be drawing: on a terminal it first erases the line the bar redraws in place (the bar draws
// itself again at its next update).
void PrintLineOverProgress(std::FILE* out, std::string_view line);

// "31,788,324": counts in reports.
std::string FormatCount(int64_t n);
// "0:07", "1:32", "1:02:03": elapsed times and ETAs.
std::string FormatDuration(double seconds);
// "36.1 MB", "3.49 GB" (powers of 1000, like `ls -lh --si`).
std::string FormatBytes(int64_t bytes);
// The process's peak resident memory so far, in bytes, for end-of-job summaries.
int64_t PeakResidentBytes();

}  // namespace towerstream
