// Serving end to end on a model trained on a planted structure: CustomerHistories, the
// Recommender's quality, and the HTTP server (answers, 4xx for bad requests, reload of a new
// LATEST while requests keep coming).
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <map>
#include <stop_token>
#include <thread>

#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "common/evaluation/ranker_fit.h"
#include "common/evaluation/scoring.h"
#include "common/serving/customer_histories.h"
#include "common/serving/recommend_server.h"
#include "common/serving/recommender.h"
#include "common/snapshot/snapshot_store.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/model_config.h"
#include "tests/serving/serving_test_support.h"
#include "tests/testing/temp_dir.h"
#include "tests/trainer/planted_data.h"
#include "tests/trainer/trainer_test_support.h"

namespace towerstream::serving {
namespace {

constexpr int kSegments = 8;
constexpr hm::ArticleId kFirstArticle = 100000000;  // planted article a is kFirstArticle + a

// One planted dataset and a model trained on it, shared by the tests of this file (training
// takes seconds).
class ServingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new towerstream::testing::ScopedTempDir("serving");
    ASSERT_TRUE(trainer::testing::WritePlantedData(data(), planted_).ok());
    ASSERT_TRUE(Train(2).ok());
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  // Trains (or, resumed from LATEST, trains further) up to `epochs` epochs.
  static Status Train(int epochs) {
    return testing::TrainSmallSnapshot(data(), snapshots(), epochs);
  }

  static std::filesystem::path data() { return dir_->path() / "data"; }
  static std::filesystem::path snapshots() { return dir_->path() / "snapshots"; }
  static Date TestStart() { return planted_.start + (planted_.days - 7); }

