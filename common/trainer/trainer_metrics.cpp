// TrainerMetrics: the trainer's metric families and series.
#include "common/trainer/trainer_metrics.h"

#include "common/metrics/naming.h"

namespace towerstream::trainer {
namespace {

using prometheus::BuildCounter;
using prometheus::BuildGauge;
using prometheus::BuildHistogram;

// Snapshots take from milliseconds (tiny models) to minutes (full scale on a slow disk).
prometheus::Histogram::BucketBoundaries SnapshotBuckets() {
  return {0.01, 0.03, 0.1, 0.3, 1, 3, 10, 30, 100, 300};
}

double UnixSecondsOf(Date day) { return static_cast<double>(day.days_since_epoch()) * 86'400; }

}  // namespace

TrainerMetrics::Families::Families(prometheus::Registry& r, const std::string& service)
    : consumed(BuildCounter()
                   .Name("towerstream_events_consumed_total")
                   .Help("Messages read from Kafka, by topic")
                   .Labels({{"service", service}})
                   .Register(r)),
      dead_lettered(BuildCounter()
                        .Name("towerstream_events_dead_lettered_total")
                        .Help("Messages sent to the dead-letter topic, by reason")
                        .Labels({{"service", service}})
                        .Register(r)),
      trained(BuildCounter()
                  .Name("towerstream_examples_trained_total")
                  .Help("Examples the model was trained on")
                  .Labels({{"service", service}})
                  .Register(r)),
      steps(BuildCounter()
                .Name("towerstream_training_steps_total")
                .Help("Training steps (micro-batches)")
                .Labels({{"service", service}})
                .Register(r)),
      loss(BuildGauge()
               .Name("towerstream_training_loss")
               .Help("Mean in-batch softmax loss of the latest micro-batch")
               .Labels({{"service", service}})
               .Register(r)),
      rate(BuildGauge()
               .Name("towerstream_examples_per_second")
               .Help("Examples trained per second over the last few seconds")
               .Labels({{"service", service}})
               .Register(r)),
      batch_latency(BuildHistogram()
                        .Name("towerstream_micro_batch_latency_seconds")
                        .Help("Time to score and train one micro-batch")
                        .Labels({{"service", service}})
                        .Register(r)),
      recall(BuildGauge()
                 .Name("towerstream_progressive_recall")
                 .Help("Share of sampled purchases whose article was in the model's top k of "
                       "all articles just before training on them: up to --eval-queries "
                       "purchases of the first micro-batch, then of one every --eval-spacing x "
                       "catalogue size examples, ranked against freshly embedded articles "
                       "(ties count as misses); over the last 5,000 such purchases")
                 .Labels({{"service", service}})
                 .Register(r)),
      vocabulary(BuildGauge()
                     .Name("towerstream_vocabulary_size")
                     .Help("Ids with their own embedding row (customers, articles), and "
                           "articles in the scoring catalogue")
                     .Labels({{"service", service}})
                     .Register(r)),
      admitted(BuildCounter()
                   .Name("towerstream_ids_admitted_total")
                   .Help("Ids given their own embedding row")
                   .Labels({{"service", service}})
                   .Register(r)),
      expired(BuildCounter()
                  .Name("towerstream_ids_expired_total")
                  .Help("Embedding rows reclaimed from ids not seen for --expire-after steps")
                  .Labels({{"service", service}})
                  .Register(r)),
      log_q(BuildGauge()
                .Name("towerstream_logq_mean_log_probability")
                .Help("Mean log of the streaming estimate of occurrences per step of the "
                      "latest micro-batch's articles (the logQ correction subtracted from "
                      "logits; above 0 for articles seen more than once per step)")
                .Labels({{"service", service}})
                .Register(r)),
      snapshots(BuildCounter()
                    .Name("towerstream_snapshots_total")
                    .Help("Snapshots written")
                    .Labels({{"service", service}})
                    .Register(r)),
      snapshot_duration(BuildHistogram()
                            .Name("towerstream_snapshot_duration_seconds")
                            .Help("Time to write one snapshot durably")
                            .Labels({{"service", service}})
                            .Register(r)),
      snapshot_time(BuildGauge()
                        .Name("towerstream_snapshot_last_success_timestamp_seconds")
                        .Help("Unix time of the latest durable snapshot")
                        .Labels({{"service", service}})
                        .Register(r)),
      lag(BuildGauge()
              .Name("towerstream_consumer_lag")
              .Help("Messages between the trainer's position and the end of each partition")
              .Labels({{"service", service}})
              .Register(r)),
      resume_skipped(BuildGauge()
                         .Name("towerstream_snapshots_skipped_on_resume")
                         .Help("Snapshots (or a missing LATEST) the run passed over as damaged "
                               "when it resumed; above 0, it resumed from an older snapshot")
                         .Labels({{"service", service}})
                         .Register(r)),
      snapshot_failures(BuildCounter()
                            .Name("towerstream_snapshot_failures_total")
                            .Help("Snapshots that could not be written (see the log for why)")
                            .Labels({{"service", service}})
                            .Register(r)),
      trained_event_time(BuildGauge()
                             .Name("towerstream_trained_event_time_seconds")
                             .Help("Event time of the newest example trained: Unix time of its "
                                   "day (t_dat, midnight UTC)")
                             .Labels({{"service", service}})
                             .Register(r)),
      consumed_event_time(BuildGauge()
                              .Name("towerstream_consumed_event_time_seconds")
                              .Help("Event time of the newest example consumed (trained or "
                                    "waiting to be): Unix time of its day (midnight UTC)")
                              .Labels({{"service", service}})
                              .Register(r)),
      group_breaks(BuildCounter()
                       .Name("towerstream_trainer_group_breaks_total")
                       .Help("Rounds of the trainer group that ended because a rank died or hung; "
                             "each resumed from the last complete snapshot")
                       .Labels({{"service", service}})
                       .Register(r)),
      collective_seconds(BuildCounter()
                             .Name("towerstream_collective_seconds_total")
                             .Help("Seconds this rank spent in the trainer group's collectives, "
                                   "waiting for slower ranks included")
                             .Labels({{"service", service}})
                             .Register(r)),
      collective_bytes(BuildCounter()
                           .Name("towerstream_collective_bytes_total")
                           .Help("Bytes this rank sent to and received from the trainer group's "
                                 "collectives")
                           .Labels({{"service", service}})
                           .Register(r)) {}

TrainerMetrics::TrainerMetrics(prometheus::Registry& registry, std::string service)
    : service_(std::move(service)),
      families_(registry, service_),
      examples_trained(families_.trained.Add({})),
      training_steps(families_.steps.Add({})),
      loss(families_.loss.Add({})),
      examples_per_second(families_.rate.Add({})),
      batch_latency(families_.batch_latency.Add({}, metrics::LatencyBuckets())),
      recall_at_12(families_.recall.Add({{"k", "12"}})),
      recall_at_100(families_.recall.Add({{"k", "100"}})),
      mean_log_q(families_.log_q.Add({})),
      snapshots(families_.snapshots.Add({})),
      snapshot_duration(families_.snapshot_duration.Add({}, SnapshotBuckets())),
      snapshot_last_success(families_.snapshot_time.Add({})),
      snapshot_failures(families_.snapshot_failures.Add({})),
      snapshots_skipped_on_resume(families_.resume_skipped.Add({})),
      group_breaks(families_.group_breaks.Add({})),
      collective_seconds(families_.collective_seconds.Add({})),
      collective_bytes_sent(families_.collective_bytes.Add({{"direction", "sent"}})),
      collective_bytes_received(families_.collective_bytes.Add({{"direction", "received"}})),
      customers_vocabulary_(families_.vocabulary.Add({{"vocabulary", "customers"}})),
      articles_vocabulary_(families_.vocabulary.Add({{"vocabulary", "articles"}})),
      catalogue_size_(families_.vocabulary.Add({{"vocabulary", "catalogue"}})),
      customers_admitted_(families_.admitted.Add({{"vocabulary", "customers"}})),
      articles_admitted_(families_.admitted.Add({{"vocabulary", "articles"}})),
      customers_expired_(families_.expired.Add({{"vocabulary", "customers"}})),
      articles_expired_(families_.expired.Add({{"vocabulary", "articles"}})) {}

prometheus::Counter& TrainerMetrics::Consumed(const std::string& topic) {
  prometheus::Counter*& c = consumed_[topic];
  if (c == nullptr) c = &families_.consumed.Add({{"topic", topic}});
  return *c;
}

prometheus::Counter& TrainerMetrics::DeadLettered(const std::string& reason) {
  prometheus::Counter*& c = dead_lettered_[reason];
  if (c == nullptr) c = &families_.dead_lettered.Add({{"reason", reason}});
  return *c;
}

void TrainerMetrics::SetLag(const std::string& topic, int32_t partition, int64_t lag) {
  prometheus::Gauge*& g = lag_[{topic, partition}];
  if (g == nullptr) {
    g = &families_.lag.Add({{"topic", topic}, {"partition", std::to_string(partition)}});
  }
  g->Set(static_cast<double>(lag));
}

void TrainerMetrics::SetTrainedEventTime(Date day) {
  if (trained_event_time_ == nullptr) trained_event_time_ = &families_.trained_event_time.Add({});
  trained_event_time_->Set(UnixSecondsOf(day));
}

void TrainerMetrics::SetConsumedEventTime(Date day) {
  if (consumed_event_time_ == nullptr) {
    consumed_event_time_ = &families_.consumed_event_time.Add({});
  }
  consumed_event_time_->Set(UnixSecondsOf(day));
}

void TrainerMetrics::UpdateModel(const model::ModelStats& s) {
  customers_vocabulary_.Set(static_cast<double>(s.customers.rows_in_use));
  articles_vocabulary_.Set(static_cast<double>(s.articles.rows_in_use));
  catalogue_size_.Set(static_cast<double>(s.catalogue));
  // The model's counters restart from a snapshot's values on resume; count only increases.
  const auto add = [](prometheus::Counter& c, int64_t now, int64_t before) {
    if (now > before) c.Increment(static_cast<double>(now - before));
  };
  add(customers_admitted_, s.customers.admitted, last_.customers.admitted);
  add(articles_admitted_, s.articles.admitted, last_.articles.admitted);
  add(customers_expired_, s.customers.expired, last_.customers.expired);
  add(articles_expired_, s.articles.expired, last_.articles.expired);
  last_ = s;
}

}  // namespace towerstream::trainer
