// Integration tests of ingest against the real broker (the `kafka` ctest fixture): end to end,
// bad events, missing-entity policies, lost local state, metrics. The Ingester runs in-process.
#include "common/ingest/ingester.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/events/dead_letter.h"
#include "common/metrics/naming.h"
#include "tests/harness/test_services.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::ingest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::Dataset;
using test_support::EventIdIn;

constexpr int kPartitions = 3;

class IngestIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> bootstrap = test_services::KafkaBootstrap();
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().ToString();
    bootstrap_ = *bootstrap;
    prefix_ = test_support::UniquePrefix("ingest");
    Result<std::unique_ptr<kafka::Producer>> producer = test_support::MakeProducer(bootstrap_);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  IngestOptions Options(const std::string& state = "state") const {
    IngestOptions options;
    options.kafka.Set("bootstrap.servers", bootstrap_);
    options.topic_prefix = prefix_;
    options.partitions = kPartitions;
    options.store.path = (dir_.path() / state).string();
    options.max_batch_delay = milliseconds(50);
    options.park_recheck_interval = milliseconds(200);
    return options;
  }

  std::string Topic(std::string_view name) const { return prefix_ + std::string(name); }

  // Runs an Ingester until `done` holds for its counters (or `timeout`), then stops it.
  IngestCounters RunUntil(const IngestOptions& options,
                          const std::function<bool(const IngestCounters&)>& done,
                          seconds timeout = seconds(60),
                          const std::function<void()>& while_running = {}) {
    Result<std::unique_ptr<Ingester>> ingester = Ingester::Create(options, registry_);
    EXPECT_TRUE(ingester.ok()) << ingester.status().ToString();
    if (!ingester.ok()) return {};
    Status run_status;
    std::stop_source stop;
    std::thread runner([&] { run_status = (*ingester)->Run(stop.get_token()); });
    if (while_running) while_running();
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done((*ingester)->counters()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    stop.request_stop();
    runner.join();
    EXPECT_TRUE(run_status.ok()) << run_status.ToString();
    return (*ingester)->counters();
  }

  void ProduceRaw(int32_t partition, const std::string& key, const std::string& value) {
    const Status s = producer_->Produce({.topic = Topic(events::kTransactionsTopic),
                                         .partition = partition,
                                         .key = key,
                                         .value = value,
                                         .headers = {}});
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::vector<kafka::Message> Read(std::string_view topic, size_t count) {
    Result<std::vector<kafka::Message>> messages =
        test_support::ReadCommitted(bootstrap_, Topic(topic), count, seconds(60));
    EXPECT_TRUE(messages.ok()) << messages.status().ToString();
    return messages.ok() ? *messages : std::vector<kafka::Message>{};
  }

  std::map<std::string, events::ExampleEvent> ReadExamples(size_t count) {
    std::vector<std::string> duplicates;
    std::map<std::string, events::ExampleEvent> examples =
        test_support::DecodeExamples(Read(events::kExamplesTopic, count), &duplicates);
    EXPECT_TRUE(duplicates.empty()) << duplicates.size() << " duplicates, e.g. " << duplicates[0];
    return examples;
  }

  // Creates the topics with the dataset's partition count and produces its entities.
  void ProduceEntities(const Dataset& dataset) {
    const Status created = test_support::CreateTopics(*producer_, prefix_, dataset.partitions);
    ASSERT_TRUE(created.ok()) << created.ToString();
    const Status s = test_support::ProduceEntities(*producer_, prefix_, dataset);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void ProduceTransactions(std::span<const Dataset::Transaction> transactions) {
    const Status s = test_support::ProduceTransactions(*producer_, prefix_, transactions);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  std::string bootstrap_;
  std::string prefix_;
  std::unique_ptr<kafka::Producer> producer_;
  ::towerstream::testing::ScopedTempDir dir_{"ingest_it"};
  prometheus::Registry registry_;
};

TEST_F(IngestIntegrationTest, EveryTransactionEndsAsExactlyOneExampleOrDeadLetter) {
  const Dataset d = test_support::MakeDataset(300, 100, 3000, kPartitions, /*seed=*/7);
  ProduceEntities(d);
  // Every 100th transaction is made invalid (negative price) but keeps its event_id.
  std::vector<Dataset::Transaction> good;
  std::set<std::string> bad_ids;
  for (size_t i = 0; i < d.transactions.size(); ++i) {
    Dataset::Transaction t = d.transactions[i];
    if (i % 100 == 50) {
      t.event.transaction.price = -1;
      bad_ids.insert(t.event.event_id);
    } else {
      good.push_back(t);
    }
    ProduceRaw(t.partition, t.event.transaction.customer_id,
               events::EncodeTransactionEvent(t.event));
  }
  ASSERT_TRUE(producer_->Flush(seconds(30)).ok());

  const IngestCounters counters = RunUntil(Options(), [&](const IngestCounters& c) {
    return c.examples + c.dead_lettered >= static_cast<int64_t>(d.transactions.size());
  });
  EXPECT_EQ(counters.examples, static_cast<int64_t>(good.size()));
  EXPECT_EQ(counters.dead_lettered, static_cast<int64_t>(bad_ids.size()));

  const std::map<std::string, events::ExampleEvent> examples = ReadExamples(good.size());
  const std::vector<kafka::Message> dead = Read(events::kDlqTopic, bad_ids.size());
  std::set<std::string> dead_ids;
  for (const kafka::Message& m : dead) {
    EXPECT_TRUE(dead_ids.insert(EventIdIn(m.value)).second) << "dead-lettered twice";
  }
  EXPECT_EQ(dead_ids, bad_ids);
  EXPECT_EQ(examples.size(), good.size());

  const auto expected = test_support::ExpectedHistories(good, events::kDefaultRecentArticles);
  std::map<std::string, const events::CustomerEvent*> customers;
  for (const events::CustomerEvent& c : d.customers) customers[c.customer.customer_id] = &c;
  for (const Dataset::Transaction& t : good) {
    const auto it = examples.find(t.event.event_id);
    ASSERT_NE(it, examples.end()) << "no example for " << t.event.event_id;
    const events::ExampleEvent& e = it->second;
    EXPECT_EQ(e.transaction, t.event.transaction) << t.event.event_id;
    EXPECT_EQ(e.recent_article_ids, expected.at(t.event.event_id)) << t.event.event_id;
    EXPECT_EQ(e.customer,
              events::CustomerFeaturesOf(customers.at(t.event.transaction.customer_id)->customer));
    EXPECT_TRUE(e.article.known);
    EXPECT_EQ(e.article.product_code, t.event.transaction.article_id / 1000);
  }
}

TEST_F(IngestIntegrationTest, ExamplesKeepTheirSourcePartitionAndCustomerKey) {
  const Dataset d = test_support::MakeDataset(50, 20, 300, kPartitions, /*seed=*/3);
  ProduceEntities(d);
  ProduceTransactions(d.transactions);
  RunUntil(Options(), [&](const IngestCounters& c) { return c.examples >= 300; });
  std::map<std::string, int32_t> partition_of;
  for (const Dataset::Transaction& t : d.transactions) partition_of[t.event.event_id] = t.partition;
  for (const kafka::Message& m : Read(events::kExamplesTopic, 300)) {
    const std::string id = EventIdIn(m.value);
    EXPECT_EQ(m.partition, partition_of.at(id)) << id;
    ASSERT_TRUE(m.key.has_value());
    EXPECT_NE(m.value.find(*m.key), std::string::npos) << "key is the customer_id";
  }
}

TEST_F(IngestIntegrationTest, BadEventsLandWhereTheRulesSay) {
  const Dataset d = test_support::MakeDataset(20, 10, 40, /*partitions=*/1, /*seed=*/5);
  ProduceEntities(d);
  const std::string customer = d.customers[0].customer.customer_id;
  int bad_count = 0;
  auto valid_json = [&](const std::string& replace_from, const std::string& replace_to) {
    events::TransactionEvent e = d.transactions[0].event;
    e.event_id = "bad-" + std::to_string(++bad_count);
    e.transaction.customer_id = customer;
    std::string json = events::EncodeTransactionEvent(e);
    const size_t at = json.find(replace_from);
    if (at != std::string::npos) json.replace(at, replace_from.size(), replace_to);
    return json;
  };
  struct Bad {
    const char* what;
    std::string payload;
    events::DlqReason reason;
  };
  const std::vector<Bad> bad = {
      {"not JSON", "this is not JSON {", events::DlqReason::kNotJson},
      {"missing field", valid_json("\"price\":", "\"cost\":"), events::DlqReason::kMissingField},
      {"bad date", valid_json("2019-01-01", "2019-02-30"), events::DlqReason::kInvalidField},
      {"negative price", valid_json("\"price\":", "\"price\":-"), events::DlqReason::kInvalidField},
      {"unknown schema_version", valid_json("\"schema_version\":1", "\"schema_version\":7"),
       events::DlqReason::kUnsupportedVersion},
      {"1 MB payload",
       valid_json("\"sales_channel_id\"",
                  "\"padding\":\"" + std::string(1'000'000, 'x') + "\",\"sales_channel_id\""),
       events::DlqReason::kTooLarge},
      {"invalid UTF-8", valid_json("\"event_id\":\"bad-", "\"event_id\":\"bad-\xff\xfe"),
       events::DlqReason::kInvalidUtf8},
  };
  // Good events, each bad one, then the unknown article, interleaved on the one partition:
  // offsets follow production order.
  std::vector<Dataset::Transaction> valid;  // what counts as a purchase, in stream order
  std::map<int64_t, const Bad*> bad_at;
  int64_t offset = 0;
  size_t next_good = 0;
  auto produce_good = [&](int n) {
    for (int i = 0; i < n; ++i, ++offset) {
      const Dataset::Transaction& t = d.transactions[next_good++];
      ProduceRaw(0, t.event.transaction.customer_id, events::EncodeTransactionEvent(t.event));
      valid.push_back(t);
    }
  };
  for (const Bad& b : bad) {
    produce_good(3);
    ProduceRaw(0, customer, b.payload);
    bad_at[offset++] = &b;
  }
  Dataset::Transaction unknown = d.transactions[next_good];
  unknown.event.event_id = "unknown-article";
  unknown.event.transaction.article_id = 999'999'999;
  ProduceRaw(0, unknown.event.transaction.customer_id,
             events::EncodeTransactionEvent(unknown.event));
  valid.push_back(unknown);
  ++offset;
  produce_good(3);
  ASSERT_TRUE(producer_->Flush(seconds(30)).ok());

  RunUntil(Options(),
           [&](const IngestCounters& c) { return c.examples + c.dead_lettered >= offset; });

  const std::vector<kafka::Message> dead = Read(events::kDlqTopic, bad.size());
  ASSERT_EQ(dead.size(), bad.size());
  for (const kafka::Message& m : dead) {
    std::vector<events::Header> headers;
    for (const kafka::Header& h : m.headers) headers.emplace_back(h.key, h.value);
    Result<events::DeadLetter> letter = events::ReadDeadLetter(m.key, m.value, headers);
    ASSERT_TRUE(letter.ok()) << letter.status().ToString();
    ASSERT_TRUE(bad_at.contains(letter->source_offset)) << letter->source_offset;
    const Bad& b = *bad_at.at(letter->source_offset);
    EXPECT_EQ(letter->reason, b.reason) << b.what << ": " << letter->error;
    EXPECT_EQ(letter->payload, b.payload) << b.what << ": payload unchanged";
    EXPECT_EQ(letter->key, customer) << b.what << ": key unchanged";
    EXPECT_EQ(letter->source_topic, Topic(events::kTransactionsTopic)) << b.what;
    EXPECT_EQ(letter->source_partition, 0) << b.what;
  }

  const std::map<std::string, events::ExampleEvent> examples = ReadExamples(valid.size());
  EXPECT_EQ(examples.size(), valid.size());
  const auto expected = test_support::ExpectedHistories(valid, events::kDefaultRecentArticles);
  for (const Dataset::Transaction& t : valid) {
    ASSERT_TRUE(examples.contains(t.event.event_id)) << t.event.event_id;
    EXPECT_EQ(examples.at(t.event.event_id).recent_article_ids, expected.at(t.event.event_id))
        << t.event.event_id;
  }
  const events::ExampleEvent& cold = examples.at("unknown-article");
  EXPECT_FALSE(cold.article.known);
  EXPECT_TRUE(cold.customer.known);
}

TEST_F(IngestIntegrationTest, DlqPolicyDeadLettersUnknownArticles) {
  const Dataset d = test_support::MakeDataset(10, 5, 10, /*partitions=*/1, /*seed=*/9);
  ProduceEntities(d);
  Dataset::Transaction unknown = d.transactions[0];
  unknown.event.transaction.article_id = 999'999'999;
  std::vector<Dataset::Transaction> stream = {unknown, d.transactions[1]};
  ProduceTransactions(stream);
  IngestOptions options = Options();
  options.enrich.on_missing_entity = MissingEntityPolicy::kDeadLetter;
  RunUntil(options, [](const IngestCounters& c) { return c.examples + c.dead_lettered >= 2; });
  const std::vector<kafka::Message> dead = Read(events::kDlqTopic, 1);
  ASSERT_EQ(dead.size(), 1u);
  EXPECT_EQ(dead[0].HeaderValue(std::string(events::kDlqReasonHeader)), "unknown_article");
  EXPECT_EQ(dead[0].value, events::EncodeTransactionEvent(unknown.event));
  EXPECT_EQ(ReadExamples(1).size(), 1u);
}

TEST_F(IngestIntegrationTest, ParkedTransactionWaitsForItsArticle) {
  Dataset d = test_support::MakeDataset(10, 5, 12, /*partitions=*/1, /*seed=*/11);
  ProduceEntities(d);  // without the late article
  const hm::ArticleId late = 777'000'001;
  d.transactions[6].event.transaction.article_id = late;
  const std::string parked_id = d.transactions[6].event.event_id;
  ProduceTransactions(d.transactions);
  IngestOptions options = Options();
  options.enrich.on_missing_entity = MissingEntityPolicy::kPark;
  options.enrich.park_timeout = seconds(120);

  bool emitted_early = false;
  RunUntil(
      options, [](const IngestCounters& c) { return c.examples >= 12; }, seconds(60),
      [&] {
        // Everything else is enriched while the purchase of the late article waits.
        const auto deadline = std::chrono::steady_clock::now() + seconds(30);
        while (std::chrono::steady_clock::now() < deadline) {
          Result<std::vector<kafka::Message>> some = test_support::ReadCommitted(
              bootstrap_, Topic(events::kExamplesTopic), 11, seconds(10));
          if (some.ok() && some->size() >= 11) {
            for (const kafka::Message& m : *some) emitted_early |= EventIdIn(m.value) == parked_id;
            break;
          }
        }
        std::this_thread::sleep_for(milliseconds(500));  // a few park sweeps
        const Status s = producer_->Produce(
            {.topic = Topic(events::kArticlesTopic),
             .key = hm::FormatArticleId(late),
             .value = events::EncodeArticleEvent(test_support::MakeArticle(late)),
             .headers = {}});
        ASSERT_TRUE(s.ok() && producer_->Flush(seconds(10)).ok());
      });
  EXPECT_FALSE(emitted_early) << "emitted before its article arrived";
  const std::map<std::string, events::ExampleEvent> examples = ReadExamples(12);
  ASSERT_EQ(examples.size(), 12u);
  const events::ExampleEvent& e = examples.at(parked_id);
  EXPECT_TRUE(e.article.known);
  EXPECT_EQ(e.recent_article_ids,
            test_support::ExpectedHistories(d.transactions, events::kDefaultRecentArticles)
                .at(parked_id));
}

TEST_F(IngestIntegrationTest, APurchaseThatOutrunsItsEntitiesIsEnrichedWithThemNotParked) {
  // Replay sends the catalogue a moment before the purchases. An ingest already running reads
  // both at once, and its entity consumer may not have applied a customer yet when that
  // customer's first purchase comes: ingest reads the entity topics to their end before it
  // parks (or enriches cold, or dead-letters) anything.
  // Thousands of customers, as replay sends them: more than one fetch of the entity consumer.
  constexpr int kCustomers = 20'000;
  const Dataset d = test_support::MakeDataset(kCustomers, 50, kCustomers, /*partitions=*/3,
                                              /*seed=*/17);
  IngestOptions options = Options();
  options.enrich.on_missing_entity = MissingEntityPolicy::kPark;
  options.enrich.park_timeout = seconds(120);
  const IngestCounters counters = RunUntil(
      options, [](const IngestCounters& c) { return c.examples >= kCustomers; }, seconds(120),
      [&] {
        std::this_thread::sleep_for(seconds(1));  // running, caught up with no entities
        ProduceEntities(d);
        ProduceTransactions(d.transactions);
      });
  EXPECT_EQ(counters.parked, 0);
  const std::map<std::string, events::ExampleEvent> examples = ReadExamples(kCustomers);
  ASSERT_EQ(examples.size(), static_cast<size_t>(kCustomers));
  for (const auto& [id, e] : examples) {
    EXPECT_TRUE(e.article.known) << id;
    EXPECT_TRUE(e.customer.known) << id;
  }
}

TEST_F(IngestIntegrationTest, ParkedTransactionGoesColdAfterTheTimeout) {
  Dataset d = test_support::MakeDataset(10, 5, 3, /*partitions=*/1, /*seed=*/13);
  ProduceEntities(d);
  d.transactions[1].event.transaction.article_id = 777'000'002;  // never arrives
  ProduceTransactions(d.transactions);
  IngestOptions options = Options();
  options.enrich.on_missing_entity = MissingEntityPolicy::kPark;
  options.enrich.park_timeout = milliseconds(1500);
  const IngestCounters c =
      RunUntil(options, [](const IngestCounters& c) { return c.examples >= 3; });
  EXPECT_GE(c.parked, 1);
  const std::map<std::string, events::ExampleEvent> examples = ReadExamples(3);
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_FALSE(examples.at(d.transactions[1].event.event_id).article.known);
}

TEST_F(IngestIntegrationTest, RebuildsLostLocalHistoryFromTheStream) {
  const Dataset d = test_support::MakeDataset(40, 20, 1200, kPartitions, /*seed=*/17);
  ProduceEntities(d);
  const std::span<const Dataset::Transaction> all(d.transactions);
  ProduceTransactions(all.first(600));
  RunUntil(Options("first"), [](const IngestCounters& c) { return c.examples >= 600; });
  // A new instance of the group with an empty store (the old one lost, or the partitions moved
  // here) must rebuild the histories of what the group already committed.
  ProduceTransactions(all.subspan(600));
  const IngestCounters second =
      RunUntil(Options("second"), [](const IngestCounters& c) { return c.examples >= 600; });
  EXPECT_EQ(second.restored, 600);
  EXPECT_EQ(second.examples, 600);
  const std::map<std::string, events::ExampleEvent> examples = ReadExamples(1200);
  const auto expected = test_support::ExpectedHistories(all, events::kDefaultRecentArticles);
  ASSERT_EQ(examples.size(), 1200u);
  for (const Dataset::Transaction& t : all.subspan(600)) {
    EXPECT_EQ(examples.at(t.event.event_id).recent_article_ids, expected.at(t.event.event_id))
        << t.event.event_id;
  }
}

TEST_F(IngestIntegrationTest, ExportsItsMetricsUnderTheNamingRules) {
  const Dataset d = test_support::MakeDataset(10, 5, 50, kPartitions, /*seed=*/19);
  ProduceEntities(d);
  ProduceTransactions(d.transactions);
  RunUntil(Options(), [](const IngestCounters& c) { return c.examples >= 50; });
  const std::vector<prometheus::MetricFamily> families = registry_.Collect();
  const Status naming = metrics::CheckNaming(families);
  EXPECT_TRUE(naming.ok()) << naming.ToString();
  std::set<std::string> names;
  for (const prometheus::MetricFamily& f : families) names.insert(f.name);
  for (const char* name :
       {"towerstream_events_consumed_total", "towerstream_events_produced_total",
        "towerstream_events_enriched_total", "towerstream_events_dead_lettered_total",
        "towerstream_consumer_lag", "towerstream_enrichment_latency_seconds",
        "towerstream_rocksdb_latency_seconds", "towerstream_cache_hits_total",
        "towerstream_cache_misses_total", "towerstream_cache_hit_ratio",
        "towerstream_kafka_transactions_total"}) {
    EXPECT_TRUE(names.contains(name)) << name;
  }
}

}  // namespace
}  // namespace towerstream::ingest
