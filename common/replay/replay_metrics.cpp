// Replay metrics: local counters on the hot path, published to prometheus-cpp in batches.
#include "common/replay/replay_metrics.h"

#include <algorithm>
#include <cstring>
#include <filesystem>

#include <librdkafka/rdkafka.h>

#include "common/metrics/naming.h"

namespace towerstream::replay {
namespace {

const prometheus::Labels kService = {{"service", "replay"}};

prometheus::Labels With(std::string name, std::string value) {
  prometheus::Labels labels = kService;
  labels.emplace(std::move(name), std::move(value));
  return labels;
}

}  // namespace

ReplayMetrics::ReplayMetrics(prometheus::Registry& registry, const std::vector<std::string>& topics)
    : rejected_family_(prometheus::BuildCounter()
                           .Name(kRowsRejectedTotal)
                           .Help("CSV rows replay rejected as malformed (reported, not sent)")
                           .Register(registry)),
      event_time_(prometheus::BuildGauge()
                      .Name(kEventTimeSeconds)
                      .Help("Event time (t_dat, Unix seconds) of the latest transaction sent")
                      .Register(registry)
                      .Add(kService)),
      latency_(prometheus::BuildHistogram()
                   .Name(kProduceLatencySeconds)
                   .Help("Seconds from the produce call to the broker's acknowledgement")
                   .Register(registry)
                   .Add(kService, metrics::LatencyBuckets())),
      bucket_bounds_(metrics::LatencyBuckets()),
      bucket_counts_(bucket_bounds_.size() + 1, 0) {
  auto& produced = prometheus::BuildCounter()
                       .Name(kEventsProducedTotal)
                       .Help("Events the broker acknowledged, per topic")
                       .Register(registry);
  auto& errors = prometheus::BuildCounter()
                     .Name(kProduceErrorsTotal)
                     .Help("Events that could not be produced (refused locally or not delivered)")
                     .Register(registry);
  for (const std::string& topic : topics) {
    TopicCounts counts;
    counts.name = topic;
    counts.produced_counter = &produced.Add(With("topic", topic));
    counts.error_counter = &errors.Add(With("topic", topic));
    topics_.push_back(std::move(counts));
  }
}

ReplayMetrics::TopicCounts* ReplayMetrics::Find(const char* topic) {
  for (TopicCounts& counts : topics_) {
    if (std::strcmp(counts.name.c_str(), topic) == 0) return &counts;
  }
  return nullptr;
}

const ReplayMetrics::TopicCounts* ReplayMetrics::Find(const std::string& topic) const {
  for (const TopicCounts& counts : topics_) {
    if (counts.name == topic) return &counts;
  }
  return nullptr;
}

void ReplayMetrics::OnDelivery(RdKafka::Message& message) {
  // The C topic name avoids building a std::string per message.
  TopicCounts* counts = Find(rd_kafka_topic_name(message.c_ptr()->rkt));
  if (counts != nullptr) {
    ++(message.err() == RdKafka::ERR_NO_ERROR ? counts->delivered : counts->failed);
  }
  const int64_t micros = message.latency();
  if (micros < 0) return;
  const double seconds = static_cast<double>(micros) * 1e-6;
  const size_t bucket =
      static_cast<size_t>(std::lower_bound(bucket_bounds_.begin(), bucket_bounds_.end(), seconds) -
                          bucket_bounds_.begin());
  bucket_counts_[bucket] += 1;
  latency_sum_ += seconds;
}

void ReplayMetrics::AddLocalError(const std::string& topic) {
  for (TopicCounts& counts : topics_) {
    if (counts.name == topic) ++counts.failed;
  }
}

void ReplayMetrics::AddRejected(const std::string& file, int64_t n) {
  const std::string name = std::filesystem::path(file).filename().string();
  auto it = rejected_.find(name);
  if (it == rejected_.end()) {
    it = rejected_.emplace(name, &rejected_family_.Add(With("file", name))).first;
  }
  it->second->Increment(static_cast<double>(n));
}

void ReplayMetrics::SetEventTime(Date date) { event_days_ = date.days_since_epoch(); }

void ReplayMetrics::Publish() {
  for (TopicCounts& counts : topics_) {
    counts.produced_counter->Increment(
        static_cast<double>(counts.delivered - counts.published_delivered));
    counts.error_counter->Increment(static_cast<double>(counts.failed - counts.published_failed));
    counts.published_delivered = counts.delivered;
    counts.published_failed = counts.failed;
  }
  if (event_days_ >= 0) event_time_.Set(static_cast<double>(event_days_) * 86400);
  if (latency_sum_ > 0 || std::any_of(bucket_counts_.begin(), bucket_counts_.end(),
                                      [](double count) { return count > 0; })) {
    latency_.ObserveMultiple(bucket_counts_, latency_sum_);
    std::fill(bucket_counts_.begin(), bucket_counts_.end(), 0);
    latency_sum_ = 0;
  }
}

int64_t ReplayMetrics::delivered(const std::string& topic) const {
  const TopicCounts* counts = Find(topic);
  return counts != nullptr ? counts->delivered : 0;
}

int64_t ReplayMetrics::failed(const std::string& topic) const {
  const TopicCounts* counts = Find(topic);
  return counts != nullptr ? counts->failed : 0;
}

}  // namespace towerstream::replay
