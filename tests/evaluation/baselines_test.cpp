// The evaluation baselines on hand-made purchases: best sellers and "buy again, then trending".
#include "common/evaluation/baselines.h"

#include <gtest/gtest.h>

#include <vector>

namespace towerstream::evaluation {
namespace {

using Articles = std::vector<hm::ArticleId>;

TEST(BestSellersTest, MostBoughtFirstTiesByArticleId) {
  BestSellers best;
  for (hm::ArticleId a : {7, 3, 7, 5, 3, 7, 9, 1}) best.Add(a);
  EXPECT_EQ(best.Top(10), (Articles{7, 3, 1, 5, 9}));
  EXPECT_EQ(best.Top(2), (Articles{7, 3}));
  EXPECT_TRUE(BestSellers().Top(5).empty());
}

// Customer 1 bought 10, 20, 10, 30 in that order: 30 is the latest, then 10 (bought again
// after 20), then 20; the trending list fills the rest without repeating them.
TEST(RepurchasesTest, OwnPurchasesMostRecentFirstThenTrendingWithoutRepeats) {
  Repurchases baseline;
  baseline.Add(1, 10);
  baseline.Add(2, 99);
  baseline.Add(1, 20);
  baseline.Add(1, 10);
  baseline.Add(1, 30);
  const Articles trending = {20, 40, 30, 50, 60};
  EXPECT_EQ(baseline.Recommend(1, trending, 6), (Articles{30, 10, 20, 40, 50, 60}));
  EXPECT_EQ(baseline.Recommend(1, trending, 2), (Articles{30, 10}));
  EXPECT_EQ(baseline.Recommend(2, trending, 3), (Articles{99, 20, 40}));
  EXPECT_TRUE(baseline.Known(1));
  // A customer with no earlier purchase gets the trending list alone.
  EXPECT_FALSE(baseline.Known(3));
  EXPECT_EQ(baseline.Recommend(3, trending, 4), (Articles{20, 40, 30, 50}));
}

TEST(RepurchasesTest, KeepsTheMostRecentDistinctArticlesUpToItsCap) {
  Repurchases baseline(/*max_per_customer=*/3);
  for (hm::ArticleId a : {1, 2, 3, 4, 2, 5}) baseline.Add(7, a);
  // Distinct by recency: 5, 2, 4, 3, 1; the cap keeps three.
  EXPECT_EQ(baseline.Recommend(7, {}, 10), (Articles{5, 2, 4}));
}

}  // namespace
}  // namespace towerstream::evaluation
