// The generator's oracle: it ranks exactly the held-out week's buyers, deterministically, and
// far better than best sellers.
#include "common/datagen/oracle.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/datagen/generator.h"
#include "common/evaluation/ranking_metrics.h"
#include "tests/datagen/dataset.h"

namespace towerstream::datagen {
namespace {

using testing::Dataset;
using testing::GenerateAndLoad;

// An OracleRanking that owns its articles.
struct Ranking {
  int64_t customer = 0;
  bool bought_before = false;
  std::vector<hm::ArticleId> actual, new_articles, predicted;
};

struct Generated {
  std::unique_ptr<Dataset> data;
  std::vector<Ranking> rankings;
};

Generated GenerateWithOracle(const GeneratorOptions& options) {
  Generated g;
  Result<std::unique_ptr<Dataset>> data = GenerateAndLoad(options, [&g](const OracleRanking& r) {
    g.rankings.push_back({r.customer,
                          r.bought_before,
                          {r.actual.begin(), r.actual.end()},
                          {r.new_articles.begin(), r.new_articles.end()},
                          {r.predicted.begin(), r.predicted.end()}});
  });
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  if (data.ok()) g.data = std::move(*data);
  return g;
}

// Enough rows in the last week for the figures to be stable: ~14,000 purchases.
GeneratorOptions WeekOptions(uint64_t seed) {
  GeneratorOptions o = testing::SizedOptions(10'000, 2'000, 200'000, seed);
  o.days = 100;
  return o;
}

std::vector<hm::ArticleId> ArticleIds(const Dataset& data) {
  std::vector<hm::ArticleId> ids;
  for (const auto& row : data.articles) ids.push_back(std::stoll(row[0]));
  return ids;
}

class OracleTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { generated_ = new Generated(GenerateWithOracle(WeekOptions(3))); }
  static void TearDownTestSuite() {
    delete generated_;
    generated_ = nullptr;
  }
  static Generated* generated_;
};
Generated* OracleTest::generated_ = nullptr;

TEST_F(OracleTest, HeldOutWeekIsTheLastSevenDays) {
  ASSERT_NE(generated_->data, nullptr);
  const Dataset& data = *generated_->data;
  ASSERT_TRUE(data.summary.held_out.has_value());
  const HeldOutWeek& week = *data.summary.held_out;
  EXPECT_EQ(week.start, data.options.start_date + (data.options.days - 7));
  EXPECT_EQ(week.end, data.options.start_date + data.options.days);
  int64_t rows = 0;
  for (const auto& t : data.transactions) rows += t.day >= data.options.days - 7;
  EXPECT_EQ(week.purchases, rows);
  EXPECT_EQ(week.customers, static_cast<int64_t>(generated_->rankings.size()));
}

TEST_F(OracleTest, RanksEachBuyerOnceWithWhatTheyBought) {
  ASSERT_NE(generated_->data, nullptr);
  const Dataset& data = *generated_->data;
  const std::vector<hm::ArticleId> ids = ArticleIds(data);
  const int32_t week_start = data.options.days - 7;
  std::map<int64_t, std::set<hm::ArticleId>> bought;
  std::set<int64_t> earlier_buyers;
  std::set<hm::ArticleId> sold_before;
  for (const auto& t : data.transactions) {
    if (t.day >= week_start) {
      bought[t.customer].insert(ids[t.article]);
    } else {
      earlier_buyers.insert(t.customer);
      sold_before.insert(ids[t.article]);
    }
  }
  ASSERT_EQ(generated_->rankings.size(), bought.size());
  auto expected = bought.begin();
  for (const Ranking& r : generated_->rankings) {
    const std::string who = "customer " + std::to_string(r.customer);
    ASSERT_EQ(r.customer, expected->first) << "not in customer order";
    EXPECT_EQ(std::set<hm::ArticleId>(r.actual.begin(), r.actual.end()), expected->second) << who;
    EXPECT_EQ(r.actual.size(), expected->second.size()) << who << ": not distinct";
    std::set<hm::ArticleId> launched;
    for (hm::ArticleId a : expected->second) {
      if (!sold_before.contains(a)) launched.insert(a);
    }
    EXPECT_EQ(std::set<hm::ArticleId>(r.new_articles.begin(), r.new_articles.end()), launched)
        << who;
    EXPECT_EQ(r.bought_before, earlier_buyers.contains(r.customer)) << who;
    ASSERT_EQ(r.predicted.size(), static_cast<size_t>(kOracleTop)) << who;
    EXPECT_EQ(std::set<hm::ArticleId>(r.predicted.begin(), r.predicted.end()).size(),
              r.predicted.size())
        << who << ": repeated predictions";
    for (hm::ArticleId a : r.predicted) {
      EXPECT_TRUE(std::binary_search(ids.begin(), ids.end(), a)) << who << ": " << a;
    }
    ++expected;
  }
}

// The oracle knows each customer's tastes and recent articles; best sellers of the week before
// know neither.
TEST_F(OracleTest, ClearlyBeatsTheWeekBeforesBestSellers) {
  ASSERT_NE(generated_->data, nullptr);
  const Dataset& data = *generated_->data;
  const std::vector<hm::ArticleId> ids = ArticleIds(data);
  const int32_t week_start = data.options.days - 7;
  std::vector<int64_t> sold(ids.size(), 0);
  for (const auto& t : data.transactions) {
    if (t.day >= week_start - 7 && t.day < week_start) ++sold[t.article];
  }
  std::vector<size_t> order(ids.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return sold[a] > sold[b]; });
  std::vector<hm::ArticleId> popular;
  for (size_t i = 0; i < 100; ++i) popular.push_back(ids[order[i]]);