  static inline trainer::testing::PlantedDataOptions planted_;
  static inline towerstream::testing::ScopedTempDir* dir_ = nullptr;
};

TEST_F(ServingTest, HistoriesHoldTheLastPurchasesBeforeAsOfAndSeeEveryRow) {
  CustomerHistoryOptions o;
  o.data_dir = data();
  o.as_of = TestStart();
  o.history_length = 3;
  int64_t rows = 0, later = 0;
  std::map<int64_t, std::vector<hm::ArticleId>> before;
  const auto histories = CustomerHistories::Load(o, [&](const hm::Transaction& t) {
    ++rows;
    if (t.t_dat < *o.as_of) {
      before[model::CustomerKey(t.customer_id)].push_back(t.article_id);
    } else {
      ++later;
    }
  });
  ASSERT_TRUE(histories.ok()) << histories.status().ToString();
  EXPECT_GT(later, 0);
  EXPECT_EQ(histories->as_of(), TestStart());
  EXPECT_EQ(histories->customers(), planted_.customers);
  ASSERT_FALSE(before.empty());
  for (const auto& [key, all] : before) {
    const std::vector<hm::ArticleId> last3(all.end() - std::min<size_t>(3, all.size()), all.end());
    EXPECT_EQ(histories->RecentPurchases(key), last3);
    const model::Example q = histories->QueryFor(key);
    EXPECT_EQ(q.recent_article_ids, last3);
    EXPECT_TRUE(q.customer.known);
    EXPECT_EQ(q.day, TestStart().days_since_epoch());
  }
  const std::string stranger(64, 'f');
  EXPECT_FALSE(histories->Knows(model::CustomerKey(stranger)));
  EXPECT_TRUE(histories->QueryFor(stranger).recent_article_ids.empty());
  EXPECT_FALSE(histories->QueryFor(stranger).customer.known);
  ASSERT_NE(histories->Describe(kFirstArticle + 5), nullptr);
  EXPECT_EQ(histories->Describe(kFirstArticle + 5)->name, "Article 5");
  EXPECT_EQ(histories->Describe(1), nullptr);
}

TEST_F(ServingTest, AMissingTransactionsFileIsNamed) {
  towerstream::testing::ScopedTempDir empty("serving_empty");
  CustomerHistoryOptions o;
  o.data_dir = empty.path();
  const auto histories = CustomerHistories::Load(o);
  ASSERT_FALSE(histories.ok());
  EXPECT_NE(histories.status().message().find(empty.path().string()), std::string::npos);
}

// Each segment buys (90%) its own articles: a customer's recommendations come mostly from
// their segment, of which a random ranking would hold 1/8.
TEST_F(ServingTest, RecommendationsComeFromTheCustomersSegment) {
  RecommenderOptions o;
  o.snapshot = snapshots();
  auto recommender = Recommender::Load(o);
  ASSERT_TRUE(recommender.ok()) << recommender.status().ToString();
  CustomerHistoryOptions h;
  h.data_dir = data();
  h.as_of = TestStart();
  h.history_length = static_cast<size_t>((*recommender)->history_length());
  const auto histories = CustomerHistories::Load(h);
  ASSERT_TRUE(histories.ok());
  int64_t in_segment = 0, total = 0;
  for (int c = 0; c < 80; ++c) {
    const auto top =
        (*recommender)
            ->Recommend(*histories, model::CustomerKey(trainer::testing::PlantedCustomerId(c)), 12);
    ASSERT_TRUE(top.ok()) << top.status().ToString();
    ASSERT_EQ(top->size(), 12u);
    for (const ScoredArticle& a : *top) {
      in_segment += (a.article_id - kFirstArticle) % kSegments == c % kSegments;
      ++total;
    }
  }
  EXPECT_GT(static_cast<double>(in_segment) / static_cast<double>(total), 0.6);

  // Excluding purchases leaves none of the earlier ones.
  const int64_t key = model::CustomerKey(trainer::testing::PlantedCustomerId(3));
  const model::Example q = histories->QueryFor(key);
  ASSERT_FALSE(q.recent_article_ids.empty());
  const auto fresh = (*recommender)->Recommend(*histories, key, 50, /*exclude_purchased=*/true);
  ASSERT_TRUE(fresh.ok());
  EXPECT_EQ(fresh->size(), 50u);
  for (const ScoredArticle& a : *fresh) {
    EXPECT_EQ(std::count(q.recent_article_ids.begin(), q.recent_article_ids.end(), a.article_id),
              0);
    for (const ranking::PastPurchase& p : histories->PastPurchases(key)) {
      EXPECT_NE(p.article, a.article_id);
    }
  }
}

// `recommend` and `serve` (the Recommender) rank exactly as `evaluate` measures: the same
// candidates, the same ranker, the same order (the catalogue is small: exact search on both).
TEST_F(ServingTest, ServingRanksExactlyAsEvaluateScores) {
  RecommenderOptions o;
  o.snapshot = snapshots();
  auto recommender = Recommender::Load(o);
  ASSERT_TRUE(recommender.ok()) << recommender.status().ToString();
  ASSERT_TRUE((*recommender)->ranker().fitted()) << (*recommender)->ranker().Describe();
  ASSERT_FALSE((*recommender)->index().approximate());
  auto loaded = trainer::LoadModelSnapshot(snapshots(), torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->ranker, (*recommender)->ranker());
  CustomerHistoryOptions h;
  h.data_dir = data();
  h.as_of = TestStart();
  h.history_length = static_cast<size_t>((*recommender)->history_length());
  const auto histories = CustomerHistories::Load(h);
  ASSERT_TRUE(histories.ok());
  auto catalogue = evaluation::ScoringCatalogue::Of(*loaded->model, torch::kCPU);
  ASSERT_TRUE(catalogue.ok());
  std::vector<int64_t> customers;
  for (int c = 0; c < 40; ++c) {
    customers.push_back(model::CustomerKey(trainer::testing::PlantedCustomerId(c)));
  }
  const auto evaluated = evaluation::RankCustomers(*loaded->model, loaded->ranker, *histories,
                                                   *catalogue, customers, 12);
  ASSERT_TRUE(evaluated.ok()) << evaluated.status().ToString();
  for (size_t i = 0; i < customers.size(); ++i) {
    const auto served = (*recommender)->Recommend(*histories, customers[i], 12);
    ASSERT_TRUE(served.ok());
    std::vector<hm::ArticleId> ids;
    for (const ScoredArticle& a : *served) ids.push_back(a.article_id);
    EXPECT_EQ(ids, evaluated->ranked[i]) << "customer " << i;
  }
}

Result<admin::AdminResponse> Get(const RecommendServer& server, const std::string& target) {
  return admin::HttpCall(server.address(), "GET", target);
}

TEST_F(ServingTest, ServerAnswersRecommendationsAndRefusesBadRequestsWith4xx) {
  RecommendServerOptions o;
  o.snapshot = snapshots();
  o.histories.data_dir = data();
  o.address = "127.0.0.1:0";
  o.threads = 2;
  auto server = RecommendServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  const std::string id = trainer::testing::PlantedCustomerId(7);
  const auto ok = Get(**server, "/recommend?customer_id=" + id + "&k=5");
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->status, 200) << ok->body;
  const nlohmann::json body = nlohmann::json::parse(ok->body);
  EXPECT_EQ(body["customer_id"], id);
  EXPECT_TRUE(body["known"].get<bool>());
  EXPECT_EQ(body["snapshot"], (*server)->snapshot_id());
  ASSERT_EQ(body["recommendations"].size(), 5u);
  EXPECT_EQ(body["recommendations"][0]["article_id"].get<std::string>().size(), 10u);
  EXPECT_TRUE(body["recommendations"][0].contains("name"));
  EXPECT_FALSE(body["recent_purchases"].empty());

