// Integration tests of replay against the real broker (the `kafka` ctest fixture): the engine
// in-process, and the towerstream binary as a child process for SIGKILL / SIGTERM and resume.
#include <gtest/gtest.h>

#include <signal.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "common/events/event_id.h"
#include "common/events/events.h"
#include "common/hm/hm_reader.h"
#include "common/kafka/producer.h"
#include "common/metrics/metrics_server.h"
#include "common/metrics/naming.h"
#include "common/replay/partitioner.h"
#include "common/replay/replay.h"
#include "common/replay/resume.h"
#include "common/replay/topics.h"
#include "tests/harness/test_services.h"
#include "tests/metrics/http_get.h"
#include "tests/replay/replay_test_support.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::replay {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

constexpr int kPartitions = 3;

int64_t Line(const kafka::Message& message) {
  return std::stoll(message.HeaderValue(std::string(kSourceLineHeader)).value_or("0"));
}

class ReplayIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> bootstrap = test_services::KafkaBootstrap();
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().ToString();
    bootstrap_ = *bootstrap;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    // Topics outlive a test on the shared broker: every run gets its own names.
    prefix_ = std::string("ts.replay.") + info->name() + "." +
              std::to_string(std::random_device{}()) + ".";
    topics_ = TopicNames::WithPrefix(prefix_);
    kafka::ProducerOptions producer_options;
    producer_options.config.Set("bootstrap.servers", bootstrap_);
    Result<std::unique_ptr<kafka::Producer>> producer = kafka::Producer::Create(producer_options);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    admin_ = std::move(producer).value();
  }

  ReplayOptions Options(const std::string& data_dir) const {
    ReplayOptions options;
    options.data_dir = data_dir;
    options.kafka.Set("bootstrap.servers", bootstrap_);
    options.partitions = kPartitions;
    options.topic_prefix = prefix_;
    options.progress_out = nullptr;
    options.report_out = nullptr;
    return options;
  }

  // Runs a replay to the end; the summary, or the error.
  Result<ReplaySummary> Replay(const ReplayOptions& options) {
    prometheus::Registry registry;
    return Replay(options, registry);
  }
  Result<ReplaySummary> Replay(const ReplayOptions& options, prometheus::Registry& registry) {
    TS_ASSIGN_OR_RETURN(std::unique_ptr<Replayer> replayer, Replayer::Create(options, registry));
    TS_RETURN_IF_ERROR(replayer->Run());
    return replayer->summary();
  }

  std::vector<kafka::Message> Read(const std::string& topic) {
    Result<std::vector<kafka::Message>> messages = testing::ReadTopic(bootstrap_, topic);
    EXPECT_TRUE(messages.ok()) << messages.status().ToString();
    return messages.ok() ? std::move(messages).value() : std::vector<kafka::Message>();
  }

  // Checks that `topic` holds each line of `expected_lines` exactly once, in line order within
  // each partition, on the partition its key hashes to.
  void ExpectEachLineOnce(const std::string& topic, const std::set<int64_t>& expected_lines) {
    std::map<int64_t, int> seen;
    std::map<int32_t, int64_t> last_line;
    for (const kafka::Message& message : Read(topic)) {
      const int64_t line = Line(message);
      ++seen[line];
      ASSERT_TRUE(message.key.has_value()) << topic << " line " << line;
      EXPECT_EQ(message.partition, PartitionForKey(*message.key, kPartitions))
          << topic << " line " << line;
      EXPECT_GT(line, last_line[message.partition])
          << topic << " partition " << message.partition << " out of line order";
      last_line[message.partition] = line;
    }
    for (const auto& [line, count] : seen) {
      EXPECT_EQ(count, 1) << topic << ": line " << line << " sent " << count << " times";
      EXPECT_TRUE(expected_lines.contains(line)) << topic << ": unexpected line " << line;
    }
    for (int64_t line : expected_lines) {
      EXPECT_TRUE(seen.contains(line)) << topic << ": line " << line << " missing";
    }
  }

  std::string bootstrap_;
  std::string prefix_;
  TopicNames topics_;
  std::unique_ptr<kafka::Producer> admin_;
  towerstream::testing::ScopedTempDir dir_{"replay_test"};
};