  evaluation::RankingAccumulator oracle, popularity;
  for (const Ranking& r : generated_->rankings) {
    oracle.Add(r.actual, r.predicted);
    popularity.Add(r.actual, popular);
  }
  const evaluation::RankingMetrics o = oracle.Finish(static_cast<int64_t>(ids.size()));
  const evaluation::RankingMetrics p = popularity.Finish(static_cast<int64_t>(ids.size()));
  for (double x : {o.map_at_12, o.recall_at_12, o.recall_at_100}) {
    EXPECT_GE(x, 0.0);
    EXPECT_LE(x, 1.0);
  }
  EXPECT_GT(o.map_at_12, 1.3 * p.map_at_12) << o.map_at_12 << " vs " << p.map_at_12;
  EXPECT_GT(o.recall_at_12, 1.3 * p.recall_at_12) << o.recall_at_12 << " vs " << p.recall_at_12;
  EXPECT_GT(o.recall_at_100, 1.1 * p.recall_at_100) << o.recall_at_100 << " vs " << p.recall_at_100;
}

TEST(OracleDeterminismTest, SameSeedSameRankingsOtherSeedOthers) {
  GeneratorOptions options = WeekOptions(5);
  options.customers = 3'000;
  options.transactions = 60'000;
  const Generated a = GenerateWithOracle(options), b = GenerateWithOracle(options);
  options.seed = 6;
  const Generated c = GenerateWithOracle(options);
  ASSERT_FALSE(a.rankings.empty());
  ASSERT_EQ(a.rankings.size(), b.rankings.size());
  for (size_t i = 0; i < a.rankings.size(); ++i) {
    EXPECT_EQ(a.rankings[i].customer, b.rankings[i].customer) << i;
    EXPECT_EQ(a.rankings[i].predicted, b.rankings[i].predicted) << i;
  }
  bool differs = a.rankings.size() != c.rankings.size();
  for (size_t i = 0; !differs && i < a.rankings.size(); ++i) {
    differs = a.rankings[i].predicted != c.rankings[i].predicted;
  }
  EXPECT_TRUE(differs);
}

TEST(OracleWeekTest, FollowsTheWrittenDaysAndShortData) {
  struct Case {
    int32_t days, first_days;
    int32_t start, end;  // expected week, as day offsets
  };
  for (const Case& c : {Case{60, 30, 23, 30}, Case{3, 0, -4, 3}, Case{10, 0, 3, 10}}) {
    GeneratorOptions options = testing::SizedOptions(500, 200, 3'000, /*seed=*/2);
    options.days = c.days;
    options.first_days = c.first_days;
    const std::string input = std::to_string(c.days) + "/" + std::to_string(c.first_days);
    const Generated g = GenerateWithOracle(options);
    ASSERT_NE(g.data, nullptr) << input;
    ASSERT_TRUE(g.data->summary.held_out.has_value()) << input;
    EXPECT_EQ(g.data->summary.held_out->start, options.start_date + c.start) << input;
    EXPECT_EQ(g.data->summary.held_out->end, options.start_date + c.end) << input;
    EXPECT_FALSE(g.rankings.empty()) << input;
  }
}

TEST(OracleWeekTest, NothingWithoutASinkOrWithoutTransactions) {
  testing::TempDir dir;
  Result<GenerateSummary> plain = Generate(testing::SizedOptions(100, 50, 500, 1), dir.path());
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->held_out.has_value());
  int calls = 0;
  Result<GenerateSummary> empty = Generate(testing::SizedOptions(100, 50, 0, 1), dir.path(),
                                           [&calls](const OracleRanking&) { ++calls; });
  ASSERT_TRUE(empty.ok()) << empty.status().ToString();
  EXPECT_FALSE(empty->held_out.has_value());
  EXPECT_EQ(calls, 0);
}

}  // namespace
}  // namespace towerstream::datagen