  // A customer nobody knows still gets recommendations (a cold query), flagged as unknown.
  const auto cold = Get(**server, "/recommend?customer_id=" + std::string(64, 'e'));
  ASSERT_TRUE(cold.ok());
  ASSERT_EQ(cold->status, 200);
  EXPECT_FALSE(nlohmann::json::parse(cold->body)["known"].get<bool>());
  EXPECT_EQ(nlohmann::json::parse(cold->body)["recommendations"].size(), 12u);  // default k

  // An id whose first 16 digits are f would read as the tables' reserved "no id" (-1): it is an
  // ordinary unknown customer, not a LibTorch error.
  const auto all_f = Get(**server, "/recommend?customer_id=" + std::string(64, 'f'));
  ASSERT_TRUE(all_f.ok());
  ASSERT_EQ(all_f->status, 200) << all_f->body;
  EXPECT_FALSE(nlohmann::json::parse(all_f->body)["known"].get<bool>());

  const std::map<std::string, int> bad = {
      {"/recommend", 400},
      {"/recommend?customer_id=abc", 400},
      {"/recommend?customer_id=" + id + "&k=0", 400},
      {"/recommend?customer_id=" + id + "&k=1001", 400},
      {"/recommend?customer_id=" + id + "&k=12x", 400},
      {"/recommend?customer_id=" + id + "&k=99999999999999999999999", 400},
      {"/recommend?customer_id=" + id + "&exclude_purchased=yes", 400},
      {"/recommend?customer_id=%zz", 400},
      {"/recommend?customer_id=%4", 400},
      {"/nothing", 404},
  };
  for (const auto& [target, status] : bad) {
    const auto r = Get(**server, target);
    ASSERT_TRUE(r.ok()) << target;
    EXPECT_EQ(r->status, status) << target << " -> " << r->body;
    EXPECT_TRUE(nlohmann::json::parse(r->body).contains("error")) << target;
  }
  const auto post = admin::HttpCall((*server)->address(), "POST", "/recommend?customer_id=" + id);
  ASSERT_TRUE(post.ok());
  EXPECT_EQ(post->status, 405);

  const auto status = Get(**server, "/status");
  ASSERT_TRUE(status.ok());
  const nlohmann::json s = nlohmann::json::parse(status->body);
  EXPECT_EQ(s["served"].get<int64_t>(), 3);
  EXPECT_EQ(s["refused"].get<int64_t>(), static_cast<int64_t>(bad.size()) + 1);
  EXPECT_EQ(s["catalogue"].get<int64_t>(), planted_.articles);
}

