// Ingester: the consume-enrich-produce loop, one Kafka transaction per micro-batch.
#include "common/ingest/ingester.h"

#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafkacpp.h>

#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <functional>
#include <future>
#include <map>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include "common/events/dead_letter.h"
#include "common/ingest/ingest_metrics.h"
#include "common/ingest/task_thread.h"
#include "common/ingest/transaction_decoder.h"
#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/kafka/errors.h"
#include "common/kafka/partition_list.h"
#include "common/kafka/producer.h"

namespace towerstream::ingest {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kAdminTimeout{30'000};
constexpr milliseconds kCommittedTimeout{30'000};
// How long a rebalance keeps retrying it: beyond the broker's default transaction timeout
// (60 s), within the consumer's max.poll.interval.ms (300 s).
constexpr milliseconds kCommittedPatience{150'000};
// The shortest gap between two looks at the parked records when entities keep arriving.
constexpr milliseconds kMinParkRecheck{200};
// A look at the parked records that has not reached their end by then is cut short.
constexpr milliseconds kMaxSweep{30'000};
constexpr milliseconds kGaugeInterval{1'000};
// A purchase missing its article or customer makes ingest read the entity topics to their end
// first (ReadEntitiesToTheirEnd) for at most this long, and, when that found nothing, not again
// before kEntityRecheck: a stream of genuinely unknown ids costs a broker round trip a second.
constexpr milliseconds kEntityCatchUpBudget{5'000};
constexpr milliseconds kEntityRecheck{1'000};
// Broker-side cap on one record batch (Kafka's default message.max.bytes): a dead letter
// must fit under it with its headers, or it is truncated.
constexpr int kBrokerMaxMessageBytes = 1'048'588;
// Back-off after an aborted transaction, so that a broker outage is not hammered.
constexpr milliseconds kAbortBackoff{500};

void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));
void Log(const char* format, ...) {
  std::fprintf(stderr, "towerstream ingest: ");
  va_list args;
  va_start(args, format);
  std::vfprintf(stderr, format, args);
  va_end(args);
  std::fputc('\n', stderr);
}

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

int64_t WallMillis() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string_view Payload(RdKafka::Message& m) {
  return {static_cast<const char*>(m.payload()), m.len()};
}

// The message's topic without the std::string that RdKafka::Message::topic_name() allocates.
std::string_view TopicOf(RdKafka::Message& m) { return rd_kafka_topic_name(m.c_ptr()->rkt); }

// What a failed step of a Kafka transaction calls for: Unavailable = abort the transaction,
// rewind and retry (librdkafka's "abortable" errors, and broker trouble); FailedPrecondition =
// this producer cannot go on (fenced by a newer incarnation, or another fatal error).
Status FromTxnError(RdKafka::Error* raw, std::string_view what) {
  if (raw == nullptr) return Status::Ok();
  const std::unique_ptr<RdKafka::Error> error(raw);
  std::string message =
      std::string(what) + ": " + error->str() + " (" + RdKafka::err2str(error->code()) + ")";
  if (error->is_fatal()) return Status::FailedPrecondition("fatal: " + std::move(message));
  return Status::Unavailable(std::move(message));
}

bool IsFatal(const Status& s) { return !s.ok() && s.code() != StatusCode::kUnavailable; }

std::optional<int64_t> HeaderNumber(RdKafka::Message& m, const std::string& name) {
  const RdKafka::Headers* headers = m.headers();
  if (headers == nullptr) return std::nullopt;
  const RdKafka::Headers::Header header = headers->get_last(name);
  if (header.err() != RdKafka::ERR_NO_ERROR || header.value() == nullptr) return std::nullopt;
  int64_t value = 0;
  const char* begin = header.value_string();
  const char* end = begin + header.value_size();
  const auto [ptr, ec] = std::from_chars(begin, end, value);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return value;
}

// The customer of a decoded transaction as store key (the decoder checked the id).
features::CustomerKey CustomerKeyOf(const events::TransactionEvent& event) {
  Result<features::CustomerKey> key = features::CustomerKeyFromId(event.transaction.customer_id);
  return key.ok() ? *key : features::CustomerKey{};
}

}  // namespace

Status IngestOptions::Validate() const {
  TS_RETURN_IF_ERROR(kafka.RequireBootstrapServers("ingest"));
  if (group.empty()) return Status::InvalidArgument("ingest: the consumer group is empty");
  if (instance.empty()) return Status::InvalidArgument("ingest: the instance name is empty");
  TS_RETURN_IF_ERROR(store.Validate());
  TS_RETURN_IF_ERROR(enrich.Validate());
  TS_RETURN_IF_ERROR(decode.Validate());
  if (enrich.history_length > store.history_length) {
    return Status::InvalidArgument("ingest: history length " +
                                   std::to_string(enrich.history_length) + " exceeds the store's " +
                                   std::to_string(store.history_length));
  }
  if (batch_size < 1) {
    return Status::InvalidArgument("ingest: batch size " + std::to_string(batch_size) +
                                   " is not >= 1");
  }
  if (max_batch_delay.count() < 1 || park_recheck_interval.count() < 1) {
    return Status::InvalidArgument("ingest: batch delay and park recheck interval must be >= 1 ms");
  }
  if (partitions < 1) {
    return Status::InvalidArgument("ingest: partitions " + std::to_string(partitions) +
                                   " is not >= 1");
  }
  return Status::Ok();
}

class Ingester::Impl : public RdKafka::RebalanceCb {
 public:
  Impl(const IngestOptions& options, prometheus::Registry& registry)
      : options_(options),
        topics_(MakeTopicNames(options.topic_prefix)),
        metrics_(registry, topics_) {}

  ~Impl() override {
    // The consumers call back into this object while they close.
    consumer_.reset();
    entity_consumer_.reset();
  }

  Status Init();
  Status Run(std::stop_token stop);
  IngestCounters counters() const;

  void rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                    std::vector<RdKafka::TopicPartition*>& partitions) override;

 private:
  // What the loop knows of one assigned partition of hm.transactions or the park topic.
  struct PartitionState {
    int64_t committed = -1;      // next offset the group has committed; -1 when none
    int64_t restore_until = -1;  // offsets below only rebuild the local history
  };
  using PartitionKey = std::pair<std::string, int32_t>;

  // A message of the micro-batch, decoded.
  struct Decoded {
    Status status;  // the decoder's error, if any
    events::TransactionEvent event;
    features::CustomerKey customer{};
  };

  // A micro-batch whose Kafka transaction is committing, and what to book when it is done.
  struct InFlight {
    std::map<PartitionKey, int64_t> first_offsets;
    std::map<PartitionKey, int64_t> next_offsets;
    int64_t messages = 0;
    int64_t examples = 0;
    int64_t cold_articles = 0;
    int64_t cold_customers = 0;
    int64_t parks = 0;
    int64_t restored = 0;
    std::vector<events::DlqReason> dead_letters;
    Clock::time_point started;
  };

  // One output of a micro-batch, produced once the batch is enriched.
  struct DeadLetterOut {
    size_t message;  // index into pending_
    events::DlqReason reason;
    std::string error;
  };

  static TopicNames MakeTopicNames(const std::string& prefix) {
    TopicNames names;
    static_cast<events::TopicNames&>(names) = events::TopicNames::WithPrefix(prefix);
    names.parked = prefix + std::string(kParkedTopic);
    return names;
  }

  Status CreateTopics();
  Status InitTransactions();
  Status CreateConsumers();

  // Entity topics: read everything up to their current end before the first transaction.
  Status CatchUpEntities(std::stop_token stop);
  // Applies up to `max_messages` entity records (waiting up to `wait` for the first).
  Status ApplyEntities(int max_messages, milliseconds wait);
  // Reads the entity topics up to where they end now (within kEntityCatchUpBudget), so that a
  // purchase that only outran the entity consumer (replay sends the catalogue a moment before
  // the purchases) is enriched with its entities rather than parked, enriched cold or
  // dead-lettered. Whether any record was applied.
  Result<bool> ReadEntitiesToTheirEnd();
  // Whether a new purchase of the batch being enriched misses its article or customer.
  bool MissesAnEntity() const;

  // Fills pending_ with up to batch_size messages or until max_batch_delay passes.
  Status FillBatch(std::stop_token stop);
  // Whether a parked message belongs to the running sweep; rewinds and pauses if not.
  bool AcceptParked(RdKafka::Message& m);
  void EndSweep(int32_t partition);
  void MaybeStartSweep();

  // Enriches and produces pending_ as one Kafka transaction and starts committing it on the
  // committer thread; on an abortable error aborts and rewinds the consumer so that the same
  // messages come again.
  Status ProcessBatch();
  // Encodes the examples, begins the transaction, produces the outcomes, waits for the
  // store `write` (its outcome in `written`), adds the offsets.
  Status Emit(const std::map<PartitionKey, int64_t>& next_offsets, std::future<void>& write,
              const Status& written);
  // Waits for the in-flight commit, if any. Committed: books it (counters, metrics, committed
  // offsets) and returns false. Aborted: aborts the transaction, rewinds the consumer to the
  // batch (and, with `rewind`, to what pending_ read after it), drops pending_, returns true.
  // Errors are fatal ones.
  Result<bool> CompleteInFlight(bool rewind);
  void Book(const InFlight& done);
  void CountAbort();
  // Decode pending_[begin, end) into decoded_ (on two threads), encode the examples of
  // outcomes_[begin, end) into encoded_.
  void DecodeRange(size_t begin, size_t end);
  void EncodeRange(size_t begin, size_t end);
  // Calls `produce` (a librdkafka produce call) again while the local queue is full.
  Status RetryWhileQueueFull(const std::function<RdKafka::ErrorCode()>& produce,
                             const std::string& topic, int32_t partition);
  Status Produce(const std::string& topic, int32_t partition, const void* key, size_t key_len,
                 std::string_view value, const std::vector<events::Header>& headers);
  // The hot path of Produce: no headers, and the topic handle looked up once.
  Status ProduceExample(int32_t partition, const std::string& key, const std::string& value);
  Status ProduceDeadLetter(RdKafka::Message& m, events::DlqReason reason, const std::string& error);
  // Runs `produce` inside a transaction of its own, retrying until it commits (or `stop`).
  Status CommitStandalone(const std::function<Status()>& produce);
  // Calls `call` (a librdkafka transaction call) again while it fails with a retriable error.
  Status RetryTransactionCall(const std::function<RdKafka::Error*()>& call, std::string_view what);
  Status CommitTransaction();
  Status AbortTransaction();
  void Rewind(const std::map<PartitionKey, int64_t>& first_offsets);

  // Lag, cache and vocabulary gauges, at most once a second unless `now`.
  void UpdateGauges(bool now = false);
  void LogConsumerError(RdKafka::Message& m);

  IngestOptions options_;
  TopicNames topics_;
  IngestMetrics metrics_;
  std::unique_ptr<features::FeatureStore> store_;
  std::unique_ptr<Enricher> enricher_;
  std::unique_ptr<kafka::Producer> producer_;
  // Declared after the producer: released before it.
  std::unique_ptr<RdKafka::Topic> examples_topic_;
  std::unique_ptr<kafka::Consumer> entity_consumer_;
  std::unique_ptr<kafka::Consumer> consumer_;
  int32_t transaction_partitions_ = 0;
  // The second core: half the decoding, and the store write.
  TaskThread helper_;
  // Commits one micro-batch's transaction while the next one is read and enriched. Declared
  // after the producer: stopped (its last commit done) before the producer goes.
  TaskThread committer_;
  std::optional<InFlight> in_flight_;
  std::future<void> commit_done_;
  Status commit_status_;  // set by the committer before commit_done_ becomes ready
  // An error met inside the rebalance callback, returned by the next FillBatch.
  Status callback_error_;

  // Micro-batch state, reused across batches.
  std::vector<std::unique_ptr<RdKafka::Message>> pending_;
  Clock::time_point batch_started_;
  std::vector<EnrichInput> inputs_;
  std::vector<size_t> input_message_;  // inputs_[i] came from pending_[input_message_[i]]
  std::vector<Decoded> decoded_;
  std::vector<EnrichOutcome> outcomes_;
  std::vector<std::string> encoded_;  // encoded_[j]: outcomes_[j]'s example as JSON
  std::vector<DeadLetterOut> dead_letters_;
  features::FeatureBatch batch_;
  features::FeatureBatch entity_batch_;

  std::map<PartitionKey, PartitionState> partitions_;  // the current assignment
  std::map<int32_t, int64_t> sweep_end_;               // parked partition -> end of this sweep
  std::vector<int32_t> parked_partitions_;             // assigned partitions of the park topic
  Clock::time_point sweep_started_;
  Clock::time_point last_sweep_;
  bool entities_since_sweep_ = false;
  std::vector<PartitionKey> entity_partitions_;  // every partition of the entity topics
  Clock::time_point last_fruitless_entity_check_{};
  bool sweep_due_ = true;
  Clock::time_point last_gauges_;
  Clock::time_point last_error_log_;

  // Run's stop flag, for the retry loops deep inside it.
  std::stop_token stop_;
  // Entity partitions read to their end (an end-of-partition event came).
  std::set<PartitionKey> entity_eof_;

  std::atomic<int64_t> consumed_{0};
  std::atomic<int64_t> examples_{0};
  std::atomic<int64_t> dead_lettered_{0};
  std::atomic<int64_t> parked_{0};
  std::atomic<int64_t> restored_{0};
  std::atomic<int64_t> entities_{0};
  std::atomic<int64_t> committed_transactions_{0};
  std::atomic<int64_t> aborted_transactions_{0};
};

// --- Setup

Status Ingester::Impl::Init() {
  TS_RETURN_IF_ERROR(options_.Validate());
  TS_ASSIGN_OR_RETURN(store_, features::FeatureStore::Open(options_.store));
  enricher_ = std::make_unique<Enricher>(*store_, options_.enrich);

  kafka::ProducerOptions producer;
  producer.config = options_.kafka;
  producer.config.Set("transactional.id",
                      options_.topic_prefix + options_.group + "." + options_.instance, "ingest");
  producer.config.SetDefault("compression.type", "lz4");
  producer.config.SetDefault("linger.ms", "5");
  producer.config.SetDefault("queue.buffering.max.messages", "1000000");
  producer.config.SetDefault("message.max.bytes", std::to_string(kBrokerMaxMessageBytes));
  TS_ASSIGN_OR_RETURN(producer_, kafka::Producer::Create(producer));
  // Topics first: a topic handle asks for the topic's metadata, and a broker that auto-creates
  // topics would then create hm.examples with its default partition count.
  TS_RETURN_IF_ERROR(CreateTopics());
  std::string error;
  examples_topic_.reset(
      RdKafka::Topic::create(&producer_->handle(), topics_.examples, nullptr, error));
  if (!examples_topic_) {
    return Status::Internal("topic handle for '" + topics_.examples + "': " + error);
  }
  TS_RETURN_IF_ERROR(InitTransactions());
  return CreateConsumers();
}

Status Ingester::Impl::CreateTopics() {
  const int p = options_.partitions;
  const std::map<std::string, std::string> compacted = {{"cleanup.policy", "compact"}};
  // As replay creates them (common/replay/topics.h), whichever of the two starts first.
  const std::map<std::string, std::string> kept = {{"retention.ms", "-1"}};
  TS_RETURN_IF_ERROR(kafka::CreateTopics(*producer_,
                                         {{topics_.articles, p, 1, compacted},
                                          {topics_.customers, p, 1, compacted},
                                          {topics_.transactions, p, 1, kept}},
                                         kAdminTimeout));
  TS_ASSIGN_OR_RETURN(transaction_partitions_,
                      kafka::PartitionCount(*producer_, topics_.transactions, kAdminTimeout));
  const int n = transaction_partitions_;
  TS_RETURN_IF_ERROR(kafka::CreateTopics(
      *producer_,
      {{topics_.examples, n, 1, kept}, {topics_.dlq, n, 1, {}}, {topics_.parked, n, 1, {}}},
      kAdminTimeout));
  // Examples and parked records go to their source's partition number.
  for (const std::string* topic : {&topics_.examples, &topics_.parked}) {
    TS_ASSIGN_OR_RETURN(int count, kafka::PartitionCount(*producer_, *topic, kAdminTimeout));
    if (count < n) {
      return Status::FailedPrecondition("topic '" + *topic + "' has " + std::to_string(count) +
                                        " partitions, fewer than the " + std::to_string(n) +
                                        " of '" + topics_.transactions + "'");
    }
  }
  return Status::Ok();
}

Status Ingester::Impl::InitTransactions() {
  // Completes or aborts what a previous incarnation of this instance left open, and fences it.
  const Clock::time_point deadline = Clock::now() + milliseconds(120'000);
  while (true) {
    const Status s = FromTxnError(producer_->handle().init_transactions(30'000),
                                  "initialise Kafka transactions");
    if (s.ok() || IsFatal(s) || Clock::now() >= deadline) return s;
    Log("%s; retrying", s.message().c_str());
  }
}

Status Ingester::Impl::CreateConsumers() {
  const std::string group = options_.topic_prefix + options_.group;
  kafka::ConsumerOptions entities;
  entities.config = options_.kafka;
  // Assigned by hand, never committed: entity positions live in the store, beside the data.
  entities.group_id = group + ".entities";
  entities.config.Set("enable.auto.commit", "false", "ingest");
  entities.config.Set("enable.partition.eof", "true", "ingest");
  TS_ASSIGN_OR_RETURN(entity_consumer_, kafka::Consumer::Create(entities));

  kafka::ConsumerOptions transactions;
  transactions.config = options_.kafka;
  transactions.group_id = group;
  transactions.rebalance_cb = this;
  transactions.config.Set("enable.auto.commit", "false", "ingest");
  transactions.config.Set("enable.auto.offset.store", "false", "ingest");
  transactions.config.Set("isolation.level", "read_committed", "ingest");
  transactions.config.Set("enable.partition.eof", "true", "ingest");
  // Range assigns partition p of both topics to the same instance: a parked purchase finds
  // its customer's history where it waits.
  transactions.config.Set("partition.assignment.strategy", "range", "ingest");
  transactions.config.SetDefault("group.instance.id", group + "." + options_.instance);
  // librdkafka stops fetching a partition for a whole second once its local queue holds
  // queued.min.messages (100000 by default): a fast consumer then drains it and stalls. The
  // queue stays bounded by queued.max.messages.kbytes (64 MiB per partition).
  transactions.config.SetDefault("queued.min.messages", "1000000");
  TS_ASSIGN_OR_RETURN(consumer_, kafka::Consumer::Create(transactions));
  return Status::Ok();
}

// --- Entities

Status Ingester::Impl::CatchUpEntities(std::stop_token stop) {
  kafka::PartitionList assignment;
  std::map<PartitionKey, int64_t> ends;  // where each entity partition ends now
  for (const std::string* topic : {&topics_.articles, &topics_.customers}) {
    TS_ASSIGN_OR_RETURN(int count, kafka::PartitionCount(*producer_, *topic, kAdminTimeout));
    for (int32_t p = 0; p < count; ++p) {
      entity_partitions_.push_back({*topic, p});
      TS_ASSIGN_OR_RETURN(std::optional<int64_t> stored, store_->Position(*topic, p));
      TS_ASSIGN_OR_RETURN(kafka::Watermarks marks,
                          kafka::QueryWatermarks(producer_->handle(), *topic, p, kAdminTimeout));
      const int64_t low = marks.low, high = marks.high;
      assignment.Add(*topic, p, stored ? *stored : RdKafka::Topic::OFFSET_BEGINNING);
      if (high > std::max(low, stored.value_or(0))) ends[{*topic, p}] = high;
    }
  }
  TS_RETURN_IF_ERROR(kafka::StatusFromRdKafka(entity_consumer_->handle().assign(assignment.get()),
                                              "assign the entity topics"));
  const Clock::time_point start = Clock::now();
  const int64_t before = entities_.load();
  while (!ends.empty() && !stop.stop_requested()) {
    TS_RETURN_IF_ERROR(ApplyEntities(20'000, milliseconds(200)));
    for (auto it = ends.begin(); it != ends.end();) {
      TS_ASSIGN_OR_RETURN(std::optional<int64_t> at,
                          store_->Position(it->first.first, it->first.second));
      const bool done = (at && *at >= it->second) || entity_eof_.contains(it->first);
      it = done ? ends.erase(it) : std::next(it);
    }
  }
  Log("caught up with %s and %s: %lld records in %.1f s", topics_.articles.c_str(),
      topics_.customers.c_str(), static_cast<long long>(entities_.load() - before),
      SecondsSince(start));
  return Status::Ok();
}

Result<bool> Ingester::Impl::ReadEntitiesToTheirEnd() {
  const Clock::time_point start = Clock::now();
  if (start - last_fruitless_entity_check_ < kEntityRecheck) return false;
  std::map<PartitionKey, int64_t> ends;
  for (const PartitionKey& where : entity_partitions_) {
    TS_ASSIGN_OR_RETURN(std::optional<int64_t> stored, store_->Position(where.first, where.second));
    TS_ASSIGN_OR_RETURN(kafka::Watermarks marks,
                        kafka::QueryWatermarks(producer_->handle(), where.first, where.second,
                                               kEntityCatchUpBudget));
    if (marks.high > std::max(marks.low, stored.value_or(0))) ends[where] = marks.high;
  }
  const int64_t before = entities_.load();
  while (!ends.empty() && Clock::now() - start < kEntityCatchUpBudget && !stop_.stop_requested()) {
    TS_RETURN_IF_ERROR(ApplyEntities(20'000, milliseconds(50)));
    for (auto it = ends.begin(); it != ends.end();) {
      TS_ASSIGN_OR_RETURN(std::optional<int64_t> at,
                          store_->Position(it->first.first, it->first.second));
      it = at && *at >= it->second ? ends.erase(it) : std::next(it);
    }
  }
  const bool applied = entities_.load() > before;
  if (!applied) last_fruitless_entity_check_ = Clock::now();
  return applied;
}

bool Ingester::Impl::MissesAnEntity() const {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    if (inputs_[i].kind != EnrichInput::Kind::kNew) continue;
    if (!outcomes_[i].article_known || !outcomes_[i].customer_known) return true;
  }
  return false;
}

Status Ingester::Impl::ApplyEntities(int max_messages, milliseconds wait) {
  std::vector<std::unique_ptr<RdKafka::Message>> bad;
  std::vector<std::pair<events::DlqReason, std::string>> reasons;
  int applied = 0;
  for (int i = 0; i < max_messages; ++i) {
    std::unique_ptr<RdKafka::Message> m(
        entity_consumer_->handle().consume(i == 0 ? static_cast<int>(wait.count()) : 0));
    if (m->err() == RdKafka::ERR__TIMED_OUT) break;
    if (m->err() == RdKafka::ERR__PARTITION_EOF) {
      entity_eof_.insert({m->topic_name(), m->partition()});
      continue;
    }
    if (m->err() != RdKafka::ERR_NO_ERROR) {
      LogConsumerError(*m);
      break;
    }
    entity_eof_.erase({m->topic_name(), m->partition()});
    const std::string topic = m->topic_name();
    entity_batch_.SetPosition(topic, m->partition(), m->offset() + 1);
    // A null value is a compaction tombstone: the record is gone from the topic, but examples
    // keep using the last features seen.
    if (m->payload() == nullptr) continue;
    Status decoded;
    if (topic == topics_.articles) {
      metrics_.consumed_articles.Increment();
      Result<events::ArticleEvent> e = events::DecodeArticleEvent(Payload(*m), options_.decode);
      if (e.ok()) {
        entity_batch_.PutArticle(e->article.article_id, events::ArticleFeaturesOf(e->article));
      }
      decoded = e.status();
    } else {
      metrics_.consumed_customers.Increment();
      Result<events::CustomerEvent> e = events::DecodeCustomerEvent(Payload(*m), options_.decode);
      if (e.ok()) {
        Result<features::CustomerKey> key = features::CustomerKeyFromId(e->customer.customer_id);
        decoded = key.status();
        if (key.ok()) entity_batch_.PutCustomer(*key, events::CustomerFeaturesOf(e->customer));
      } else {
        decoded = e.status();
      }
    }
    if (decoded.ok()) {
      ++applied;
    } else {
      reasons.emplace_back(events::DecodeErrorReason(decoded), decoded.message());
      bad.push_back(std::move(m));
    }
  }
  if (!bad.empty()) {
    // Dead letters commit before the positions that skip them are stored: a crash in between
    // repeats a dead letter rather than losing it (at least once for entity topics).
    TS_RETURN_IF_ERROR(CommitStandalone([&]() -> Status {
      for (size_t i = 0; i < bad.size(); ++i) {
        TS_RETURN_IF_ERROR(ProduceDeadLetter(*bad[i], reasons[i].first, reasons[i].second));
      }
      return Status::Ok();
    }));
    for (const auto& [reason, error] : reasons) metrics_.DeadLettered(reason).Increment();
    metrics_.produced_dlq.Increment(static_cast<double>(bad.size()));
    dead_lettered_ += static_cast<int64_t>(bad.size());
  }
  if (entity_batch_.empty()) return Status::Ok();
  const Clock::time_point write_start = Clock::now();
  TS_RETURN_IF_ERROR(store_->Write(&entity_batch_));
  metrics_.rocksdb_write_latency.Observe(SecondsSince(write_start));
  entities_ += applied;
  if (applied > 0) entities_since_sweep_ = true;
  return Status::Ok();
}

// --- Rebalances

void Ingester::Impl::rebalance_cb(RdKafka::KafkaConsumer* consumer, RdKafka::ErrorCode err,
                                  std::vector<RdKafka::TopicPartition*>& partitions) {
  // Only called from consume() and close(): never while a micro-batch is being processed, so
  // the work in hand is the unprocessed pending_ messages and the commit in flight. The commit
  // is waited for (a revoked partition's next owner must see it done or undone); if it failed,
  // nothing needs rewinding: the partitions start again from their committed offsets.
  const Result<bool> completed = CompleteInFlight(/*rewind=*/false);
  if (!completed.ok() && callback_error_.ok()) callback_error_ = completed.status();
  pending_.clear();
  sweep_end_.clear();
  partitions_.clear();
  parked_partitions_.clear();
  if (err != RdKafka::ERR__ASSIGN_PARTITIONS) {
    // Revoked (or an error): what was not committed is the next owner's to read.
    consumer->unassign();
    return;
  }
  // Under read_committed, committed() waits until the offsets are stable, and an instance that
  // died inside a Kafka transaction holds them until the broker aborts it
  // (transaction.timeout.ms, a minute by default): so it is retried for longer than that.
  // Giving up early would hold partitions nobody reads (librdkafka keeps heartbeating, so the
  // group never rebalances by itself); giving up at all stops the ingest with an error, for
  // its supervisor to restart it, rather than stall silently.
  const Clock::time_point give_up = Clock::now() + kCommittedPatience;
  RdKafka::ErrorCode committed = RdKafka::ERR_NO_ERROR;
  while (true) {
    committed = consumer->committed(partitions, static_cast<int>(kCommittedTimeout.count()));
    if (committed == RdKafka::ERR_NO_ERROR || Clock::now() >= give_up) break;
    Log("cannot read the committed offsets yet (%s; a dead instance's transaction may hold "
        "them until the broker aborts it): retrying",
        RdKafka::err2str(committed).c_str());
  }
  if (committed != RdKafka::ERR_NO_ERROR) {
    if (callback_error_.ok()) {
      callback_error_ = Status::Unavailable(
          "cannot read the group's committed offsets of the partitions just assigned (" +
          RdKafka::err2str(committed) + ") for " +
          std::to_string(
              std::chrono::duration_cast<std::chrono::seconds>(kCommittedPatience).count()) +
          " s: stopping rather than holding partitions it cannot read");
    }
    consumer->unassign();
    return;
  }
  for (RdKafka::TopicPartition* tp : partitions) {
    PartitionState state;
    state.committed = tp->offset() >= 0 ? tp->offset() : -1;
    if (tp->topic() == topics_.transactions) {
      Result<std::optional<int64_t>> local = store_->Position(tp->topic(), tp->partition());
      const int64_t have = local.ok() && local->has_value() ? **local : -1;
      if (state.committed > 0 && have < state.committed) {
        // Another instance processed [have, committed) of this partition: re-read it into the
        // local history (no output) before producing anything from it.
        state.restore_until = state.committed;
        tp->set_offset(have >= 0 ? have : RdKafka::Topic::OFFSET_BEGINNING);
        Log("partition %d: local history ends at %lld, the group's offset is %lld: rebuilding",
            tp->partition(), static_cast<long long>(have), static_cast<long long>(state.committed));
      }
    } else {
      parked_partitions_.push_back(tp->partition());
    }
    partitions_[{tp->topic(), tp->partition()}] = state;
  }
  consumer->assign(partitions);
  // Parked records are read only during sweeps.
  kafka::PartitionList paused;
  for (int32_t p : parked_partitions_) paused.Add(topics_.parked, p, 0);
  if (!paused.empty()) consumer->pause(paused.get());
  sweep_due_ = true;
  Log("assigned %zu partitions", partitions.size());
}

// --- Park sweeps

void Ingester::Impl::MaybeStartSweep() {
  const Clock::time_point now = Clock::now();
  if (!sweep_end_.empty()) {
    if (now - sweep_started_ > kMaxSweep) {
      for (const auto& [p, end] : std::map<int32_t, int64_t>(sweep_end_)) EndSweep(p);
    }
    return;
  }
  const bool due = sweep_due_ || now - last_sweep_ >= options_.park_recheck_interval ||
                   (entities_since_sweep_ && now - last_sweep_ >= kMinParkRecheck);
  if (!due || parked_partitions_.empty()) return;
  last_sweep_ = now;
  sweep_due_ = false;
  entities_since_sweep_ = false;
  kafka::PartitionList resumed;
  for (int32_t p : parked_partitions_) {
    int64_t low = 0, high = 0;
    if (producer_->handle().query_watermark_offsets(topics_.parked, p, &low, &high, 5'000) !=
        RdKafka::ERR_NO_ERROR) {
      continue;  // the next sweep tries again
    }
    const int64_t at = std::max(partitions_[{topics_.parked, p}].committed, low);
    if (at >= high) continue;
    sweep_end_[p] = high;
    resumed.Add(topics_.parked, p, 0);
  }
  if (!resumed.empty()) {
    sweep_started_ = now;
    consumer_->handle().resume(resumed.get());
  }
}

bool Ingester::Impl::AcceptParked(RdKafka::Message& m) {
  const auto it = sweep_end_.find(m.partition());
  if (it != sweep_end_.end() && m.offset() < it->second) return true;
  // Parked after this sweep began (or a late message of a paused partition): the next sweep
  // reads it again from here.
  const std::unique_ptr<RdKafka::TopicPartition> tp(
      RdKafka::TopicPartition::create(topics_.parked, m.partition(), m.offset()));
  consumer_->handle().seek(*tp, 5'000);
  EndSweep(m.partition());
  return false;
}

void Ingester::Impl::EndSweep(int32_t partition) {
  kafka::PartitionList paused;
  paused.Add(topics_.parked, partition, 0);
  consumer_->handle().pause(paused.get());
  sweep_end_.erase(partition);
}

// --- The loop

Status Ingester::Impl::FillBatch(std::stop_token stop) {
  const Clock::time_point deadline = Clock::now() + options_.max_batch_delay;
  const auto limit = static_cast<size_t>(options_.batch_size);
  while (pending_.size() < limit && !stop.stop_requested()) {
    TS_RETURN_IF_ERROR(std::exchange(callback_error_, Status::Ok()));
    if (in_flight_ && commit_done_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
      TS_RETURN_IF_ERROR(CompleteInFlight(/*rewind=*/true).status());
    }
    const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) break;
    std::unique_ptr<RdKafka::Message> m(
        consumer_->handle().consume(static_cast<int>(std::min<int64_t>(left.count(), 100))));
    switch (m->err()) {
      case RdKafka::ERR_NO_ERROR:
        if (TopicOf(*m) == topics_.parked && !AcceptParked(*m)) break;
        if (pending_.empty()) batch_started_ = Clock::now();
        pending_.push_back(std::move(m));
        break;
      case RdKafka::ERR__PARTITION_EOF:
        if (TopicOf(*m) == topics_.parked) EndSweep(m->partition());
        break;
      case RdKafka::ERR__TIMED_OUT:
        break;
      case RdKafka::ERR__FATAL:
        return kafka::StatusFromRdKafka(m->err(), "consumer: " + m->errstr());
      default:
        LogConsumerError(*m);
        break;
    }
  }
  return Status::Ok();
}

void Ingester::Impl::DecodeRange(size_t begin, size_t end) {
  for (size_t i = begin; i < end; ++i) {
    Decoded& d = decoded_[i];
    Result<events::TransactionEvent> event =
        DecodeTransaction(Payload(*pending_[i]), options_.decode);
    d.status = event.status();
    if (!event.ok()) continue;
    d.event = std::move(event).value();
    d.customer = CustomerKeyOf(d.event);
  }
}

void Ingester::Impl::EncodeRange(size_t begin, size_t end) {
  for (size_t j = begin; j < end; ++j) {
    if (outcomes_[j].kind == EnrichOutcome::Kind::kExample) {
      encoded_[j] = events::EncodeExampleEvent(outcomes_[j].example);
    }
  }
}

Status Ingester::Impl::ProcessBatch() {
  inputs_.clear();
  input_message_.clear();
  dead_letters_.clear();
  batch_.Clear();
  std::map<PartitionKey, int64_t> first_offsets;
  std::map<PartitionKey, int64_t> next_offsets;
  int64_t restored = 0;

  // JSON decoding needs no state: half of it runs on the helper thread.
  const size_t n = pending_.size();
  decoded_.resize(n);
  {
    std::future<void> first_half = helper_.Submit([this, n] { DecodeRange(0, n / 2); });
    DecodeRange(n / 2, n);
    first_half.get();
  }

  int64_t* next = nullptr;  // next_offsets' entry for the partition of the run being read
  for (size_t i = 0; i < n; ++i) {
    RdKafka::Message& m = *pending_[i];
    const std::string_view topic = TopicOf(m);
    if (i == 0 || m.partition() != pending_[i - 1]->partition() ||
        topic != TopicOf(*pending_[i - 1])) {
      const PartitionKey where{std::string(topic), m.partition()};
      first_offsets.try_emplace(where, m.offset());
      next = &next_offsets[where];
    }
    *next = m.offset() + 1;
    const bool parked = topic == topics_.parked;
    (parked ? metrics_.consumed_parked : metrics_.consumed_transactions).Increment();

    EnrichInput& input = inputs_.emplace_back();
    if (parked) {
      input.kind = EnrichInput::Kind::kParked;
      const std::optional<int64_t> partition =
          HeaderNumber(m, std::string(kParkSourcePartitionHeader));
      const std::optional<int64_t> offset = HeaderNumber(m, std::string(kParkSourceOffsetHeader));
      const std::optional<int64_t> since = HeaderNumber(m, std::string(kParkSinceHeader));
      if (!partition || !offset || !since) {
        dead_letters_.push_back(
            {i, events::DlqReason::kMissingField, "parked record without its park.* headers"});
        inputs_.pop_back();
        continue;
      }
      input.position = {static_cast<int32_t>(*partition), *offset};
      input.parked_since_ms = *since;
    } else {
      const auto state = partitions_.find({topics_.transactions, m.partition()});
      const bool restoring = state != partitions_.end() && m.offset() < state->second.restore_until;
      input.kind = restoring ? EnrichInput::Kind::kRestore : EnrichInput::Kind::kNew;
      input.position = {m.partition(), m.offset()};
    }
    Decoded& d = decoded_[i];
    if (!d.status.ok()) {
      // A restored message was dead-lettered the first time round.
      if (input.kind != EnrichInput::Kind::kRestore) {
        dead_letters_.push_back({i, events::DecodeErrorReason(d.status), d.status.message()});
      }
      inputs_.pop_back();
      continue;
    }
    input.event = std::move(d.event);
    input.customer = d.customer;
    if (input.kind == EnrichInput::Kind::kRestore) ++restored;
    input_message_.push_back(i);
  }

  // The store already holds the previous batch's history (written before its commit began),
  // so this batch is enriched while that commit is still on its way.
  const Clock::time_point enrich_start = Clock::now();
  EnrichTimings timings;
  TS_RETURN_IF_ERROR(enricher_->Enrich(inputs_, WallMillis(), &batch_, &outcomes_, &timings));
  if (MissesAnEntity()) {
    // Reading entities may commit dead letters in a Kafka transaction of their own, so the
    // previous batch's must be done first (aborted, it rewound this batch too). Nothing of this
    // batch is written yet: enriching it again replaces what it staged.
    TS_ASSIGN_OR_RETURN(const bool previous_aborted, CompleteInFlight(/*rewind=*/true));
    if (previous_aborted) return Status::Ok();
    TS_ASSIGN_OR_RETURN(const bool applied, ReadEntitiesToTheirEnd());
    if (applied) {
      batch_.Clear();
      TS_RETURN_IF_ERROR(enricher_->Enrich(inputs_, WallMillis(), &batch_, &outcomes_, &timings));
    }
  }
  metrics_.enrichment_latency.Observe(SecondsSince(enrich_start));
  metrics_.rocksdb_multiget_latency.Observe(timings.lookup_seconds);
  metrics_.rocksdb_history_latency.Observe(timings.history_seconds);
  for (const auto& [where, offset] : next_offsets) {
    if (where.first == topics_.transactions) batch_.SetPosition(where.first, where.second, offset);
  }

  // The history and positions go to disk on the helper thread, while this one waits for the
  // previous commit, encodes and produces (the store is not touched here meanwhile). They are
  // on disk before this batch's transaction commits; if it never does (or the previous one
  // fails and this batch is read again), re-processing writes the very same keys and values.
  Status written;
  std::future<void> write = helper_.Submit([this, &written] {
    const Clock::time_point write_start = Clock::now();
    written = store_->Write(&batch_);
    metrics_.rocksdb_write_latency.Observe(SecondsSince(write_start));
  });
  struct Join {  // whatever happens below, the write finishes before batch_ changes
    std::future<void>& write;
    ~Join() {
      if (write.valid()) write.wait();
    }
  } join{write};

  // One Kafka transaction at a time: the previous one must be done before this one begins.
  TS_ASSIGN_OR_RETURN(const bool previous_aborted, CompleteInFlight(/*rewind=*/true));
  if (previous_aborted) return Status::Ok();  // this batch was rewound with it

  const Status emitted = Emit(next_offsets, write, written);
  if (!emitted.ok()) {
    if (IsFatal(emitted)) return emitted;
    Log("micro-batch of %zu messages aborted, re-reading it: %s", n, emitted.message().c_str());
    TS_RETURN_IF_ERROR(AbortTransaction());
    Rewind(first_offsets);
    CountAbort();
    pending_.clear();
    return Status::Ok();
  }

  InFlight& flight = in_flight_.emplace();
  flight.first_offsets = std::move(first_offsets);
  flight.next_offsets = std::move(next_offsets);
  flight.messages = static_cast<int64_t>(n);
  flight.restored = restored;
  flight.started = batch_started_;
  for (const EnrichOutcome& out : outcomes_) {
    if (out.kind == EnrichOutcome::Kind::kExample) {
      ++flight.examples;
      flight.cold_articles += out.article_known ? 0 : 1;
      flight.cold_customers += out.customer_known ? 0 : 1;
    } else if (out.kind == EnrichOutcome::Kind::kPark) {
      ++flight.parks;
    } else if (out.kind == EnrichOutcome::Kind::kDeadLetter) {
      flight.dead_letters.push_back(out.reason);
    }
  }
  for (const DeadLetterOut& d : dead_letters_) flight.dead_letters.push_back(d.reason);
  commit_done_ = committer_.Submit([this] { commit_status_ = CommitTransaction(); });
  pending_.clear();
  return Status::Ok();
}

Result<bool> Ingester::Impl::CompleteInFlight(bool rewind) {
  if (!in_flight_) return false;
  commit_done_.get();
  InFlight done = std::move(*in_flight_);
  in_flight_.reset();
  if (commit_status_.ok()) {
    Book(done);
    return false;
  }
  if (IsFatal(commit_status_)) return commit_status_;
  Log("micro-batch of %lld messages aborted, re-reading it: %s",
      static_cast<long long>(done.messages), commit_status_.message().c_str());
  TS_RETURN_IF_ERROR(AbortTransaction());
  if (rewind) {
    // Whatever was read after it goes back too; for a partition in both, the earlier offset.
    std::map<PartitionKey, int64_t> from = std::move(done.first_offsets);
    for (const std::unique_ptr<RdKafka::Message>& m : pending_) {
      from.try_emplace({std::string(TopicOf(*m)), m->partition()}, m->offset());
    }
    Rewind(from);
  }
  pending_.clear();
  CountAbort();
  return true;
}

void Ingester::Impl::Book(const InFlight& done) {
  for (const auto& [where, next] : done.next_offsets) {
    PartitionState& state = partitions_[where];
    state.committed = std::max(state.committed, next);
  }
  for (events::DlqReason reason : done.dead_letters) metrics_.DeadLettered(reason).Increment();
  const auto dead = static_cast<int64_t>(done.dead_letters.size());
  metrics_.produced_dlq.Increment(static_cast<double>(dead));
  metrics_.enriched.Increment(static_cast<double>(done.examples));
  metrics_.produced_examples.Increment(static_cast<double>(done.examples));
  metrics_.cold_articles.Increment(static_cast<double>(done.cold_articles));
  metrics_.cold_customers.Increment(static_cast<double>(done.cold_customers));
  metrics_.parked.Increment(static_cast<double>(done.parks));
  metrics_.produced_parked.Increment(static_cast<double>(done.parks));
  metrics_.restored.Increment(static_cast<double>(done.restored));
  metrics_.transactions_committed.Increment();
  metrics_.batch_latency.Observe(SecondsSince(done.started));
  dead_lettered_ += dead;
  examples_ += done.examples;
  parked_ += done.parks;
  restored_ += done.restored;
  consumed_ += done.messages;
  ++committed_transactions_;
}

void Ingester::Impl::CountAbort() {
  ++aborted_transactions_;
  metrics_.transactions_aborted.Increment();
  std::this_thread::sleep_for(kAbortBackoff);
}

Status Ingester::Impl::Emit(const std::map<PartitionKey, int64_t>& next_offsets,
                            std::future<void>& write, const Status& written) {
  encoded_.resize(outcomes_.size());
  EncodeRange(0, outcomes_.size());

  RdKafka::Producer& producer = producer_->handle();
  TS_RETURN_IF_ERROR(FromTxnError(producer.begin_transaction(), "begin a Kafka transaction"));
  const int64_t now_ms = WallMillis();
  for (size_t j = 0; j < inputs_.size(); ++j) {
    const EnrichInput& in = inputs_[j];
    const EnrichOutcome& out = outcomes_[j];
    RdKafka::Message& m = *pending_[input_message_[j]];
    const std::string& customer_id = in.event.transaction.customer_id;
    switch (out.kind) {
      case EnrichOutcome::Kind::kExample:
        TS_RETURN_IF_ERROR(ProduceExample(in.position.partition, customer_id, encoded_[j]));
        break;
      case EnrichOutcome::Kind::kPark: {
        const int64_t since = in.kind == EnrichInput::Kind::kParked ? in.parked_since_ms : now_ms;
        TS_RETURN_IF_ERROR(Produce(
            topics_.parked, in.position.partition, customer_id.data(), customer_id.size(),
            Payload(m),
            {{std::string(kParkSourcePartitionHeader), std::to_string(in.position.partition)},
             {std::string(kParkSourceOffsetHeader), std::to_string(in.position.offset)},
             {std::string(kParkSinceHeader), std::to_string(since)}}));
        break;
      }
      case EnrichOutcome::Kind::kDeadLetter:
        TS_RETURN_IF_ERROR(ProduceDeadLetter(
            m, out.reason,
            "article " + hm::FormatArticleId(in.event.transaction.article_id) + " is unknown"));
        break;
      case EnrichOutcome::Kind::kNone:
        break;
    }
  }
  for (const DeadLetterOut& d : dead_letters_) {
    TS_RETURN_IF_ERROR(ProduceDeadLetter(*pending_[d.message], d.reason, d.error));
  }

  write.get();
  if (!written.ok()) return Status::FailedPrecondition(written.ToString());

  kafka::PartitionList offsets;
  for (const auto& [where, next] : next_offsets) {
    offsets.Add(where.first, where.second, std::max(next, partitions_[where].committed));
  }
  const std::unique_ptr<RdKafka::ConsumerGroupMetadata> group(consumer_->handle().groupMetadata());
  return FromTxnError(producer.send_offsets_to_transaction(offsets.get(), group.get(), 30'000),
                      "send the consumed offsets to the transaction");
}

Status Ingester::Impl::RetryTransactionCall(const std::function<RdKafka::Error*()>& call,
                                            std::string_view what) {
  for (int attempt = 1;; ++attempt) {
    RdKafka::Error* error = call();
    if (error == nullptr) return Status::Ok();
    const bool retry = error->is_retriable() && attempt < 10;
    const Status s = FromTxnError(error, what);
    if (!retry) return s;
    Log("%s; retrying", s.message().c_str());
  }
}

Status Ingester::Impl::CommitTransaction() {
  return RetryTransactionCall([this] { return producer_->handle().commit_transaction(-1); },
                              "commit the Kafka transaction");
}

Status Ingester::Impl::AbortTransaction() {
  const Status s = RetryTransactionCall(
      [this] { return producer_->handle().abort_transaction(-1); }, "abort the Kafka transaction");
  // A transaction that cannot even be aborted leaves nothing to go on with.
  return s.ok() || IsFatal(s) ? s : Status::FailedPrecondition(s.message());
}

Status Ingester::Impl::CommitStandalone(const std::function<Status()>& produce) {
  TS_RETURN_IF_ERROR(CompleteInFlight(/*rewind=*/true).status());
  while (true) {
    Status s = FromTxnError(producer_->handle().begin_transaction(), "begin a Kafka transaction");
    if (s.ok()) s = produce();
    if (s.ok()) s = CommitTransaction();
    if (s.ok() || IsFatal(s)) return s;
    Log("transaction aborted, retrying: %s", s.message().c_str());
    TS_RETURN_IF_ERROR(AbortTransaction());
    if (stop_.stop_requested()) return s;
    std::this_thread::sleep_for(kAbortBackoff);
  }
}

void Ingester::Impl::Rewind(const std::map<PartitionKey, int64_t>& first_offsets) {
  for (const auto& [where, offset] : first_offsets) {
    const std::unique_ptr<RdKafka::TopicPartition> tp(
        RdKafka::TopicPartition::create(where.first, where.second, offset));
    const RdKafka::ErrorCode err = consumer_->handle().seek(*tp, 10'000);
    if (err != RdKafka::ERR_NO_ERROR) {
      Log("cannot rewind %s partition %d to %lld: %s", where.first.c_str(), where.second,
          static_cast<long long>(offset), RdKafka::err2str(err).c_str());
    }
  }
}

Status Ingester::Impl::RetryWhileQueueFull(const std::function<RdKafka::ErrorCode()>& produce,
                                           const std::string& topic, int32_t partition) {
  const Clock::time_point deadline = Clock::now() + milliseconds(30'000);
  while (true) {
    const RdKafka::ErrorCode code = produce();
    if (code == RdKafka::ERR_NO_ERROR) return Status::Ok();
    if (code != RdKafka::ERR__QUEUE_FULL || Clock::now() >= deadline) {
      const Status s = kafka::StatusFromRdKafka(
          code, "produce to '" + topic + "' partition " + std::to_string(partition));
      return code == RdKafka::ERR_MSG_SIZE_TOO_LARGE ? Status::InvalidArgument(s.message())
                                                     : Status::Unavailable(s.message());
    }
    producer_->handle().poll(10);  // serving delivery reports frees queue space
  }
}

Status Ingester::Impl::Produce(const std::string& topic, int32_t partition, const void* key,
                               size_t key_len, std::string_view value,
                               const std::vector<events::Header>& headers) {
  std::unique_ptr<RdKafka::Headers> owned;
  if (!headers.empty()) {
    owned.reset(RdKafka::Headers::create());
    for (const auto& [name, v] : headers) owned->add(name, v.data(), v.size());
  }
  TS_RETURN_IF_ERROR(RetryWhileQueueFull(
      [&] {
        return producer_->handle().produce(
            topic, partition, RdKafka::Producer::RK_MSG_COPY, const_cast<char*>(value.data()),
            value.size(), key, key_len, /*timestamp=*/0, owned.get(), /*msg_opaque=*/nullptr);
      },
      topic, partition));
  owned.release();  // librdkafka owns the headers of an enqueued message
  return Status::Ok();
}

Status Ingester::Impl::ProduceExample(int32_t partition, const std::string& key,
                                      const std::string& value) {
  return RetryWhileQueueFull(
      [&] {
        return producer_->handle().produce(
            examples_topic_.get(), partition, RdKafka::Producer::RK_MSG_COPY,
            const_cast<char*>(value.data()), value.size(), key.data(), key.size(),
            /*msg_opaque=*/nullptr);
      },
      topics_.examples, partition);
}

Status Ingester::Impl::ProduceDeadLetter(RdKafka::Message& m, events::DlqReason reason,
                                         const std::string& error) {
  events::DeadLetter letter;
  letter.reason = reason;
  letter.error = error;
  letter.source_topic = m.topic_name();
  letter.source_partition = m.partition();
  letter.source_offset = m.offset();
  const std::vector<events::Header> headers = events::DeadLetterHeaders(letter);
  const Status s = Produce(topics_.dlq, RdKafka::Topic::PARTITION_UA, m.key_pointer(), m.key_len(),
                           Payload(m), headers);
  if (s.code() != StatusCode::kInvalidArgument) return s;
  // The original plus the dlq.* headers is over the broker's limit: keep a prefix of the
  // payload (its reason and source say where the whole is) rather than blocking the stream.
  std::vector<events::Header> truncated = headers;
  truncated.emplace_back("dlq.payload.truncated.from", std::to_string(m.len()));
  return Produce(topics_.dlq, RdKafka::Topic::PARTITION_UA, m.key_pointer(), m.key_len(),
                 Payload(m).substr(0, kBrokerMaxMessageBytes / 2), truncated);
}

void Ingester::Impl::UpdateGauges(bool now) {
  const Clock::time_point time = Clock::now();
  if (!now && time - last_gauges_ < kGaugeInterval) return;
  last_gauges_ = time;
  metrics_.UpdateStore(*store_);
  kafka::PartitionList positions;
  for (const auto& [where, state] : partitions_) positions.Add(where.first, where.second, 0);
  if (positions.empty()) return;
  consumer_->handle().position(positions.get());
  for (RdKafka::TopicPartition* tp : positions.get()) {
    int64_t low = 0, high = 0;
    if (consumer_->handle().get_watermark_offsets(tp->topic(), tp->partition(), &low, &high) !=
            RdKafka::ERR_NO_ERROR ||
        high < 0) {
      continue;
    }
    // Before the first fetch the position is unknown: the committed offset stands in.
    const int64_t at = tp->offset() >= 0
                           ? tp->offset()
                           : std::max(partitions_[{tp->topic(), tp->partition()}].committed, low);
    metrics_.SetLag(tp->topic(), tp->partition(), std::max<int64_t>(0, high - at));
  }
}

void Ingester::Impl::LogConsumerError(RdKafka::Message& m) {
  // A broker outage yields an error per poll: one line every few seconds is enough.
  const Clock::time_point now = Clock::now();
  if (now - last_error_log_ < milliseconds(5'000)) return;
  last_error_log_ = now;
  Log("consumer: %s", m.errstr().c_str());
}

Status Ingester::Impl::Run(std::stop_token stop) {
  stop_ = stop;
  TS_RETURN_IF_ERROR(CatchUpEntities(stop));
  TS_RETURN_IF_ERROR(consumer_->Subscribe({topics_.transactions, topics_.parked}));
  Log("consuming %s (group %s%s)", topics_.transactions.c_str(), options_.topic_prefix.c_str(),
      options_.group.c_str());
  while (!stop.stop_requested()) {
    TS_RETURN_IF_ERROR(ApplyEntities(5'000, milliseconds(0)));
    MaybeStartSweep();
    TS_RETURN_IF_ERROR(FillBatch(stop));
    if (!pending_.empty()) {
      TS_RETURN_IF_ERROR(ProcessBatch());
    } else {
      TS_RETURN_IF_ERROR(CompleteInFlight(/*rewind=*/true).status());  // idle: book it now
    }
    UpdateGauges();
  }
  // Finish the batch in hand rather than leave it to be read again.
  if (!pending_.empty()) TS_RETURN_IF_ERROR(ProcessBatch());
  TS_RETURN_IF_ERROR(CompleteInFlight(/*rewind=*/true).status());
  UpdateGauges(/*now=*/true);
  Log("stopping: %lld examples, %lld dead letters, %lld transactions committed",
      static_cast<long long>(examples_.load()), static_cast<long long>(dead_lettered_.load()),
      static_cast<long long>(committed_transactions_.load()));
  return consumer_->Close();
}

IngestCounters Ingester::Impl::counters() const {
  return {consumed_.load(),
          examples_.load(),
          dead_lettered_.load(),
          parked_.load(),
          restored_.load(),
          entities_.load(),
          committed_transactions_.load(),
          aborted_transactions_.load()};
}

// --- Ingester

Ingester::Ingester(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Ingester::~Ingester() = default;

Result<std::unique_ptr<Ingester>> Ingester::Create(const IngestOptions& options,
                                                   prometheus::Registry& registry) {
  auto impl = std::make_unique<Impl>(options, registry);
  TS_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Ingester>(new Ingester(std::move(impl)));
}

Status Ingester::Run(std::stop_token stop) { return impl_->Run(std::move(stop)); }

IngestCounters Ingester::counters() const { return impl_->counters(); }

}  // namespace towerstream::ingest
