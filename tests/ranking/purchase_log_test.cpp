// PurchaseLog on hand-made purchases: distinct articles per customer with counts and recency,
// the cap, and articles' recent sales and best sellers as of a day.
#include "common/ranking/purchase_log.h"

#include <gtest/gtest.h>

#include <vector>

namespace towerstream::ranking {
namespace {

const Date kDay0 = Date::FromCivil(2020, 9, 1);

std::vector<hm::ArticleId> Articles(std::span<const PastPurchase> purchases) {
  std::vector<hm::ArticleId> out;
  for (const PastPurchase& p : purchases) out.push_back(p.article);
  return out;
}

TEST(PurchaseLogTest, DistinctArticlesLeastRecentFirstWithCountsAndLastDay) {
  PurchaseLog log;
  log.Add(1, 10, kDay0);
  log.Add(1, 20, kDay0 + 1);
  log.Add(2, 10, kDay0 + 1);
  log.Add(1, 10, kDay0 + 3);
  const auto purchases = log.Purchases(1);
  ASSERT_EQ(purchases.size(), 2u);
  EXPECT_EQ(purchases[0].article, 20);
  EXPECT_EQ(purchases[0].times, 1);
  EXPECT_EQ(purchases[0].last_day, (kDay0 + 1).days_since_epoch());
  EXPECT_EQ(purchases[1].article, 10);
  EXPECT_EQ(purchases[1].times, 2);
  EXPECT_EQ(purchases[1].last_day, (kDay0 + 3).days_since_epoch());
  EXPECT_TRUE(log.Knows(2));
  EXPECT_FALSE(log.Knows(3));
  EXPECT_TRUE(log.Purchases(3).empty());
}

TEST(PurchaseLogTest, KeepsTheMostRecentDistinctArticlesUpToItsCap) {
  PurchaseLogOptions options;
  options.per_customer = 3;
  PurchaseLog log(options);
  for (hm::ArticleId a : {1, 2, 3, 4, 2}) log.Add(7, a, kDay0);
  EXPECT_EQ(Articles(log.Purchases(7)), (std::vector<hm::ArticleId>{3, 4, 2}));
}

TEST(PurchaseLogTest, ArticleSalesAndBestSellersAsOfADayExcludeThatDay) {
  PurchaseLogOptions options;
  options.trending = 2;
  PurchaseLog log(options);
  log.Add(1, 100, kDay0);      // 8 days before kDay0 + 8: outside the week
  log.Add(1, 200, kDay0 + 2);  // inside
  log.Add(2, 200, kDay0 + 7);  // the day before
  log.Add(3, 300, kDay0 + 7);
  log.Add(4, 300, kDay0 + 7);
  log.Add(5, 400, kDay0 + 8);  // the day itself: not yet known
  const ArticleContext context = log.AsOf(kDay0 + 8);
  EXPECT_EQ(context.as_of, kDay0 + 8);
  const ArticleActivity& a100 = context.Of(100);
  EXPECT_TRUE(a100.sold);
  EXPECT_EQ(a100.last_week, 0);
  EXPECT_EQ(a100.first_day, kDay0.days_since_epoch());
  EXPECT_EQ(context.Of(200).last_week, 2);
  EXPECT_EQ(context.Of(200).last_day, 1);
  EXPECT_EQ(context.Of(300).last_week, 2);
  EXPECT_EQ(context.Of(300).last_day, 2);
  EXPECT_FALSE(context.Of(400).sold);
  EXPECT_EQ(context.Of(400).last_week, 0);
  // Ties by article id; capped at options.trending.
  EXPECT_EQ(context.trending, (std::vector<hm::ArticleId>{200, 300}));
}

}  // namespace
}  // namespace towerstream::ranking