std::set<int64_t> LinesOf(const std::map<int64_t, hm::Transaction>& rows) {
  std::set<int64_t> lines;
  for (const auto& [line, row] : rows) lines.insert(line);
  return lines;
}

TEST_F(ReplayIntegrationTest, SendsEveryRowOnceKeyedPartitionedInOrderWithStableEventIds) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 300, 120, 4000, 20).ok());
  Result<ReplaySummary> summary = Replay(Options(data));
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_FALSE(summary->interrupted);
  ASSERT_EQ(summary->files.size(), 3u);
  EXPECT_EQ(summary->files[0].events_delivered, 120);
  EXPECT_EQ(summary->files[1].events_delivered, 300);
  EXPECT_EQ(summary->files[2].events_delivered, 4000);

  // Entities: one message per row, keyed by id, equal to the row.
  Result<std::vector<hm::Article>> articles = hm::ReadAll<hm::Article>(data + "/articles.csv");
  ASSERT_TRUE(articles.ok());
  std::map<std::string, hm::Article> article_by_key;
  for (const hm::Article& article : *articles) {
    article_by_key[hm::FormatArticleId(article.article_id)] = article;
  }
  const std::vector<kafka::Message> article_messages = Read(topics_.articles);
  ASSERT_EQ(article_messages.size(), articles->size());
  for (const kafka::Message& message : article_messages) {
    Result<events::ArticleEvent> event = events::DecodeArticleEvent(message.value);
    ASSERT_TRUE(event.ok()) << event.status().ToString();
    EXPECT_EQ(event->article, article_by_key.at(*message.key)) << *message.key;
    EXPECT_EQ(message.HeaderValue(std::string(kSourceFileHeader)), "articles.csv");
  }
  Result<std::vector<hm::Customer>> customers = hm::ReadAll<hm::Customer>(data + "/customers.csv");
  ASSERT_TRUE(customers.ok());
  std::set<std::string> customer_keys;
  for (const kafka::Message& message : Read(topics_.customers)) {
    Result<events::CustomerEvent> event = events::DecodeCustomerEvent(message.value);
    ASSERT_TRUE(event.ok()) << event.status().ToString();
    EXPECT_EQ(event->customer.customer_id, *message.key);
    EXPECT_TRUE(customer_keys.insert(*message.key).second) << "duplicate " << *message.key;
  }
  EXPECT_EQ(customer_keys.size(), customers->size());

  // Transactions: each source row once, as its event, with the row's event_id.
  const std::string transactions_path = data + "/transactions_train.csv";
  Result<std::map<int64_t, hm::Transaction>> rows = testing::TransactionsByLine(transactions_path);
  ASSERT_TRUE(rows.ok());
  ExpectEachLineOnce(topics_.transactions, LinesOf(*rows));
  std::set<std::string> event_ids;
  std::map<int32_t, Date> last_date;
  for (const kafka::Message& message : Read(topics_.transactions)) {
    const int64_t line = Line(message);
    Result<events::TransactionEvent> event = events::DecodeTransactionEvent(message.value);
    ASSERT_TRUE(event.ok()) << event.status().ToString();
    EXPECT_EQ(event->event_id, events::MakeTransactionEventId("transactions_train.csv", line));
    EXPECT_TRUE(event_ids.insert(event->event_id).second) << "duplicate event_id, line " << line;
    EXPECT_EQ(event->transaction, rows->at(line)) << "line " << line;
    EXPECT_EQ(*message.key, event->transaction.customer_id);
    EXPECT_GE(event->transaction.t_dat, last_date[message.partition]) << "line " << line;
    last_date[message.partition] = event->transaction.t_dat;
  }
}

