// The Prometheus metrics ingest exports (docs/design.md §14), registered in a caller's Registry.
//
// Every series carries service="ingest"; names start with towerstream_. Counters and
// histograms are prometheus-cpp's (thread-safe); the per-partition lag gauges are added on
// first use by the ingest thread only. References into the registry: it must outlive this.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include "common/events/dead_letter.h"
#include "common/events/events.h"
#include "common/features/feature_store.h"

namespace towerstream::ingest {

inline constexpr char kServiceName[] = "ingest";

// The actual (prefixed) topic names, which the `topic` labels carry.
// The shared topics plus ingest's own park topic, all under the same prefix.
struct TopicNames : events::TopicNames {
  std::string parked;
};

class IngestMetrics {
 private:
  // Each metric family, registered once. Declared first: the series below are built from it.
  struct Families {
    explicit Families(prometheus::Registry& registry);
    prometheus::Family<prometheus::Counter>& consumed;
    prometheus::Family<prometheus::Counter>& produced;
    prometheus::Family<prometheus::Counter>& enriched;
    prometheus::Family<prometheus::Counter>& cold;
    prometheus::Family<prometheus::Counter>& parked;
    prometheus::Family<prometheus::Counter>& restored;
    prometheus::Family<prometheus::Counter>& transactions;
    prometheus::Family<prometheus::Counter>& dead_lettered;
    prometheus::Family<prometheus::Counter>& cache_hits;
    prometheus::Family<prometheus::Counter>& cache_misses;
    prometheus::Family<prometheus::Gauge>& cache_hit_ratio;
    prometheus::Family<prometheus::Gauge>& lag;
    prometheus::Family<prometheus::Gauge>& vocabulary;
    prometheus::Family<prometheus::Histogram>& enrichment_latency;
    prometheus::Family<prometheus::Histogram>& rocksdb_latency;
    prometheus::Family<prometheus::Histogram>& batch_latency;
  };
  Families families_;

 public:
  IngestMetrics(prometheus::Registry& registry, const TopicNames& topics);
  IngestMetrics(const IngestMetrics&) = delete;
  IngestMetrics& operator=(const IngestMetrics&) = delete;

  // towerstream_events_consumed_total{topic}
  prometheus::Counter& consumed_articles;
  prometheus::Counter& consumed_customers;
  prometheus::Counter& consumed_transactions;
  prometheus::Counter& consumed_parked;
  // towerstream_events_produced_total{topic}: counted when their Kafka transaction commits.
  prometheus::Counter& produced_examples;
  prometheus::Counter& produced_dlq;
  prometheus::Counter& produced_parked;
  // towerstream_events_enriched_total: transactions turned into examples.
  prometheus::Counter& enriched;
  // towerstream_events_enriched_cold_total{entity}: examples with an unknown article/customer.
  prometheus::Counter& cold_articles;
  prometheus::Counter& cold_customers;
  // towerstream_events_parked_total and towerstream_events_restored_total.
  prometheus::Counter& parked;
  prometheus::Counter& restored;
  // towerstream_kafka_transactions_total{outcome="committed"|"aborted"}
  prometheus::Counter& transactions_committed;
  prometheus::Counter& transactions_aborted;
  // towerstream_enrichment_latency_seconds: enriching one micro-batch (lookups, histories,
  // encoding).
  prometheus::Histogram& enrichment_latency;
  // towerstream_rocksdb_latency_seconds{op="multiget"|"history"|"write"}: per micro-batch.
  prometheus::Histogram& rocksdb_multiget_latency;
  prometheus::Histogram& rocksdb_history_latency;
  prometheus::Histogram& rocksdb_write_latency;
  // towerstream_micro_batch_latency_seconds: one micro-batch from its first message to commit.
  prometheus::Histogram& batch_latency;

  // towerstream_events_dead_lettered_total{reason}, counted when the DLQ record commits.
  prometheus::Counter& DeadLettered(events::DlqReason reason) {
    return *dead_lettered_[static_cast<size_t>(reason)];
  }
  // towerstream_consumer_lag{topic, partition}: messages between the consumer's position and
  // the partition's end.
  void SetLag(const std::string& topic, int32_t partition, int64_t lag);
  // towerstream_cache_{hits,misses}_total{cache} and towerstream_cache_hit_ratio{cache}
  // brought up to the store's counters; towerstream_vocabulary_size{vocabulary}.
  void UpdateStore(const features::FeatureStore& store);

 private:
  struct CacheSeries {
    prometheus::Counter* hits = nullptr;
    prometheus::Counter* misses = nullptr;
    prometheus::Gauge* ratio = nullptr;
    int64_t last_hits = 0;
    int64_t last_misses = 0;
  };
  void UpdateCache(CacheSeries& series, const features::CacheStats& stats);

  std::array<prometheus::Counter*, events::kAllDlqReasons.size()> dead_lettered_{};
  std::map<std::pair<std::string, int32_t>, prometheus::Gauge*> lag_;
  CacheSeries article_cache_;
  CacheSeries customer_cache_;
  CacheSeries history_cache_;
  prometheus::Gauge& article_vocabulary_;
  prometheus::Gauge& customer_vocabulary_;
};

}  // namespace towerstream::ingest
