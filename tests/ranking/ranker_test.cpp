// The ranker: candidates and their features, a tower-only ranking, fits that learn what the
// data rewards (re-buying where customers re-buy, the towers where they never do), and a file
// that restores the exact scores.
#include "common/ranking/ranker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace towerstream::ranking {
namespace {

constexpr int64_t kArticles = 60;
constexpr int64_t kDim = 4;
const Date kAsOf = Date::FromCivil(2020, 9, 16);

// A small world: unit item vectors, customers with a query vector and five past purchases.
struct World {
  std::vector<hm::ArticleId> ids;
  torch::Tensor items;
  ItemVectors vectors;
  PurchaseLog log;
  ArticleContext context;

  explicit World(uint64_t seed) {
    for (int64_t a = 1; a <= kArticles; ++a) ids.push_back(a);
    auto gen = torch::make_generator<at::CPUGeneratorImpl>(seed);
    items = torch::randn({kArticles, kDim}, gen);
    items = items / items.norm(2, 1, true);
    vectors = ItemVectors(ids, items);
  }
};

struct Customer {
  int64_t key = 0;
  std::vector<float> query;
  std::vector<RankedArticle> nearest;
};

// Customers 1..n, each with five purchases on days before kAsOf, the latest last.
std::vector<Customer> MakeCustomers(World& world, int n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<hm::ArticleId> article(1, kArticles);
  std::normal_distribution<float> normal;
  std::vector<Customer> customers;
  for (int c = 1; c <= n; ++c) {
    for (int p = 0; p < 5; ++p) world.log.Add(c, article(rng), kAsOf + (-20 + 3 * p));
  }
  world.context = world.log.AsOf(kAsOf);
  for (int c = 1; c <= n; ++c) {
    Customer& customer = customers.emplace_back();
    customer.key = c;
    float norm = 0;
    for (int d = 0; d < kDim; ++d) {
      customer.query.push_back(normal(rng));
      norm += customer.query.back() * customer.query.back();
    }
    for (float& x : customer.query) x /= std::sqrt(norm);
    const torch::Tensor q = torch::from_blob(customer.query.data(), {1, kDim});
    auto nearest = ExactTowerNearest(q, world.items, world.ids, 10);
    EXPECT_TRUE(nearest.ok()) << nearest.status().message();
    customer.nearest = std::move(nearest->front());
  }
  return customers;
}

std::vector<Candidate> CandidatesOf(const World& world, const Customer& customer,
                                    const CandidateOptions& options = {}) {
  CustomerContext context;
  context.query = customer.query.data();
  context.purchases = world.log.Purchases(customer.key);
  context.tower_nearest = customer.nearest;
  std::vector<Candidate> out;
  GatherCandidates(context, world.context, world.vectors, options, &out);
  return out;
}

// Fits on customers whose bought article is chosen by `pick` among their candidates.
template <typename Pick>
Ranker FitOn(const World& world, const std::vector<Customer>& customers, Pick pick) {
  std::vector<FitGroup> groups;
  for (const Customer& c : customers) {
    FitGroup& g = groups.emplace_back();
    g.candidates = CandidatesOf(world, c);
    const hm::ArticleId bought = pick(c);
    for (const Candidate& candidate : g.candidates) g.bought.push_back(candidate.article == bought);
  }
  RankerFitOptions options;
  options.epochs = 40;
  options.customers_per_step = 64;
  Result<Ranker> ranker = FitRanker(groups, CandidateOptions{}, options, {{"test", true}});
  EXPECT_TRUE(ranker.ok()) << ranker.status().message();
  return ranker.ok() ? std::move(*ranker) : Ranker::TowerOnly();
}

TEST(GatherCandidatesTest, UnionOfTowersPurchasesAndTrendingEachOnceWithFeatures) {
  World world(1);
  const std::vector<Customer> customers = MakeCustomers(world, 20, 2);
  const Customer& c = customers.front();
  const std::vector<Candidate> candidates = CandidatesOf(world, c);
  std::vector<hm::ArticleId> seen;
  for (const Candidate& candidate : candidates) seen.push_back(candidate.article);
  std::sort(seen.begin(), seen.end());
  EXPECT_EQ(std::adjacent_find(seen.begin(), seen.end()), seen.end()) << "a duplicate";
  const auto has = [&](hm::ArticleId a) { return std::binary_search(seen.begin(), seen.end(), a); };
  for (const RankedArticle& r : c.nearest) EXPECT_TRUE(has(r.article_id));
  for (const PastPurchase& p : world.log.Purchases(c.key)) EXPECT_TRUE(has(p.article));
  for (hm::ArticleId a : world.context.trending) EXPECT_TRUE(has(a));
  const std::span<const std::string_view> names = FeatureNames();
  const auto feature = [&](const Candidate& candidate, std::string_view name) {
    return candidate.features[std::find(names.begin(), names.end(), name) - names.begin()];
  };
  for (const Candidate& candidate : candidates) {
    const float cosine = *world.vectors.Cosine(c.query.data(), candidate.article);
    EXPECT_NEAR(feature(candidate, "cosine"), cosine, 1e-5);
    const auto purchases = world.log.Purchases(c.key);
    const bool bought = std::any_of(purchases.begin(), purchases.end(), [&](const PastPurchase& p) {
      return p.article == candidate.article;
    });
    EXPECT_EQ(feature(candidate, "bought"), bought ? 1.0f : 0.0f);
    EXPECT_EQ(feature(candidate, "from_towers"),
              std::any_of(c.nearest.begin(), c.nearest.end(),
                          [&](const RankedArticle& r) { return r.article_id == candidate.article; })
                  ? 1.0f
                  : 0.0f);
  }
}

TEST(RankerTest, TowerOnlyRanksTheTowersCandidatesByCosine) {
  World world(3);
  const std::vector<Customer> customers = MakeCustomers(world, 5, 4);
  const Ranker ranker = Ranker::TowerOnly();
  EXPECT_FALSE(ranker.fitted());
  for (const Customer& c : customers) {
    const std::vector<RankedArticle> ranked =
        ranker.Rank(CandidatesOf(world, c, ranker.candidates()), 10);
    ASSERT_EQ(ranked.size(), c.nearest.size());
    for (size_t i = 0; i < ranked.size(); ++i) {
      EXPECT_EQ(ranked[i].article_id, c.nearest[i].article_id);
    }
  }
}

// Where customers buy their latest purchase again, the fitted ranker puts it first.
TEST(RankerTest, LearnsRepeatsWhereCustomersRebuy) {
  World world(5);
  const std::vector<Customer> customers = MakeCustomers(world, 400, 6);
  const auto latest = [&](const Customer& c) { return world.log.Purchases(c.key).back().article; };
  const std::vector<Customer> train(customers.begin(), customers.begin() + 300);
  const Ranker ranker = FitOn(world, train, latest);
  ASSERT_TRUE(ranker.fitted());
  int first = 0;
  for (size_t i = 300; i < customers.size(); ++i) {
    const auto ranked = ranker.Rank(CandidatesOf(world, customers[i]), 1);
    first += ranked.front().article_id == latest(customers[i]);
  }
  EXPECT_GE(first, 95) << "of 100 held-out customers";
}

// Where customers never buy again, earlier purchases must not crowd out the towers: the
// fitted ranker puts the towers' best article they did not buy first, as the data did.
TEST(RankerTest, RepeatsEarnNothingWhereCustomersNeverRebuy) {
  World world(7);
  const std::vector<Customer> customers = MakeCustomers(world, 400, 8);
  const auto best_new = [&](const Customer& c) {
    const auto purchases = world.log.Purchases(c.key);
    for (const RankedArticle& r : c.nearest) {
      if (std::none_of(purchases.begin(), purchases.end(),
                       [&](const PastPurchase& p) { return p.article == r.article_id; })) {
        return r.article_id;
      }
    }
    return hm::ArticleId{0};
  };
  const std::vector<Customer> train(customers.begin(), customers.begin() + 300);
  const Ranker ranker = FitOn(world, train, best_new);
  int first = 0, repeats_in_top3 = 0;
  for (size_t i = 300; i < customers.size(); ++i) {
    const auto ranked = ranker.Rank(CandidatesOf(world, customers[i]), 3);
    first += ranked.front().article_id == best_new(customers[i]);
    const auto purchases = world.log.Purchases(customers[i].key);
    for (const RankedArticle& r : ranked) {
      repeats_in_top3 +=
          std::any_of(purchases.begin(), purchases.end(),
                      [&](const PastPurchase& p) { return p.article == r.article_id; });
    }
  }
  EXPECT_GE(first, 90) << "of 100 held-out customers";
  EXPECT_LE(repeats_in_top3, 5) << "of 300 places";
}

TEST(RankerTest, SaveAndLoadKeepTheScoresIdentical) {
  World world(9);
  const std::vector<Customer> customers = MakeCustomers(world, 200, 10);
  const Ranker ranker = FitOn(world, customers, [&](const Customer& c) {
    return world.log.Purchases(c.key).back().article;
  });
  testing::ScopedTempDir dir;
  ASSERT_TRUE(ranker.Save(dir.path()).ok());
  Result<std::optional<Ranker>> loaded = Ranker::Load(dir.path());
  ASSERT_TRUE(loaded.ok()) << loaded.status().message();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_EQ(**loaded, ranker);
  for (const Customer& c : customers) {
    for (const Candidate& candidate : CandidatesOf(world, c)) {
      // Bit for bit: serving must rank exactly as evaluate measured.
      EXPECT_EQ((*loaded)->Score(candidate.features), ranker.Score(candidate.features));
    }
  }
  // No file: the towers alone; a damaged one: an error naming it.
  testing::ScopedTempDir empty;
  Result<std::optional<Ranker>> none = Ranker::Load(empty.path());
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value());
  {
    std::ofstream out(empty.path() / kRankerFile);
    out << "{\"format_version\": 1, \"features\": [\"cosine\"]}";
  }
  Result<std::optional<Ranker>> bad = Ranker::Load(empty.path());
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find(std::string(kRankerFile)), std::string::npos)
      << bad.status().message();
}

