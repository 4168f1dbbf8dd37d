// The ingest service: hm.transactions -> hm.examples, exactly once, over the feature store.
//
// An Ingester keeps articles and customers from their (compacted) topics in the feature store
// and turns every transaction into one example on hm.examples, or one record on hm.dlq. Each
// micro-batch is one Kafka transaction carrying its consumed offsets, preceded by a synced
// RocksDB write whose keys make re-processing idempotent; see common/ingest/README.md.
// Run() is called from one thread; counters() from any. Neither copyable nor movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include <prometheus/registry.h>

#include "common/base/status.h"
#include "common/events/events.h"
#include "common/features/feature_store.h"
#include "common/ingest/enricher.h"
#include "common/kafka/kafka_config.h"

namespace towerstream::ingest {

// Where parked transactions wait for their article or customer (under the topic prefix). A
// Kafka topic rather than local state so that a parked purchase is consumed, re-parked and
// finally emitted inside the same Kafka transactions as everything else (exactly once), and
// moves with its partition when the group rebalances.
inline constexpr std::string_view kParkedTopic = "hm.ingest.parked";
inline constexpr std::string_view kParkSourcePartitionHeader = "park.source.partition";
inline constexpr std::string_view kParkSourceOffsetHeader = "park.source.offset";
inline constexpr std::string_view kParkSinceHeader = "park.since.ms";

struct IngestOptions {
  // librdkafka properties for the consumers and the producer; bootstrap.servers is required.
  // Ingest sets what exactly-once needs (transactional.id, isolation.level=read_committed,
  // no auto commit) and throughput defaults (lz4, linger) under what is given here.
  kafka::KafkaConfig kafka;
  // Prepended to every topic name, the consumer group and the transactional id, so that
  // pipelines under different prefixes (tests, tenants) never see each other.
  std::string topic_prefix;
  // Consumer group of hm.transactions; the instances of one group share its partitions.
  std::string group = "towerstream-ingest";
  // Names this instance within the group: its transactional.id (a restarted instance fences
  // its previous incarnation) and its static group membership (it gets its partitions back
  // at once). Each instance needs its own, stable across restarts, and its own state.
  std::string instance = "0";
  // The RocksDB feature store (path = --state).
  features::FeatureStoreOptions store;
  // History length and the missing-entity rule. history_length is also the store's.
  EnricherOptions enrich;
  // Most transactions per micro-batch (one Kafka transaction, one synced RocksDB write).
  // Larger batches amortise the commit (2 round trips, an fsync, the broker's transaction
  // markers) over more events: on 2 cores 2000 reach ~90k events/s, 20000 ~170k (README).
  // Latency stays bounded by max_batch_delay whatever this is.
  int batch_size = 20'000;
  // Longest a micro-batch waits to fill up: bounds end-to-end latency at low rates.
  std::chrono::milliseconds max_batch_delay{100};
  // How often parked transactions are looked at again when no entity arrived meanwhile.
  std::chrono::milliseconds park_recheck_interval{1000};
  // Partitions of hm.transactions if ingest has to create it; hm.examples, hm.dlq and the
  // park topic get as many as hm.transactions has.
  int partitions = 6;
  // Limits on decoded events (e.g. the payload size beyond which a message is dead-lettered).
  events::DecodeOptions decode;

  Status Validate() const;
};

// Totals since Create (examples, dead letters and parks counted when they commit).
struct IngestCounters {
  int64_t consumed = 0;  // transactions and parked records read
  int64_t examples = 0;
  int64_t dead_lettered = 0;
  int64_t parked = 0;
  int64_t restored = 0;
  int64_t entities = 0;  // article and customer records applied
  int64_t committed_transactions = 0;
  int64_t aborted_transactions = 0;
};

class Ingester {
 public:
  // Opens the feature store, creates missing topics and initialises the transactional
  // producer (fencing any previous incarnation of this instance). Metrics go to `registry`,
  // which must outlive the Ingester.
  static Result<std::unique_ptr<Ingester>> Create(const IngestOptions& options,
                                                  prometheus::Registry& registry);
  ~Ingester();
  Ingester(const Ingester&) = delete;
  Ingester& operator=(const Ingester&) = delete;

  // Catches up with the entity topics, then consumes until `stop` is requested: finishes the
  // micro-batch in hand, commits it, and leaves the group. Returns an error only for what
  // retrying cannot fix (a fenced producer, a broken store); a broker outage is waited out.
  Status Run(std::stop_token stop);

  IngestCounters counters() const;

 private:
  class Impl;
  explicit Ingester(std::unique_ptr<Impl> impl);

  std::unique_ptr<Impl> impl_;
};

}  // namespace towerstream::ingest
