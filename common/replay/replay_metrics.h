// Internal to ts_replay: the replay metrics (docs/design.md §14), counted locally on the hot path
// and published to the prometheus::Registry in batches.
//
// Recording (OnDelivery, AddRejected, SetEventTime) happens on the replay thread only: delivery
// reports are served by the Poll/Flush calls it makes. Publish() copies the local counts into
// the Registry, whose scrapes run on the HTTP threads. Neither copyable nor movable.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include <librdkafka/rdkafkacpp.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "common/base/date.h"

namespace towerstream::replay {

inline constexpr char kEventsProducedTotal[] = "towerstream_events_produced_total";
inline constexpr char kProduceErrorsTotal[] = "towerstream_produce_errors_total";
inline constexpr char kRowsRejectedTotal[] = "towerstream_replay_rows_rejected_total";
inline constexpr char kEventTimeSeconds[] = "towerstream_replay_event_time_seconds";
inline constexpr char kProduceLatencySeconds[] = "towerstream_replay_produce_latency_seconds";

class ReplayMetrics {
 public:
  // `topics`: the topics replay produces to, each gets its series up front.
  ReplayMetrics(prometheus::Registry& registry, const std::vector<std::string>& topics);
  ReplayMetrics(const ReplayMetrics&) = delete;
  ReplayMetrics& operator=(const ReplayMetrics&) = delete;

  // Counts one delivery report: acknowledged or failed, per topic, and its latency.
  void OnDelivery(RdKafka::Message& message);
  // Counts a produce call librdkafka refused locally.
  void AddLocalError(const std::string& topic);
  // `n` more bad rows in `file` (its base name is the label).
  void AddRejected(const std::string& file, int64_t n);
  // t_dat of the latest transaction sent.
  void SetEventTime(Date date);
  // Copies everything counted since the last call into the Registry.
  void Publish();

  int64_t delivered(const std::string& topic) const;
  int64_t failed(const std::string& topic) const;

 private:
  struct TopicCounts {
    std::string name;
    int64_t delivered = 0;
    int64_t failed = 0;
    int64_t published_delivered = 0;
    int64_t published_failed = 0;
    prometheus::Counter* produced_counter = nullptr;
    prometheus::Counter* error_counter = nullptr;
  };
  TopicCounts* Find(const char* topic);
  const TopicCounts* Find(const std::string& topic) const;

  prometheus::Family<prometheus::Counter>& rejected_family_;
  prometheus::Gauge& event_time_;
  prometheus::Histogram& latency_;
  std::vector<TopicCounts> topics_;
  std::map<std::string, prometheus::Counter*> rejected_;
  // Latency observations since the last Publish, per bucket of the histogram (last: +Inf).
  std::vector<double> bucket_bounds_;
  std::vector<double> bucket_counts_;
  double latency_sum_ = 0;
  int64_t event_days_ = -1;  // days since epoch of the latest t_dat; -1 before the first
};

}  // namespace towerstream::replay
