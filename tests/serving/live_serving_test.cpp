// Serving that follows the stream, against the real broker: `serve --kafka` reads the
// pipeline's topics (filled by the real replay), answers with the same histories the files
// give, and a purchase produced afterwards changes that customer's history and ranking within
// seconds, while /status and /metrics say how fresh the histories are.
#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>
#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "common/events/event_id.h"
#include "common/events/events.h"
#include "common/kafka/producer.h"
#include "common/replay/replay.h"
#include "common/serving/customer_histories.h"
#include "common/serving/live_histories.h"
#include "common/serving/recommend_server.h"
#include "tests/harness/test_services.h"
#include "tests/serving/serving_test_support.h"
#include "tests/testing/temp_dir.h"
#include "tests/trainer/planted_data.h"

namespace towerstream::serving {
namespace {

using std::chrono::milliseconds;
using trainer::testing::PlantedCustomerId;

constexpr int kSegments = 8;
constexpr hm::ArticleId kFirstArticle = 100000000;  // planted article a is kFirstArticle + a

class LiveServingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new towerstream::testing::ScopedTempDir("live_serving");
    Result<int64_t> written = trainer::testing::WritePlantedData(data(), planted_);
    ASSERT_TRUE(written.ok()) << written.status().ToString();
    transactions_ = *written;
    const Status trained = testing::TrainSmallSnapshot(data(), snapshots(), 2);
    ASSERT_TRUE(trained.ok()) << trained.ToString();
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    Result<std::string> bootstrap = test_services::KafkaBootstrap();
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().ToString();
    bootstrap_ = *bootstrap;
    prefix_ = "live" + std::to_string(std::random_device()()) + ".";
  }

  // Sends the planted files to this test's topics through the real replay.
  void Replay() {
    replay::ReplayOptions options;
    options.data_dir = data().string();
    options.kafka.Set("bootstrap.servers", bootstrap_);
    options.partitions = 3;
    options.topic_prefix = prefix_;
    options.progress_out = nullptr;
    options.report_out = nullptr;
    prometheus::Registry registry;
    Result<std::unique_ptr<replay::Replayer>> replayer =
        replay::Replayer::Create(options, registry);
    ASSERT_TRUE(replayer.ok()) << replayer.status().ToString();
    const Status ran = (*replayer)->Run();
    ASSERT_TRUE(ran.ok()) << ran.ToString();
  }

  // A server whose histories follow this test's topics (caught up before it listens).
  std::unique_ptr<RecommendServer> StartServer() {
    RecommendServerOptions o;
    o.snapshot = snapshots();
    o.address = "127.0.0.1:0";
    o.threads = 2;
    o.request_log = "";
    o.history_source = [this](size_t history_length) -> Result<std::shared_ptr<HistorySource>> {
      LiveHistoryOptions live;
      live.kafka.Set("bootstrap.servers", bootstrap_);
      live.topic_prefix = prefix_;
      live.history_length = history_length;
      live.refresh_interval = milliseconds(100);
      TS_ASSIGN_OR_RETURN(std::unique_ptr<LiveHistories> histories, LiveHistories::Start(live));
      TS_RETURN_IF_ERROR(histories->WaitUntilCaughtUp(std::chrono::seconds(60)));
      return std::shared_ptr<HistorySource>(std::move(histories));
    };
    Result<std::unique_ptr<RecommendServer>> server = RecommendServer::Start(o);
    EXPECT_TRUE(server.ok()) << server.status().ToString();
    return server.ok() ? std::move(server).value() : nullptr;
  }

  nlohmann::json GetJson(const RecommendServer& server, const std::string& target) {
    Result<admin::AdminResponse> r = admin::HttpCall(server.address(), "GET", target);
    EXPECT_TRUE(r.ok()) << target << ": " << r.status().ToString();
    if (!r.ok()) return nullptr;
    EXPECT_EQ(r->status, 200) << target << " -> " << r->body;
    return nlohmann::json::parse(r->body, nullptr, false);
  }