TEST_F(ReplayIntegrationTest, FromIsInclusiveAndUntilExclusive) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 200, 80, 3000, 10).ok());
  ReplayOptions options = Options(data);
  options.send_entities = false;
  options.from = Date::FromCivil(2020, 1, 3);
  options.until = Date::FromCivil(2020, 1, 6);
  Result<ReplaySummary> summary = Replay(options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();

  Result<std::map<int64_t, hm::Transaction>> rows =
      testing::TransactionsByLine(data + "/transactions_train.csv");
  ASSERT_TRUE(rows.ok());
  std::set<int64_t> expected;
  std::set<Date> days;
  for (const auto& [line, row] : *rows) {
    if (row.t_dat >= *options.from && row.t_dat < *options.until) {
      expected.insert(line);
      days.insert(row.t_dat);
    }
  }
  ASSERT_EQ(days.size(), 3u) << "the generator should fill every day";
  ExpectEachLineOnce(topics_.transactions, expected);
  EXPECT_EQ(summary->files.at(0).events_delivered, static_cast<int64_t>(expected.size()));
  EXPECT_EQ(summary->last_event_date, Date::FromCivil(2020, 1, 5));
  EXPECT_TRUE(Read(topics_.articles).empty()) << "entities were not asked for";
}

constexpr char kCustomerA[] = "00000dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657";
constexpr char kCustomerB[] = "0000423b00ade91418cceaf3b26c6af3dd342b51fd051eec9c12fb36984420fa";

std::string TransactionsCsv(const std::vector<std::string>& rows) {
  std::string csv = std::string(hm::kTransactionsHeader) + "\n";
  for (const std::string& row : rows) csv += row + "\n";
  return csv;
}

TEST_F(ReplayIntegrationTest, ReportsCountsAndSkipsBadRows) {
  const std::string path = dir_.WriteFile(
      "transactions.csv",
      TransactionsCsv({std::string("2020-01-01,") + kCustomerA + ",0108775015,0.05,1",
                       std::string("2020-01-01,") + kCustomerA + ",0108775015,abc,1",  // line 3
                       std::string("2020-01-01,") + kCustomerB + ",0108775044,0.02,2",
                       "2020-01-02,not-a-customer,0108775015,0.05,1",  // line 5
                       std::string("2020-01-02,") + kCustomerB + ",0108775015,0.05,2"}));
  std::FILE* report = std::tmpfile();
  ASSERT_NE(report, nullptr);
  ReplayOptions options = Options(dir_.path().string());
  options.send_entities = false;
  options.report_out = report;
  prometheus::Registry registry;
  Result<ReplaySummary> summary = Replay(options, registry);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->files.at(0).rows_rejected, 2);
  EXPECT_EQ(summary->files.at(0).events_delivered, 3);
  ExpectEachLineOnce(topics_.transactions, {2, 4, 6});

  std::rewind(report);
  char buffer[4096] = {};
  const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, report);
  std::fclose(report);
  const std::string text(buffer, n);
  EXPECT_NE(text.find(path + ":3"), std::string::npos) << text;
  EXPECT_NE(text.find(path + ":5"), std::string::npos) << text;

  double rejected = -1;
  for (const auto& family : registry.Collect()) {
    if (family.name == "towerstream_replay_rows_rejected_total") {
      rejected = family.metric.at(0).counter.value;
    }
  }
  EXPECT_EQ(rejected, 2);
}

TEST_F(ReplayIntegrationTest, FailsNamingTheRowThatGoesBackInTime) {
  const std::string path = dir_.WriteFile(
      "transactions.csv",
      TransactionsCsv({std::string("2020-01-02,") + kCustomerA + ",0108775015,0.05,1",
                       std::string("2020-01-03,") + kCustomerA + ",0108775015,0.05,1",
                       std::string("2020-01-01,") + kCustomerB + ",0108775044,0.02,2"}));
  ReplayOptions options = Options(dir_.path().string());
  options.send_entities = false;
  Result<ReplaySummary> summary = Replay(options);
  ASSERT_FALSE(summary.ok());
  EXPECT_EQ(summary.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(summary.status().message().find(path + ":4"), std::string::npos)
      << summary.status().message();
  EXPECT_NE(summary.status().message().find("line 3"), std::string::npos)
      << summary.status().message();
}

TEST_F(ReplayIntegrationTest, RefusesTransactionsTopicWithAnotherPartitionCount) {
  dir_.WriteFile("transactions.csv",
                 TransactionsCsv({std::string("2020-01-02,") + kCustomerA + ",0108775015,0.05,1"}));
  ReplayOptions options = Options(dir_.path().string());
  options.send_entities = false;
  ASSERT_TRUE(Replay(options).ok());
  options.partitions = kPartitions + 1;
  Result<ReplaySummary> again = Replay(options);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(again.status().message().find(topics_.transactions), std::string::npos)
      << again.status().message();
}

TEST_F(ReplayIntegrationTest, RateLimitSpacesTransactions) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 100, 50, 2000, 5).ok());
  ReplayOptions options = Options(data);
  options.send_entities = false;
  options.rate = 4000;
  Result<ReplaySummary> summary = Replay(options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->files.at(0).events_delivered, 2000);
  // 2,000 events at 4,000/s take 0.5 s less one 10 ms burst; generous bounds, no flaking.
  EXPECT_GE(summary->seconds, 0.45);
  EXPECT_LT(summary->seconds, 30);
}

