// The naming rules of towerstream metrics (docs/design.md §14), shared by every service, and a
// check that tests run over a service's registry.
#pragma once

#include <string_view>
#include <vector>

#include <prometheus/histogram.h>
#include <prometheus/metric_family.h>

#include "common/base/status.h"

namespace towerstream::metrics {

// Every metric name starts with this.
inline constexpr std::string_view kPrefix = "towerstream_";
// Every series carries this label, naming the service that exports it.
inline constexpr std::string_view kServiceLabel = "service";

// OK when every family's name starts with kPrefix and every series has a non-empty `service`
// label; otherwise InvalidArgument naming the first family that breaks a rule.
Status CheckNaming(const std::vector<prometheus::MetricFamily>& families);

// Histogram buckets for latencies in seconds: 50 µs to about 13 s, each 2x the previous (19
// buckets). Wide enough for an in-memory call and for a broker that stalls for seconds.
prometheus::Histogram::BucketBoundaries LatencyBuckets();

}  // namespace towerstream::metrics