// Found by fuzz/snapshot_manifest_fuzzer: integers were read with get<int64_t>(), which casts a
// float (100.5 became 100; 1e300 is undefined behaviour), and Describe() threw on a fit summary
// of other types.
TEST(RankerTest, FromJsonRefusesFloatsWhereIntegersBelong) {
  const nlohmann::json towers = Ranker::TowerOnly().ToJson();
  for (const double bad : {100.5, 1e300}) {
    nlohmann::json j = towers;
    j["candidates"]["from_towers"] = bad;
    const Result<Ranker> r = Ranker::FromJson(j, "ranker.json");
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << bad;
    EXPECT_NE(r.status().message().find("from_towers"), std::string::npos) << r.status().message();
  }
}

// Found by fuzz/snapshot_manifest_fuzzer: a weight beyond float's range read as infinity, scored
// every candidate infinite or NaN, and saved as null, which no longer read.
TEST(RankerTest, FromJsonRefusesWeightsBeyondFloat) {
  World world(4);
  const std::vector<Customer> customers = MakeCustomers(world, 50, 10);
  const nlohmann::json fitted = FitOn(world, customers, [&](const Customer& c) {
                                  return world.log.Purchases(c.key).back().article;
                                }).ToJson();
  ASSERT_TRUE(Ranker::FromJson(fitted, "ranker.json").ok());
  for (const char* weights : {"w1", "linear"}) {
    nlohmann::json j = fitted;
    j["network"][weights][0] = 1e300;
    const Result<Ranker> r = Ranker::FromJson(j, "ranker.json");
    EXPECT_EQ(r.status().code(), StatusCode::kCorruption) << weights;
  }
  nlohmann::json j = fitted;
  j["network"]["bias"] = -1e39;
  EXPECT_EQ(Ranker::FromJson(j, "ranker.json").status().code(), StatusCode::kCorruption);
}