TEST_F(ReplayIntegrationTest, SpeedupPlaysEachDayInItsWallTimeSlot) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 100, 50, 600, 3).ok());
  ReplayOptions options = Options(data);
  options.send_entities = false;
  options.speedup = 86400 / 0.25;  // a day per quarter second
  Result<ReplaySummary> summary = Replay(options);
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  EXPECT_EQ(summary->files.at(0).events_delivered, 600);
  // The third day starts 0.5 s in and its events spread over 0.25 s more.
  EXPECT_GE(summary->seconds, 0.6);
  EXPECT_LT(summary->seconds, 30);
}

TEST_F(ReplayIntegrationTest, MetricsEndpointServesReplayCounters) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 100, 40, 500, 5).ok());
  auto registry = std::make_shared<prometheus::Registry>();
  metrics::MetricsServerOptions server_options;
  server_options.address = "127.0.0.1:0";
  server_options.service = "replay";
  Result<std::unique_ptr<metrics::MetricsServer>> server =
      metrics::MetricsServer::Start(server_options, registry);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  ASSERT_TRUE(Replay(Options(data), *registry).ok());

  Result<std::string> body = towerstream::testing::HttpGet((*server)->port());
  ASSERT_TRUE(body.ok()) << body.status().ToString();
  for (const std::string& expected :
       {"towerstream_events_produced_total{service=\"replay\",topic=\"" + topics_.transactions +
            "\"} 500",
        "towerstream_events_produced_total{service=\"replay\",topic=\"" + topics_.articles +
            "\"} 40",
        "towerstream_produce_errors_total{service=\"replay\",topic=\"" + topics_.transactions +
            "\"} 0",
        std::string(
            "towerstream_replay_event_time_seconds{service=\"replay\"} 1578182400"),  // 2020-01-05
        std::string("towerstream_replay_produce_latency_seconds_count{service=\"replay\"} 640"),
        std::string("towerstream_process_cpu_seconds_total{service=\"replay\"}")}) {
    EXPECT_NE(body->find(expected), std::string::npos) << expected << "\nin:\n" << *body;
  }
  const Status naming = metrics::CheckNaming(registry->Collect());
  EXPECT_TRUE(naming.ok()) << naming.ToString();
}

#ifndef TOWERSTREAM_BINARY
#error "TOWERSTREAM_BINARY (path of the towerstream executable) must be defined"
#endif

TEST_F(ReplayIntegrationTest, ResumeRefusesAChangedFileNamingItAndWhatChanged) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 200, 50, 2'000, 10).ok());
  ASSERT_TRUE(Replay(Options(data)).ok());
  for (const kafka::Message& message : Read(topics_.transactions)) {
    ASSERT_TRUE(message.HeaderValue(std::string(kSourceFingerprintHeader)).has_value())
        << "partition " << message.partition << " offset " << message.offset;
  }

  // Another dataset under the same name: the lines of the topics mean nothing for it.
  const std::string transactions = data + "/transactions_train.csv";
  std::string content;
  {
    std::ifstream in(transactions, std::ios::binary);
    content.assign(std::istreambuf_iterator<char>(in), {});
  }
  const std::string last_row = content.substr(content.rfind('\n', content.size() - 2) + 1);
  std::ofstream(transactions, std::ios::binary | std::ios::app) << last_row;

  ReplayOptions options = Options(data);
  options.resume = true;
  Result<ReplaySummary> resumed = Replay(options);
  ASSERT_FALSE(resumed.ok()) << "resumed onto a changed file";
  EXPECT_EQ(resumed.status().code(), StatusCode::kFailedPrecondition);
  const std::string message = resumed.status().message();
  EXPECT_NE(message.find("transactions_train.csv changed"), std::string::npos) << message;
  EXPECT_NE(message.find(std::to_string(content.size()) + " bytes then, " +
                         std::to_string(content.size() + last_row.size()) + " now"),
            std::string::npos)
      << message;
  EXPECT_EQ(testing::MessageCount(*admin_, topics_.transactions), 2'000) << "nothing sent";

  // The unchanged entity files would have resumed: only the changed file is refused.
  options.send_transactions = false;
  EXPECT_TRUE(Replay(options).ok());
}

