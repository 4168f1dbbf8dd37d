// IngestMetrics: the families and series of ingest's Prometheus metrics.
#include "common/ingest/ingest_metrics.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>

#include "common/metrics/naming.h"

namespace towerstream::ingest {
namespace {

using prometheus::Labels;

Labels ServiceLabels(Labels extra = {}) {
  extra.emplace("service", kServiceName);
  return extra;
}

prometheus::Family<prometheus::Counter>& Counter(prometheus::Registry& registry,
                                                 const std::string& name, const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Gauge>& Gauge(prometheus::Registry& registry,
                                             const std::string& name, const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Family<prometheus::Histogram>& Histogram(prometheus::Registry& registry,
                                                     const std::string& name,
                                                     const std::string& help) {
  return prometheus::BuildHistogram().Name(name).Help(help).Register(registry);
}

prometheus::Histogram& Latency(prometheus::Family<prometheus::Histogram>& family,
                               Labels labels = {}) {
  return family.Add(ServiceLabels(std::move(labels)), metrics::LatencyBuckets());
}

}  // namespace

IngestMetrics::Families::Families(prometheus::Registry& registry)
    : consumed(
          Counter(registry, "towerstream_events_consumed_total", "Messages consumed, by topic")),
      produced(Counter(registry, "towerstream_events_produced_total",
                       "Messages produced in committed Kafka transactions, by topic")),
      enriched(Counter(registry, "towerstream_events_enriched_total",
                       "Transactions turned into examples")),
      cold(Counter(registry, "towerstream_events_enriched_cold_total",
                   "Examples whose article or customer was unknown (cold defaults), by entity")),
      parked(Counter(registry, "towerstream_events_parked_total",
                     "Transactions parked (again) to wait for their article or customer")),
      restored(Counter(registry, "towerstream_events_restored_total",
                       "Transactions re-read only to rebuild the local purchase history")),
      transactions(Counter(registry, "towerstream_kafka_transactions_total",
                           "Kafka transactions, by outcome (committed, aborted)")),
      dead_lettered(Counter(registry, "towerstream_events_dead_lettered_total",
                            "Messages sent to the dead-letter topic, by reason")),
      cache_hits(Counter(registry, "towerstream_cache_hits_total",
                         "Feature store cache lookups answered from memory, by cache")),
      cache_misses(Counter(registry, "towerstream_cache_misses_total",
                           "Feature store cache lookups that read RocksDB, by cache")),
      cache_hit_ratio(Gauge(registry, "towerstream_cache_hit_ratio",
                            "Hits / (hits + misses) of a feature store cache since start")),
      lag(Gauge(registry, "towerstream_consumer_lag",
                "Messages between the consumer's position and the end of the partition")),
      vocabulary(Gauge(registry, "towerstream_vocabulary_size",
                       "Ids with a vocabulary index in the feature store, by vocabulary")),
      enrichment_latency(Histogram(registry, "towerstream_enrichment_latency_seconds",
                                   "Time to enrich one micro-batch (lookups, histories, "
                                   "encoding)")),
      rocksdb_latency(Histogram(registry, "towerstream_rocksdb_latency_seconds",
                                "RocksDB time per micro-batch, by operation (multiget, "
                                "history, write)")),
      batch_latency(Histogram(registry, "towerstream_micro_batch_latency_seconds",
                              "One micro-batch from its first message to its commit")) {}

IngestMetrics::IngestMetrics(prometheus::Registry& registry, const TopicNames& topics)
    : families_(registry),
      consumed_articles(families_.consumed.Add(ServiceLabels({{"topic", topics.articles}}))),
      consumed_customers(families_.consumed.Add(ServiceLabels({{"topic", topics.customers}}))),
      consumed_transactions(
          families_.consumed.Add(ServiceLabels({{"topic", topics.transactions}}))),
      consumed_parked(families_.consumed.Add(ServiceLabels({{"topic", topics.parked}}))),
      produced_examples(families_.produced.Add(ServiceLabels({{"topic", topics.examples}}))),
      produced_dlq(families_.produced.Add(ServiceLabels({{"topic", topics.dlq}}))),
      produced_parked(families_.produced.Add(ServiceLabels({{"topic", topics.parked}}))),
      enriched(families_.enriched.Add(ServiceLabels())),
      cold_articles(families_.cold.Add(ServiceLabels({{"entity", "article"}}))),
      cold_customers(families_.cold.Add(ServiceLabels({{"entity", "customer"}}))),
      parked(families_.parked.Add(ServiceLabels())),
      restored(families_.restored.Add(ServiceLabels())),
      transactions_committed(families_.transactions.Add(ServiceLabels({{"outcome", "committed"}}))),
      transactions_aborted(families_.transactions.Add(ServiceLabels({{"outcome", "aborted"}}))),
      enrichment_latency(Latency(families_.enrichment_latency)),
      rocksdb_multiget_latency(Latency(families_.rocksdb_latency, {{"op", "multiget"}})),
      rocksdb_history_latency(Latency(families_.rocksdb_latency, {{"op", "history"}})),
      rocksdb_write_latency(Latency(families_.rocksdb_latency, {{"op", "write"}})),
      batch_latency(Latency(families_.batch_latency)),
      article_vocabulary_(families_.vocabulary.Add(ServiceLabels({{"vocabulary", "article"}}))),
      customer_vocabulary_(families_.vocabulary.Add(ServiceLabels({{"vocabulary", "customer"}}))) {
  for (events::DlqReason reason : events::kAllDlqReasons) {
    dead_lettered_[static_cast<size_t>(reason)] = &families_.dead_lettered.Add(
        ServiceLabels({{"reason", std::string(events::DlqReasonName(reason))}}));
  }
  for (auto [series, name] :
       {std::pair{&article_cache_, "article"}, std::pair{&customer_cache_, "customer"},
        std::pair{&history_cache_, "history"}}) {
    series->hits = &families_.cache_hits.Add(ServiceLabels({{"cache", name}}));
    series->misses = &families_.cache_misses.Add(ServiceLabels({{"cache", name}}));
    series->ratio = &families_.cache_hit_ratio.Add(ServiceLabels({{"cache", name}}));
  }
}

void IngestMetrics::SetLag(const std::string& topic, int32_t partition, int64_t lag) {
  prometheus::Gauge*& gauge = lag_[{topic, partition}];
  if (gauge == nullptr) {
    gauge = &families_.lag.Add(
        ServiceLabels({{"topic", topic}, {"partition", std::to_string(partition)}}));
  }
  gauge->Set(static_cast<double>(lag));
}

void IngestMetrics::UpdateCache(CacheSeries& series, const features::CacheStats& stats) {
  series.hits->Increment(static_cast<double>(stats.hits - series.last_hits));
  series.misses->Increment(static_cast<double>(stats.misses - series.last_misses));
  series.last_hits = stats.hits;
  series.last_misses = stats.misses;
  const int64_t lookups = stats.hits + stats.misses;
  if (lookups > 0) series.ratio->Set(static_cast<double>(stats.hits) / lookups);
}

void IngestMetrics::UpdateStore(const features::FeatureStore& store) {
  UpdateCache(article_cache_, store.article_cache_stats());
  UpdateCache(customer_cache_, store.customer_cache_stats());
  UpdateCache(history_cache_, store.history_cache_stats());
  article_vocabulary_.Set(static_cast<double>(store.article_vocabulary_size()));
  customer_vocabulary_.Set(static_cast<double>(store.customer_vocabulary_size()));
}

}  // namespace towerstream::ingest