  // Produces one purchase event for customer `customer` of `article` on `day`.
  void Buy(int customer, hm::ArticleId article, Date day, int line) {
    kafka::ProducerOptions options;
    options.config.Set("bootstrap.servers", bootstrap_);
    Result<std::unique_ptr<kafka::Producer>> producer = kafka::Producer::Create(options);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    events::TransactionEvent event;
    event.event_id = events::MakeTransactionEventId("live_serving_test", line);
    event.transaction.t_dat = day;
    event.transaction.customer_id = PlantedCustomerId(customer);
    event.transaction.article_id = article;
    event.transaction.price = 0.03;
    event.transaction.sales_channel_id = 2;
    kafka::Message message;
    message.topic = prefix_ + "hm.transactions";
    message.key = events::EventKey(event);
    message.value = events::EncodeTransactionEvent(event);
    ASSERT_TRUE((*producer)->Produce(message).ok());
    const Status flushed = (*producer)->Flush(std::chrono::seconds(30));
    ASSERT_TRUE(flushed.ok()) << flushed.ToString();
  }

  static std::vector<std::string> Ids(const nlohmann::json& answer, const char* field) {
    std::vector<std::string> ids;
    for (const nlohmann::json& a : answer[field]) {
      ids.push_back(a.is_string() ? a.get<std::string>() : a["article_id"].get<std::string>());
    }
    return ids;
  }

  static std::filesystem::path data() { return dir_->path() / "data"; }
  static std::filesystem::path snapshots() { return dir_->path() / "snapshots"; }
  static Date LastDay() { return planted_.start + (planted_.days - 1); }

  static inline trainer::testing::PlantedDataOptions planted_;
  static inline towerstream::testing::ScopedTempDir* dir_ = nullptr;
  static inline int64_t transactions_ = 0;
  std::string bootstrap_;
  std::string prefix_;
};