TEST_F(ReplayIntegrationTest, ResumeAcceptsMessagesOfOlderReplaysWithoutFingerprint) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 200, 50, 2'000, 10).ok());
  const std::string transactions = data + "/transactions_train.csv";
  ASSERT_TRUE(EnsureTopics(*admin_, topics_, kPartitions, 1, seconds(30)).ok());
  // What a replay before source.fingerprint left: file and line headers only.
  kafka::Message old;
  old.topic = topics_.transactions;
  old.partition = 1;
  old.key = "old";
  old.value = "{}";
  old.headers = {{std::string(kSourceFileHeader), "transactions_train.csv"},
                 {std::string(kSourceLineHeader), "5"}};
  ASSERT_TRUE(admin_->Produce(old).ok());
  ASSERT_TRUE(admin_->Flush(seconds(30)).ok());

  Result<FileFingerprint> fingerprint = FingerprintFile(transactions);
  ASSERT_TRUE(fingerprint.ok()) << fingerprint.status().ToString();
  kafka::KafkaConfig config;
  config.Set("bootstrap.servers", bootstrap_);
  Result<ResumePoint> point =
      ReadResumePoint(config, topics_.transactions, transactions, *fingerprint, seconds(30));
  ASSERT_TRUE(point.ok()) << point.status().ToString();
  EXPECT_EQ(point->unfingerprinted_partitions(), 1);
  EXPECT_TRUE(point->AlreadySent(1, 5));
  EXPECT_FALSE(point->AlreadySent(1, 6));

  // The same message with the fingerprint of another file is refused.
  old.headers.push_back({std::string(kSourceFingerprintHeader),
                         FileFingerprint{.size = 1, .sample_xxh3 = 2}.ToString()});
  ASSERT_TRUE(admin_->Produce(old).ok());
  ASSERT_TRUE(admin_->Flush(seconds(30)).ok());
  point = ReadResumePoint(config, topics_.transactions, transactions, *fingerprint, seconds(30));
  ASSERT_FALSE(point.ok());
  EXPECT_NE(point.status().message().find("size 1 bytes then"), std::string::npos)
      << point.status().ToString();
}

class ReplayProcessTest : public ReplayIntegrationTest {
 protected:
  Result<testing::ChildProcess> StartReplay(const std::string& data,
                                            std::vector<std::string> extra) {
    std::vector<std::string> argv = {TOWERSTREAM_BINARY,
                                     "replay",
                                     "--data",
                                     data,
                                     "--kafka",
                                     "bootstrap.servers=" + bootstrap_,
                                     "--partitions",
                                     std::to_string(kPartitions),
                                     "--topic-prefix",
                                     prefix_,
                                     "--metrics-address",
                                     ""};
    argv.insert(argv.end(), extra.begin(), extra.end());
    return testing::ChildProcess::Start(argv, (dir_.path() / "child").string());
  }

  // Waits until `topic` holds at least `count` messages (or the child ends).
  void AwaitMessages(testing::ChildProcess& child, const std::string& topic, int64_t count) {
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    while (testing::MessageCount(*admin_, topic) < count) {
      ASSERT_TRUE(child.Running()) << "replay ended early: " << child.Stderr();
      ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no progress: " << child.Stderr();
      std::this_thread::sleep_for(milliseconds(50));
    }
  }