// A newest snapshot that does not load leaves the server on the one in use, and /status says
// why until a reload succeeds.
TEST_F(ServingTest, AFailedReloadShowsInStatusAndServingGoesOn) {
  towerstream::testing::ScopedTempDir root("serving_reload");
  const Result<std::filesystem::path> good = snapshot::ResolveSnapshot(snapshots());
  ASSERT_TRUE(good.ok()) << good.status().ToString();
  const std::string good_id = good->filename().string();
  std::filesystem::copy(*good, root.path() / good_id, std::filesystem::copy_options::recursive);
  const auto point_latest_at = [&](const std::string& id) {
    std::ofstream(root.path() / "LATEST") << id << "\n";
  };
  point_latest_at(good_id);
  RecommendServerOptions o;
  o.snapshot = root.path();
  o.histories.data_dir = data();
  o.address = "127.0.0.1:0";
  auto server = RecommendServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();

  // A newer snapshot whose manifest is gone.
  const std::string broken_id = "s999999999999-20991231T000000.000Z";
  std::filesystem::copy(*good, root.path() / broken_id, std::filesystem::copy_options::recursive);
  std::filesystem::remove(root.path() / broken_id / "manifest.json");
  point_latest_at(broken_id);
  EXPECT_FALSE((*server)->ReloadIfChanged().ok());
  const auto status = Get(**server, "/status");
  ASSERT_TRUE(status.ok());
  const nlohmann::json s = nlohmann::json::parse(status->body);
  EXPECT_EQ(s["snapshot"], good_id);
  EXPECT_EQ(s["reload_failures"], 1);
  ASSERT_TRUE(s["last_reload_error"].is_string()) << s.dump();
  EXPECT_NE(s["last_reload_error"].get<std::string>().find(broken_id), std::string::npos)
      << s.dump();
  const auto answer =
      Get(**server, "/recommend?customer_id=" + trainer::testing::PlantedCustomerId(3));
  ASSERT_TRUE(answer.ok());
  EXPECT_EQ(answer->status, 200) << answer->body;

  point_latest_at(good_id);
  ASSERT_TRUE((*server)->ReloadIfChanged().ok());
  const auto after = Get(**server, "/status");
  ASSERT_TRUE(after.ok());
  EXPECT_TRUE(nlohmann::json::parse(after->body)["last_reload_error"].is_null()) << after->body;
}

// A new snapshot in the folder is picked up while clients keep asking, none of whom sees an
// error; the answers then name the new snapshot.
TEST_F(ServingTest, ServerSwapsInANewSnapshotWithoutFailingARequest) {
  RecommendServerOptions o;
  o.snapshot = snapshots();
  o.histories.data_dir = data();
  o.address = "127.0.0.1:0";
  o.reload_interval = std::chrono::milliseconds(50);
  auto server = RecommendServer::Start(o);
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const std::string before = (*server)->snapshot_id();

  std::atomic<bool> done{false};
  std::atomic<int64_t> answered{0}, failed{0};
  std::jthread client([&] {
    const std::string target =
        "/recommend?customer_id=" + trainer::testing::PlantedCustomerId(1) + "&k=12";
    while (!done) {
      const auto r = Get(**server, target);
      if (r.ok() && r->status == 200) {
        ++answered;
      } else {
        ++failed;
      }
    }
  });
  ASSERT_TRUE(Train(3).ok());  // one more epoch: a new snapshot and LATEST
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while ((*server)->snapshot_id() == before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const int64_t answered_at_swap = answered;
  while (answered < answered_at_swap + 5 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  done = true;
  client.join();
  EXPECT_NE((*server)->snapshot_id(), before);
  EXPECT_EQ((*server)->reloads(), 1);
  EXPECT_EQ(failed, 0);
  EXPECT_GT(answered, 5);
  const auto r = Get(**server, "/recommend?customer_id=" + trainer::testing::PlantedCustomerId(1));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(nlohmann::json::parse(r->body)["snapshot"], (*server)->snapshot_id());
  // Nothing new: no reload.
  const auto again = (*server)->ReloadIfChanged();
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(*again);
}

}  // namespace
}  // namespace towerstream::serving