TEST_F(LiveServingTest, ServesTheStreamsHistoriesAndFollowsANewPurchaseWithinSeconds) {
  ASSERT_NO_FATAL_FAILURE(Replay());
  std::unique_ptr<RecommendServer> server = StartServer();
  ASSERT_NE(server, nullptr);

  // Caught up: the same histories as the files give, dated the day after the last purchase.
  const nlohmann::json status = GetJson(*server, "/status");
  EXPECT_EQ(status["histories"]["source"], "kafka");
  EXPECT_TRUE(status["histories"]["caught_up"].get<bool>());
  EXPECT_EQ(status["histories"]["newest_purchase"], LastDay().ToString());
  EXPECT_EQ(status["histories"]["as_of"], (LastDay() + 1).ToString());
  EXPECT_EQ(status["histories"]["bad_events_skipped"], 0);
  EXPECT_EQ(status["histories"]["lag_messages"], 0);
  CustomerHistoryOptions from_files;
  from_files.data_dir = data();
  Result<CustomerHistories> files = CustomerHistories::Load(from_files);
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  EXPECT_EQ(status["histories"]["transactions_applied"].get<int64_t>(), transactions_);
  for (const int c : {0, 7, 123, 599}) {
    const nlohmann::json answer =
        GetJson(*server, "/recommend?customer_id=" + PlantedCustomerId(c) + "&k=12");
    std::vector<std::string> expected;
    for (const hm::ArticleId a : files->RecentPurchases(model::CustomerKey(PlantedCustomerId(c)))) {
      expected.push_back(hm::FormatArticleId(a));
    }
    EXPECT_EQ(Ids(answer, "recent_purchases"), expected) << "customer " << c;
    EXPECT_EQ(answer["as_of"], (LastDay() + 1).ToString());
    EXPECT_EQ(answer["history_source"], "kafka");
    EXPECT_EQ(answer["newest_purchase"], LastDay().ToString());
    EXPECT_EQ(answer["recommendations"].size(), 12u);
    EXPECT_TRUE(answer["known"].get<bool>());
  }

  // Customer 7 (segment 7) buys three articles of segment 2 the next day: the purchases reach
  // the answer within seconds, and the ranking moves.
  constexpr int kCustomer = 7;
  const std::string target = "/recommend?customer_id=" + PlantedCustomerId(kCustomer) + "&k=12";
  const nlohmann::json before = GetJson(*server, target);
  const Date next_day = LastDay() + 1;
  std::vector<std::string> bought;
  for (int i = 0; i < 3; ++i) {
    const hm::ArticleId article = kFirstArticle + 2 + kSegments * (10 + i);
    bought.push_back(hm::FormatArticleId(article));
    ASSERT_NO_FATAL_FAILURE(Buy(kCustomer, article, next_day, 1'000'000 + i));
  }
  // From the moment the broker has them (each Buy flushes): seconds in practice; 30 s leaves
  // room for a loaded machine.
  const auto started = std::chrono::steady_clock::now();
  nlohmann::json after;
  while (true) {
    after = GetJson(*server, target);
    const std::vector<std::string> recent = Ids(after, "recent_purchases");
    if (recent.size() >= 3 && std::equal(bought.begin(), bought.end(), recent.end() - 3)) break;
    ASSERT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30))
        << "the purchases did not reach the answer within 30 s: " << after.dump();
    std::this_thread::sleep_for(milliseconds(50));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("purchase to answer: %.2f s\n", seconds);
  EXPECT_EQ(after["newest_purchase"], next_day.ToString());
  EXPECT_EQ(after["as_of"], (next_day + 1).ToString());
  EXPECT_NE(Ids(after, "recommendations"), Ids(before, "recommendations"))
      << "before: " << before.dump() << "\nafter: " << after.dump();
  // The history is the one before with the three purchases appended, cut to its length.
  std::vector<std::string> expected = Ids(before, "recent_purchases");
  const size_t length = 20;  // the small model's history length (SmallModelOptions)
  expected.insert(expected.end(), bought.begin(), bought.end());
  if (expected.size() > length) expected.erase(expected.begin(), expected.end() - length);
  EXPECT_EQ(Ids(after, "recent_purchases"), expected);

  // An event that does not decode is skipped and counted; serving goes on.
  {
    kafka::ProducerOptions options;
    options.config.Set("bootstrap.servers", bootstrap_);
    auto producer = kafka::Producer::Create(options);
    ASSERT_TRUE(producer.ok());
    kafka::Message bad;
    bad.topic = prefix_ + "hm.transactions";
    bad.key = "x";
    bad.value = "{\"not\":\"a transaction\"}";
    ASSERT_TRUE((*producer)->Produce(bad).ok());
    ASSERT_TRUE((*producer)->Flush(std::chrono::seconds(30)).ok());
  }
  int64_t bad_events = 0;
  for (int i = 0; i < 200 && bad_events == 0; ++i) {
    std::this_thread::sleep_for(milliseconds(50));
    bad_events = GetJson(*server, "/status")["histories"]["bad_events_skipped"].get<int64_t>();
  }
  EXPECT_EQ(bad_events, 1);

  // /metrics: the requests by code, and the histories' freshness.
  Result<admin::AdminResponse> metrics = admin::HttpCall(server->address(), "GET", "/metrics");
  ASSERT_TRUE(metrics.ok());
  ASSERT_EQ(metrics->status, 200);
  const std::string& page = metrics->body;
  EXPECT_NE(page.find("towerstream_serve_requests_total{code=\"200\",endpoint=\"/recommend\","
                      "service=\"serve\"}"),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("towerstream_serve_request_duration_seconds_bucket"), std::string::npos);
  EXPECT_NE(page.find("towerstream_serve_features_event_time_seconds{service=\"serve\"} " +
                      std::to_string(next_day.days_since_epoch() * 86400LL)),
            std::string::npos)
      << page;
  EXPECT_NE(page.find("towerstream_serve_transactions_applied_total{service=\"serve\"}"),
            std::string::npos);
  EXPECT_NE(page.find("towerstream_serve_model_age_seconds{service=\"serve\"}"), std::string::npos);
  EXPECT_NE(page.find("towerstream_process_resident_memory_bytes"), std::string::npos);
}

// Topics that do not exist are named in the error, with what to do.
TEST_F(LiveServingTest, MissingTopicsAreNamed) {
  LiveHistoryOptions live;
  live.kafka.Set("bootstrap.servers", bootstrap_);
  live.topic_prefix = prefix_;
  live.topic_timeout = milliseconds(500);
  Result<std::unique_ptr<LiveHistories>> histories = LiveHistories::Start(live);
  ASSERT_FALSE(histories.ok());
  EXPECT_NE(histories.status().message().find(prefix_ + "hm.articles"), std::string::npos)
      << histories.status().ToString();
  EXPECT_NE(histories.status().message().find("replay"), std::string::npos);
}

}  // namespace
}  // namespace towerstream::serving