TEST(RankerTest, DescribeShowsOnlyAFitSummaryOfTheExpectedTypes) {
  World world(3);
  const std::vector<Customer> customers = MakeCustomers(world, 50, 10);
  nlohmann::json j = FitOn(world, customers, [&](const Customer& c) {
                       return world.log.Purchases(c.key).back().article;
                     }).ToJson();
  j["fit"] = {{"week_start", 20200909}, {"customers", "many"}};
  Result<Ranker> odd = Ranker::FromJson(j, "ranker.json");
  ASSERT_TRUE(odd.ok()) << odd.status().ToString();
  EXPECT_EQ(odd->Describe(), "towers re-ranked with repeats and trends");
  j["fit"] = {{"week_start", "2020-09-09"}, {"customers", 1e300}};
  odd = Ranker::FromJson(j, "ranker.json");
  ASSERT_TRUE(odd.ok()) << odd.status().ToString();
  EXPECT_EQ(odd->Describe(), "towers re-ranked with repeats and trends");
}

TEST(RankerTest, FitRefusesGroupsWithoutAPurchase) {
  FitGroup group;
  group.candidates.resize(3);
  group.bought = {0, 0, 0};
  const std::vector<FitGroup> groups = {group};
  Result<Ranker> ranker = FitRanker(groups, CandidateOptions{}, RankerFitOptions{}, {});
  ASSERT_FALSE(ranker.ok());
  EXPECT_NE(ranker.status().message().find("bought"), std::string::npos);
}

}  // namespace
}  // namespace towerstream::ranking
