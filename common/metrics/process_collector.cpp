// ProcessCollector: CPU seconds from /proc/self/stat, resident memory from /proc/self/statm.
#include "common/metrics/process_collector.h"

#include <unistd.h>

#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

namespace towerstream::metrics {
namespace {

// utime + stime of this process in seconds.
std::optional<double> CpuSeconds() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // The command name (field 2) is in parentheses and may hold spaces; fields count after it.
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream fields(stat.substr(close + 1));
  std::string field;
  // After ')' come field 3 (state) .. ; utime and stime are fields 14 and 15.
  for (int i = 3; i <= 13; ++i) fields >> field;
  unsigned long long utime = 0, stime = 0;
  if (!(fields >> utime >> stime)) return std::nullopt;
  const long ticks = sysconf(_SC_CLK_TCK);
  if (ticks <= 0) return std::nullopt;
  return static_cast<double>(utime + stime) / static_cast<double>(ticks);
}

std::optional<double> ResidentBytes() {
  std::ifstream in("/proc/self/statm");
  unsigned long long size = 0, resident = 0;
  if (!(in >> size >> resident)) return std::nullopt;
  return static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

prometheus::MetricFamily Family(std::string name, std::string help, prometheus::MetricType type,
                                const std::string& service, double value) {
  prometheus::ClientMetric metric;
  metric.label.push_back({"service", service});
  if (type == prometheus::MetricType::Counter) {
    metric.counter.value = value;
  } else {
    metric.gauge.value = value;
  }
  return prometheus::MetricFamily{std::move(name), std::move(help), type, {std::move(metric)}};
}

}  // namespace

std::vector<prometheus::MetricFamily> ProcessCollector::Collect() const {
  std::vector<prometheus::MetricFamily> families;
  if (const std::optional<double> cpu = CpuSeconds()) {
    families.push_back(Family(kProcessCpuSecondsTotal,
                              "User and system CPU time of the process, in seconds",
                              prometheus::MetricType::Counter, service_, *cpu));
  }
  if (const std::optional<double> rss = ResidentBytes()) {
    families.push_back(Family(kProcessResidentMemoryBytes, "Resident memory of the process",
                              prometheus::MetricType::Gauge, service_, *rss));
  }
  return families;
}

}  // namespace towerstream::metrics
