// Process metrics of the running service: CPU time and resident memory, read from /proc.
//
// A prometheus::Collectable that reads /proc/self on every scrape, so it costs nothing between
// scrapes. Stateless apart from its label; Collect() is safe from any thread.
#pragma once

#include <string>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

namespace towerstream::metrics {

inline constexpr char kProcessCpuSecondsTotal[] = "towerstream_process_cpu_seconds_total";
inline constexpr char kProcessResidentMemoryBytes[] = "towerstream_process_resident_memory_bytes";

class ProcessCollector : public prometheus::Collectable {
 public:
  // `service` becomes the value of the `service` label.
  explicit ProcessCollector(std::string service) : service_(std::move(service)) {}

  // towerstream_process_cpu_seconds_total (user + system) and
  // towerstream_process_resident_memory_bytes; a figure /proc cannot give is left out.
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::string service_;
};

}  // namespace towerstream::metrics
