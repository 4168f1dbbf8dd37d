// Progress drawing: percent, rate and ETA on a terminal line or in periodic log lines.
#include "common/base/progress.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>

namespace towerstream {
namespace {

constexpr int kBarWidth = 24;

double SteadySeconds() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

bool IsTerminal(std::FILE* out) { return out != nullptr && isatty(fileno(out)) == 1; }

}  // namespace

Status ProgressOptions::Validate() const {
  if (!(redraw_interval_s > 0)) {
    return Status::InvalidArgument("progress: redraw_interval_s must be > 0, got " +
                                   std::to_string(redraw_interval_s));
  }
  if (!(log_interval_s > 0)) {
    return Status::InvalidArgument("progress: log_interval_s must be > 0, got " +
                                   std::to_string(log_interval_s));
  }
  return Status::Ok();
}

void PrintLineOverProgress(std::FILE* out, std::string_view line) {
  std::fprintf(out, "%s%.*s\n", IsTerminal(out) ? "\r\x1b[K" : "", static_cast<int>(line.size()),
               line.data());
  std::fflush(out);
}

std::string FormatCount(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return n < 0 ? "-" + out : out;
}

std::string FormatDuration(double seconds) {
  const int64_t total = seconds > 0 ? static_cast<int64_t>(std::llround(seconds)) : 0;
  char buf[32];
  if (total >= 3600) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 ":%02d:%02d", total / 3600,
                  static_cast<int>(total / 60 % 60), static_cast<int>(total % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%d:%02d", static_cast<int>(total / 60),
                  static_cast<int>(total % 60));
  }
  return buf;
}

std::string FormatBytes(int64_t bytes) {
  static constexpr const char* kUnits[] = {"B", "kB", "MB", "GB", "TB"};
  double value = static_cast<double>(bytes);
  int unit = 0;
  while (value >= 1000 && unit < 4) {
    value /= 1000;
    ++unit;
  }
  char buf[32];
  if (unit == 0) {
    std::snprintf(buf, sizeof(buf), "%" PRId64 " B", bytes);
  } else {
    std::snprintf(buf, sizeof(buf), value < 10 ? "%.2f %s" : "%.1f %s", value, kUnits[unit]);
  }
  return buf;
}

int64_t PeakResidentBytes() {
  rusage usage{};
  if (getrusage(RUSAGE_SELF, &usage) != 0) return 0;
  return static_cast<int64_t>(usage.ru_maxrss) * 1024;  // Linux reports KiB
}

ProgressBar::ProgressBar(int64_t total, ProgressOptions options)
    : total_(std::max<int64_t>(total, 0)),
      options_(std::move(options)),
      terminal_(options_.terminal.value_or(IsTerminal(options_.out))),
      start_(Now()) {
  last_draw_ = start_;
}

ProgressBar::~ProgressBar() { Finish(); }

double ProgressBar::Now() const { return options_.clock ? options_.clock() : SteadySeconds(); }

void ProgressBar::Add(int64_t n) {
  done_.fetch_add(n, std::memory_order_relaxed);
  if (options_.out == nullptr) return;
  const double now = Now();
  const double interval = terminal_ ? options_.redraw_interval_s : options_.log_interval_s;
  // Only one thread draws; the others carry on rather than wait for the terminal.
  std::unique_lock lock(draw_mu_, std::try_to_lock);
  if (!lock.owns_lock() || finished_ || now - last_draw_ < interval) return;
  last_draw_ = now;
  Draw(now);
}

void ProgressBar::Draw(double now) {
  const int64_t done = this->done();
  const double elapsed = now - start_;
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  std::string line = options_.label.empty() ? "" : options_.label + (terminal_ ? " " : ": ");
  if (total_ > 0) {
    const double fraction = std::min(1.0, static_cast<double>(done) / static_cast<double>(total_));
    if (terminal_) {
      const int filled = static_cast<int>(fraction * kBarWidth);
      line += "[" + std::string(filled, '#') + std::string(kBarWidth - filled, '-') + "] ";
    }
    char percent[16];
    std::snprintf(percent, sizeof(percent), "%5.1f%% ", 100 * fraction);
    line += percent;
    line += FormatCount(done) + "/" + FormatCount(total_) + " " + options_.unit;
  } else {
    line += FormatCount(done) + " " + options_.unit;
  }
  line += ", " + FormatCount(static_cast<int64_t>(rate)) + " " + options_.unit + "/s";
  if (total_ > 0 && rate > 0 && done < total_) {
    line += ", ETA " + FormatDuration(static_cast<double>(total_ - done) / rate);
  }
  if (options_.detail) {
    const std::string detail = options_.detail();
    if (!detail.empty()) line += ", " + detail;
  }
  if (terminal_) {
    // Carriage return and erase-to-end-of-line redraw in place.
    std::fprintf(options_.out, "\r%s\x1b[K", line.c_str());
  } else {
    std::fprintf(options_.out, "%s\n", line.c_str());
  }
  std::fflush(options_.out);
}

void ProgressBar::Finish() {
  std::lock_guard lock(draw_mu_);
  if (finished_) return;
  finished_ = true;
  if (options_.out == nullptr) return;
  const double elapsed = Now() - start_;
  const int64_t done = this->done();
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  std::string line = options_.label.empty() ? "" : options_.label + ": ";
  line += FormatCount(done) + " " + options_.unit + " in " + FormatDuration(elapsed) + " (" +
          FormatCount(static_cast<int64_t>(rate)) + " " + options_.unit + "/s)";
  std::fprintf(options_.out, terminal_ ? "\r%s\x1b[K\n" : "%s\n", line.c_str());
  std::fflush(options_.out);
}

}  // namespace towerstream