  // Each partition holds a prefix (in line order) of the rows that hash to it: no gaps.
  void ExpectPrefixPerPartition(const std::map<int64_t, hm::Transaction>& rows) {
    std::map<int32_t, std::vector<int64_t>> expected;  // lines per partition, in order
    for (const auto& [line, row] : rows) {
      expected[PartitionForKey(row.customer_id, kPartitions)].push_back(line);
    }
    std::map<int32_t, size_t> position;
    for (const kafka::Message& message : Read(topics_.transactions)) {
      size_t& next = position[message.partition];
      ASSERT_LT(next, expected[message.partition].size());
      ASSERT_EQ(Line(message), expected[message.partition][next])
          << "partition " << message.partition << " message " << next << " is not the next row";
      ++next;
    }
  }
};

TEST_F(ReplayProcessTest, ResumeAfterSigkillSendsEveryRowExactlyOnce) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 2000, 300, 60'000, 30).ok());
  Result<std::map<int64_t, hm::Transaction>> rows =
      testing::TransactionsByLine(data + "/transactions_train.csv");
  ASSERT_TRUE(rows.ok());

  // Paced so that the kill lands mid-run, after some messages are in.
  Result<testing::ChildProcess> child = StartReplay(data, {"--rate", "20000", "--quiet"});
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  AwaitMessages(*child, topics_.transactions, 10'000);
  child->Signal(SIGKILL);
  Result<int> killed = child->Wait(seconds(10));
  ASSERT_TRUE(killed.ok());
  EXPECT_EQ(*killed, 128 + SIGKILL);
  const int64_t before = testing::MessageCount(*admin_, topics_.transactions);
  ASSERT_LT(before, 60'000) << "the kill came too late to test resuming";
  ExpectPrefixPerPartition(*rows);

  ReplayOptions options = Options(data);
  options.resume = true;
  Result<ReplaySummary> resumed = Replay(options);
  ASSERT_TRUE(resumed.ok()) << resumed.status().ToString();
  EXPECT_EQ(resumed->files.at(0).rows_resumed, 300) << "articles were all in";
  EXPECT_EQ(resumed->files.at(2).rows_resumed, before);
  EXPECT_EQ(resumed->files.at(2).events_delivered, 60'000 - before);
  ExpectEachLineOnce(topics_.transactions, LinesOf(*rows));
  EXPECT_EQ(Read(topics_.articles).size(), 300u);
  EXPECT_EQ(Read(topics_.customers).size(), 2000u);
}

TEST_F(ReplayProcessTest, SigtermFlushesPrintsSummaryAndExitsInterrupted) {
  const std::string data = (dir_.path() / "data").string();
  ASSERT_TRUE(testing::GenerateData(data, 500, 100, 40'000, 20).ok());
  Result<testing::ChildProcess> child = StartReplay(data, {"--rate", "10000"});
  ASSERT_TRUE(child.ok()) << child.status().ToString();
  AwaitMessages(*child, topics_.transactions, 2'000);
  child->Signal(SIGTERM);
  Result<int> exit_status = child->Wait(seconds(60));
  ASSERT_TRUE(exit_status.ok());
  EXPECT_EQ(*exit_status, 128 + SIGTERM) << child->Stderr();
  EXPECT_NE(child->Stdout().find("interrupted"), std::string::npos) << child->Stdout();
  EXPECT_NE(child->Stderr().find("--resume"), std::string::npos) << child->Stderr();

  // Everything the summary counted as delivered is in, and resuming completes the set.
  Result<std::map<int64_t, hm::Transaction>> rows =
      testing::TransactionsByLine(data + "/transactions_train.csv");
  ASSERT_TRUE(rows.ok());
  ExpectPrefixPerPartition(*rows);
  Result<testing::ChildProcess> resumed = StartReplay(data, {"--resume", "--quiet"});
  ASSERT_TRUE(resumed.ok());
  Result<int> resumed_status = resumed->Wait(seconds(120));
  ASSERT_TRUE(resumed_status.ok());
  EXPECT_EQ(*resumed_status, 0) << resumed->Stderr();
  ExpectEachLineOnce(topics_.transactions, LinesOf(*rows));
}

}  // namespace
}  // namespace towerstream::replay
