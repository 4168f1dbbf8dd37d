// Naming checks and shared histogram buckets of towerstream metrics.
#include "common/metrics/naming.h"

#include <algorithm>
#include <string>

namespace towerstream::metrics {

Status CheckNaming(const std::vector<prometheus::MetricFamily>& families) {
  for (const prometheus::MetricFamily& family : families) {
    if (!family.name.starts_with(kPrefix)) {
      return Status::InvalidArgument("metric '" + family.name + "' does not start with '" +
                                     std::string(kPrefix) + "'");
    }
    for (const prometheus::ClientMetric& metric : family.metric) {
      const bool has_service = std::any_of(
          metric.label.begin(), metric.label.end(),
          [](const auto& label) { return label.name == kServiceLabel && !label.value.empty(); });
      if (!has_service) {
        return Status::InvalidArgument("metric '" + family.name + "' has a series without a '" +
                                       std::string(kServiceLabel) + "' label");
      }
    }
  }
  return Status::Ok();
}

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  prometheus::Histogram::BucketBoundaries buckets;
  double bound = 50e-6;
  for (int i = 0; i < 19; ++i, bound *= 2) buckets.push_back(bound);
  return buckets;
}

}  // namespace towerstream::metrics
