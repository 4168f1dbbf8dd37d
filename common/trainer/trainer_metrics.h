// The Prometheus metrics of the trainer (docs/design.md §14), registered in a caller's Registry.
//
// Every series carries service="trainer" (or the name given); names start with towerstream_.
// prometheus-cpp's metrics are thread-safe; the per-partition lag gauges, the event-time gauges
// and the by-reason dead-letter counters are added on first use by the training thread only. Holds
// references into the registry: it must outlive this object.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "common/base/date.h"
#include "common/model/two_tower_model.h"

namespace towerstream::trainer {

inline constexpr char kServiceName[] = "trainer";

class TrainerMetrics {
 private:
  struct Families {
    Families(prometheus::Registry& registry, const std::string& service);
    prometheus::Family<prometheus::Counter>& consumed;
    prometheus::Family<prometheus::Counter>& dead_lettered;
    prometheus::Family<prometheus::Counter>& trained;
    prometheus::Family<prometheus::Counter>& steps;
    prometheus::Family<prometheus::Gauge>& loss;
    prometheus::Family<prometheus::Gauge>& rate;
    prometheus::Family<prometheus::Histogram>& batch_latency;
    prometheus::Family<prometheus::Gauge>& recall;
    prometheus::Family<prometheus::Gauge>& vocabulary;
    prometheus::Family<prometheus::Counter>& admitted;
    prometheus::Family<prometheus::Counter>& expired;
    prometheus::Family<prometheus::Gauge>& log_q;
    prometheus::Family<prometheus::Counter>& snapshots;
    prometheus::Family<prometheus::Histogram>& snapshot_duration;
    prometheus::Family<prometheus::Gauge>& snapshot_time;
    prometheus::Family<prometheus::Gauge>& lag;
    prometheus::Family<prometheus::Gauge>& resume_skipped;
    prometheus::Family<prometheus::Counter>& snapshot_failures;
    prometheus::Family<prometheus::Gauge>& trained_event_time;
    prometheus::Family<prometheus::Gauge>& consumed_event_time;
    prometheus::Family<prometheus::Counter>& group_breaks;
    prometheus::Family<prometheus::Counter>& collective_seconds;
    prometheus::Family<prometheus::Counter>& collective_bytes;
  };
  std::string service_;
  Families families_;

 public:
  TrainerMetrics(prometheus::Registry& registry, std::string service = kServiceName);
  TrainerMetrics(const TrainerMetrics&) = delete;
  TrainerMetrics& operator=(const TrainerMetrics&) = delete;

  // towerstream_examples_trained_total and towerstream_training_steps_total.
  prometheus::Counter& examples_trained;
  prometheus::Counter& training_steps;
  // towerstream_training_loss: mean loss of the latest micro-batch.
  prometheus::Gauge& loss;
  // towerstream_examples_per_second: training throughput over the last few seconds.
  prometheus::Gauge& examples_per_second;
  // towerstream_micro_batch_latency_seconds: progressive validation plus the training step.
  prometheus::Histogram& batch_latency;
  // towerstream_progressive_recall{k="12"|"100"}: over the latest window of scored queries.
  prometheus::Gauge& recall_at_12;
  prometheus::Gauge& recall_at_100;
  // towerstream_logq_mean_log_probability: the frequency estimator's mean log p(item) over
  // the latest batch, p being occurrences per step (so above 0 for articles seen more than once
  // per step; it rises as batches lean towards popular articles).
  prometheus::Gauge& mean_log_q;
  // towerstream_snapshots_total, towerstream_snapshot_duration_seconds,
  // towerstream_snapshot_last_success_timestamp_seconds.
  prometheus::Counter& snapshots;
  prometheus::Histogram& snapshot_duration;
  prometheus::Gauge& snapshot_last_success;
  // towerstream_snapshot_failures_total: snapshots that could not be written (a full disk).
  prometheus::Counter& snapshot_failures;
  // towerstream_snapshots_skipped_on_resume: what the run passed over to resume (damaged
  // snapshots, a missing LATEST); 0 when it resumed from LATEST or started afresh.
  prometheus::Gauge& snapshots_skipped_on_resume;
  // A rank of a trainer group: towerstream_trainer_group_breaks_total (rounds that ended because
  // a rank died or hung), towerstream_collective_seconds_total (time inside the group's
  // collectives, waiting for slower ranks included) and towerstream_collective_bytes_total
  // {direction="sent"|"received"}.
  prometheus::Counter& group_breaks;
  prometheus::Counter& collective_seconds;
  prometheus::Counter& collective_bytes_sent;
  prometheus::Counter& collective_bytes_received;

  // towerstream_events_consumed_total{topic}.
  prometheus::Counter& Consumed(const std::string& topic);
  // towerstream_events_dead_lettered_total{reason}.
  prometheus::Counter& DeadLettered(const std::string& reason);
  // towerstream_consumer_lag{topic, partition}.
  void SetLag(const std::string& topic, int32_t partition, int64_t lag);
  // towerstream_trained_event_time_seconds and towerstream_consumed_event_time_seconds: the
  // event time (Unix seconds of the day's midnight, UTC) of the newest example trained, and of
  // the newest one consumed (the Kafka trainer only). Each series appears with its first value:
  // a 0 before anything is known would read as 1970 on a dashboard and in an alert.
  void SetTrainedEventTime(Date day);
  void SetConsumedEventTime(Date day);
  // towerstream_vocabulary_size{vocabulary="customers"|"articles"|"catalogue"} (rows in use),
  // and towerstream_ids_admitted_total / towerstream_ids_expired_total{vocabulary}, brought up
  // to the model's counters.
  void UpdateModel(const model::ModelStats& stats);
  // Takes `stats` as the starting point without counting it (a model resumed from a snapshot
  // already admitted its ids in an earlier process).
  void StartFrom(const model::ModelStats& stats) { last_ = stats; }

 private:
  prometheus::Gauge& customers_vocabulary_;
  prometheus::Gauge& articles_vocabulary_;
  prometheus::Gauge& catalogue_size_;
  prometheus::Counter& customers_admitted_;
  prometheus::Counter& articles_admitted_;
  prometheus::Counter& customers_expired_;
  prometheus::Counter& articles_expired_;
  model::ModelStats last_;
  std::map<std::string, prometheus::Counter*> consumed_;
  std::map<std::string, prometheus::Counter*> dead_lettered_;
  std::map<std::pair<std::string, int32_t>, prometheus::Gauge*> lag_;
  prometheus::Gauge* trained_event_time_ = nullptr;
  prometheus::Gauge* consumed_event_time_ = nullptr;
};

}  // namespace towerstream::trainer
