// Customer histories that follow the stream: the pipeline's articles, customers and
// transactions topics, read from their start on a thread of their own, so that a purchase
// produced now is in that customer's next query within a poll or two.
//
// It reads what ingest reads, with the same decoders, and keeps what a query needs in memory
// (serving::CustomerHistories: features, the last purchases, the ranker's purchase log and the
// week's best sellers), rather than reading ingest's RocksDB store: the store holds neither the
// ranker's view of the past nor the articles' recent sales, and a consumer of its own needs no
// coordination with a running ingest. It joins no consumer group and commits nothing: every
// `serve` reads the topics whole, read_committed, and a restart reads them again. Events that do
// not decode are counted and skipped (ingest dead-letters them).
//
// Purchases are applied in each partition's order, so each customer's (keyed by customer, one
// partition) stay in order; queries are dated the day after the newest purchase applied. The
// articles' sales and best sellers are recomputed at most every `refresh_interval`.
//
// Thread-safe: Read() holds a shared lock while the reader thread applies batches under an
// exclusive one, taken through a turnstile so that a stream of queries cannot starve it; the
// articles' sales are computed outside the lock and swapped in. Neither copyable nor movable; the
// destructor stops the thread and closes the consumer.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <stop_token>
#include <string>

#include "common/base/status.h"
#include "common/kafka/kafka_config.h"
#include "common/ranking/purchase_log.h"
#include "common/serving/history_source.h"

namespace towerstream::serving {

struct LiveHistoryOptions {
  // librdkafka properties; bootstrap.servers is required. Group, commit and isolation settings
  // are set here.
  kafka::KafkaConfig kafka;
  // The command reading the topics ("serve", "recommend"): it begins every error message.
  std::string client = "serve";
  // Prefix of the topic names (<prefix>hm.articles, hm.customers, hm.transactions).
  std::string topic_prefix;
  // Purchases kept per customer: the model's history length.
  size_t history_length = 20;
  ranking::PurchaseLogOptions purchase_log;
  // Longest time between recomputations of the articles' recent sales and best sellers while
  // purchases arrive (a customer's own purchases count at once).
  std::chrono::milliseconds refresh_interval{1000};
  // How long Start waits for the three topics to exist.
  std::chrono::milliseconds topic_timeout{30000};
  // Messages applied per exclusive lock: small enough that queries never wait long.
  size_t batch_size = 2000;

  Status Validate() const;
};

class LiveHistories final : public HistorySource {
 public:
  // Connects, finds the partitions of the three topics (waiting up to topic_timeout for them
  // to exist), notes where each ends now (the catch-up target) and starts reading them all from
  // their start. Errors name the broker, topic and reason.
  static Result<std::unique_ptr<LiveHistories>> Start(const LiveHistoryOptions& options);
  ~LiveHistories() override;
  LiveHistories(const LiveHistories&) = delete;
  LiveHistories& operator=(const LiveHistories&) = delete;

  // Blocks until every message that was in the topics at Start has been applied. Calls
  // `progress` about every `progress_every`. DeadlineExceeded after `timeout`; Unavailable when
  // `stop` is requested.
  Status WaitUntilCaughtUp(std::chrono::milliseconds timeout, std::stop_token stop = {},
                           const std::function<void(const HistoryFreshness&)>& progress = {},
                           std::chrono::milliseconds progress_every = std::chrono::seconds(5));

  void Read(const std::function<void(const CustomerHistories&)>& read) const override;
  HistoryFreshness Freshness() const override;

  // The last error of the consumer ("" when the latest poll succeeded): a broker that went
  // away shows here while the histories stay as they were.
  std::string last_error() const;

 private:
  class Impl;
  explicit LiveHistories(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace towerstream::serving
