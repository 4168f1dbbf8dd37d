// The default dataset matches the real H&M aggregates and carries learnable structure.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>

#include "common/datagen/calibration_tables.h"
#include "common/datagen/catalog.h"
#include "common/datagen/demand.h"
#include "common/datagen/generator.h"
#include "common/datagen/population.h"
#include "common/hm/records.h"
#include "tests/datagen/dataset.h"

namespace towerstream::datagen {
namespace {

namespace cal = calibration;
using testing::Column;
using testing::Dataset;

// The default options: the dataset `towerstream generate` writes without size options.
class CalibrationTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<Dataset>> data = testing::GenerateAndLoad(GeneratorOptions{});
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    data_ = std::move(*data).release();
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }

  // Share of transactions per value of an articles.csv column.
  static std::map<std::string, double> TransactionShares(std::string_view column) {
    const int c = Column(hm::kArticlesHeader, column);
    std::map<std::string, double> shares;
    for (const auto& t : data_->transactions) shares[data_->articles[t.article][c]] += 1;
    for (auto& [k, v] : shares) v /= static_cast<double>(data_->transactions.size());
    return shares;
  }
  static std::map<std::string, double> CustomerShares(int column) {
    std::map<std::string, double> shares;
    for (const auto& row : data_->customers) shares[row[column]] += 1;
    for (auto& [k, v] : shares) v /= static_cast<double>(data_->customers.size());
    return shares;
  }
  static const std::string& Article(const testing::LoadedTransaction& t, std::string_view column) {
    return data_->articles[t.article][Column(hm::kArticlesHeader, column)];
  }

  static Dataset* data_;
};
Dataset* CalibrationTest::data_ = nullptr;

std::string AgeBucket(const std::string& age) {
  if (age.empty()) return "unknown";
  const int a = std::stoi(age);
  if (a < 20) return "under_20";
  if (a >= 60) return "60_plus";
  const int decade = a / 10 * 10;
  return std::to_string(decade) + "_to_" + std::to_string(decade + 9);
}

TEST_F(CalibrationTest, IndexGroupTransactionSharesMatchTheRealData) {
  const auto shares = TransactionShares("index_group_name");
  for (const auto& g : cal::kIndexGroups) {
    EXPECT_NEAR(shares.count(std::string(g.name)) ? shares.at(std::string(g.name)) : 0.0,
                g.transaction_share, 0.03)
        << g.name;
  }
}

TEST_F(CalibrationTest, IndexGroupArticleSharesMatchTheRealData) {
  const int c = Column(hm::kArticlesHeader, "index_group_name");
  std::map<std::string, double> shares;
  for (const auto& row : data_->articles)
    shares[row[c]] += 1.0 / static_cast<double>(data_->articles.size());
  for (const auto& g : cal::kIndexGroups)
    EXPECT_NEAR(shares[std::string(g.name)], g.article_share, 0.03) << g.name;
}

TEST_F(CalibrationTest, MajorProductGroupSharesMatchTheRealData) {
  const auto shares = TransactionShares("product_group_name");
  for (const auto& g : cal::kProductGroups) {
    if (g.transaction_share < 0.02) continue;
    const double got = shares.count(std::string(g.name)) ? shares.at(std::string(g.name)) : 0.0;
    EXPECT_NEAR(got / g.transaction_share, 1.0, 0.3)
        << g.name << ": " << got << " vs " << g.transaction_share;
  }
}

TEST_F(CalibrationTest, OnlineShareMatchesTheRealData) {
  double online = 0;
  for (const auto& t : data_->transactions) online += t.channel == 2;
  EXPECT_NEAR(online / static_cast<double>(data_->transactions.size()), cal::kOnlineShare, 0.01);
}

TEST_F(CalibrationTest, AgeBucketSharesMatchTheRealData) {
  std::map<std::string, double> shares;
  for (const auto& row : data_->customers) {
    shares[AgeBucket(row[5])] += 1.0 / static_cast<double>(data_->customers.size());
  }
  for (const auto& b : cal::kAgeBuckets)
    EXPECT_NEAR(shares[std::string(b.name)], b.share, 0.015) << b.name;
}

TEST_F(CalibrationTest, ClubStatusAndNewsSharesMatchTheRealData) {
  const auto club = CustomerShares(3);
  for (const auto& s : cal::kClubMemberStatus) {
    EXPECT_NEAR(club.count(std::string(s.name)) ? club.at(std::string(s.name)) : 0.0, s.share,
                0.015)
        << "'" << s.name << "'";
  }
  const auto news = CustomerShares(4);
  EXPECT_NEAR(news.at("NONE"), 0.64, 0.02);
  EXPECT_NEAR(news.at("Regularly"), 0.348, 0.02);
  // Kaggle's raw file spells "None" a few times beside "NONE"; readers must see both.
  EXPECT_GT(news.count("None"), 0u);
  // FN follows the subscription (real: 34.8% FN, 33.8% Active).
  const auto fn = CustomerShares(1);
  EXPECT_NEAR(fn.at("1.0"), 0.348, 0.02);
}

TEST_F(CalibrationTest, DailyCurveFollowsTheRealOne) {
  std::vector<double> got(static_cast<size_t>(data_->options.days), 0.0), want;
  for (const auto& t : data_->transactions) got[t.day] += 1;
  for (int32_t d = 0; d < data_->options.days; ++d) {
    want.push_back(cal::kDaily[RealDayIndex(data_->options.start_date + d)].transactions);
  }
  double mg = 0, mw = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    mg += got[i] / static_cast<double>(got.size());
    mw += want[i] / static_cast<double>(got.size());
  }
  double cov = 0, vg = 0, vw = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    cov += (got[i] - mg) * (want[i] - mw);
    vg += (got[i] - mg) * (got[i] - mg);
    vw += (want[i] - mw) * (want[i] - mw);
  }
  EXPECT_GT(cov / std::sqrt(vg * vw), 0.9);
}

TEST_F(CalibrationTest, PopularityIsSkewedLikeTheRealData) {
  // Real: the top 200 of 105,542 articles (0.19%) take 7.07% of transactions.
  std::vector<double> counts(data_->articles.size(), 0.0);
  for (const auto& t : data_->transactions) counts[t.article] += 1;
  std::sort(counts.rbegin(), counts.rend());
  double real_top = 0;
  for (int32_t n : cal::kTopArticleTransactions) real_top += n;
  real_top /= static_cast<double>(cal::kRealTransactions);
  const size_t k = std::max<size_t>(
      1, static_cast<size_t>(
             std::lround(200.0 * static_cast<double>(counts.size()) / cal::kRealArticles)));
  double top = 0;
  for (size_t i = 0; i < k; ++i) top += counts[i];
  top /= static_cast<double>(data_->transactions.size());
  EXPECT_GT(top, real_top / 2) << "top " << k << " articles";
  EXPECT_LT(top, real_top * 2) << "top " << k << " articles";
  // And nearly every article sells (real: 99%).
  EXPECT_GT(std::count_if(counts.begin(), counts.end(), [](double c) { return c > 0; }),
            static_cast<long>(0.9 * static_cast<double>(counts.size())));
}

TEST_F(CalibrationTest, AveragePriceMatchesTheRealData) {
  double sum = 0;
  for (const auto& t : data_->transactions) sum += static_cast<double>(t.price_k) / 59000;
  EXPECT_NEAR(sum / static_cast<double>(data_->transactions.size()) / cal::kRealAveragePrice, 1.0,
              0.1);
}

TEST_F(CalibrationTest, NearlyEveryCustomerBuys) {
  std::set<int32_t> buyers;
  for (const auto& t : data_->transactions) buyers.insert(t.customer);
  EXPECT_GT(static_cast<double>(buyers.size()),
            0.97 * static_cast<double>(data_->customers.size()));
}

// --- Learnable structure -----------------------------------------------------------------

// The hidden model behind the default dataset, rebuilt from the same seed.
struct HiddenModel {
  Catalog catalog;
  Population population;
};
HiddenModel Hidden(const GeneratorOptions& o) {
  HiddenModel h{BuildCatalog(o.seed, o.articles, o.days),
                BuildPopulation(o.seed, o.customers, o.days)};
  DemandModel(h.catalog).AssignTastes(o.seed, &h.population);
  return h;
}

TEST_F(CalibrationTest, HiddenModelIsTheOneBehindTheFiles) {
  const HiddenModel h = Hidden(data_->options);
  for (size_t i = 0; i < data_->articles.size(); i += 97) {
    EXPECT_EQ(hm::FormatArticleId(h.catalog.articles[i].article_id), data_->articles[i][0]);
  }
  for (size_t i = 0; i < data_->customers.size(); i += 97) {
    EXPECT_EQ(h.population.id(static_cast<int64_t>(i)), data_->customers[i][0]);
  }
}

TEST_F(CalibrationTest, CustomersConcentrateOnTheirFavouriteIndexGroup) {
  const HiddenModel h = Hidden(data_->options);
  const auto global = TransactionShares("index_group_name");
  // Per favourite group: purchases of customers with that favourite, and how many in it.
  std::map<std::string, std::pair<double, double>> by_favourite;
  for (const auto& t : data_->transactions) {
    const auto& m = h.population.models[t.customer];
    const std::string favourite(cal::kIndexGroups[m.favourite_index_group].name);
    auto& [total, in_favourite] = by_favourite[favourite];
    total += 1;
    in_favourite += Article(t, "index_group_name") == favourite;
  }
  // At least 30% of the way from the global share to buying nothing else (Sport: 3% -> 41%).
  for (const auto& [group, counts] : by_favourite) {
    const double share = counts.second / counts.first;
    const double g = global.at(group);
    EXPECT_GT(share, g + 0.3 * (1 - g)) << group << ": " << share << " vs global " << g;
  }
}

TEST_F(CalibrationTest, CustomersLeanToTheirFavouriteColour) {
  const HiddenModel h = Hidden(data_->options);
  std::map<int, double> global;
  double in_favourite = 0, expected = 0;
  const double n = static_cast<double>(data_->transactions.size());
  for (const auto& t : data_->transactions)
    global[h.catalog.models[t.article].colour_master] += 1 / n;
  for (const auto& t : data_->transactions) {
    const auto& m = h.population.models[t.customer];
    in_favourite += h.catalog.models[t.article].colour_master == m.favourite_colour;
    expected += global[m.favourite_colour];
  }
  EXPECT_GT(in_favourite / expected, 1.3);
}

TEST_F(CalibrationTest, BasketsLookLikeRealOnes) {
  // A basket is one customer's rows on one day (real: 3.39 rows, 9.65% repeated articles).
  double baskets = 0, duplicates = 0, multi = 0, two_colours = 0;
  for (size_t i = 0; i < data_->transactions.size();) {
    size_t j = i;
    std::set<int32_t> articles;
    std::map<std::string, std::set<int32_t>> by_product;
    for (; j < data_->transactions.size() &&
           data_->transactions[j].day == data_->transactions[i].day &&
           data_->transactions[j].customer == data_->transactions[i].customer;
         ++j) {
      const auto& t = data_->transactions[j];
      duplicates += !articles.insert(t.article).second;
      by_product[Article(t, "product_code")].insert(t.article);
    }
    baskets += 1;
    multi += j - i > 1;
    two_colours += std::any_of(by_product.begin(), by_product.end(),
                               [](const auto& p) { return p.second.size() > 1; });
    i = j;
  }
  const double rows = static_cast<double>(data_->transactions.size());
  EXPECT_NEAR(rows / baskets, 3.39, 0.6);
  EXPECT_NEAR(duplicates / rows, cal::kBasketDuplicateRowShare, 0.03);
  EXPECT_GT(two_colours / multi, 0.1) << "baskets with two colours of one product";
}

TEST_F(CalibrationTest, CustomersRebuyArticles) {
  std::set<std::pair<int32_t, int32_t>> bought;  // (customer, article) before today
  std::vector<std::pair<int32_t, int32_t>> today;
  double repeats = 0;
  int32_t day = 0;
  for (const auto& t : data_->transactions) {
    if (t.day != day) {
      bought.insert(today.begin(), today.end());
      today.clear();
      day = t.day;
    }
    repeats += bought.count({t.customer, t.article});
    today.emplace_back(t.customer, t.article);
  }
  const double rate = repeats / static_cast<double>(data_->transactions.size());
  EXPECT_GT(rate, 0.03);
  EXPECT_LT(rate, 0.3);
}

TEST_F(CalibrationTest, SwimwearSellsInSummer) {
  double summer = 0, summer_swim = 0, winter = 0, winter_swim = 0;
  for (const auto& t : data_->transactions) {
    const unsigned month = (data_->options.start_date + t.day).Month();
    const bool swim = Article(t, "product_group_name") == "Swimwear";
    if (month == 6 || month == 7) {
      summer += 1;
      summer_swim += swim;
    } else if (month == 12 || month == 1) {
      winter += 1;
      winter_swim += swim;
    }
  }
  EXPECT_GT(summer_swim / summer, 2 * winter_swim / winter);
}

TEST_F(CalibrationTest, SalesRiseAfterLaunchThenFade) {
  const HiddenModel h = Hidden(data_->options);
  // Sales by week since launch, of fading articles launched early enough to see 20 weeks.
  std::vector<double> weeks(21, 0.0);
  for (const auto& t : data_->transactions) {
    const ArticleModel& m = h.catalog.models[t.article];
    if (m.decay_days == 0 || m.launch_day < 0 || m.launch_day > data_->options.days - 150) continue;
    const int32_t week = (t.day - m.launch_day) / 7;
    if (week >= 0 && week < 21) weeks[week] += 1;
  }
  const auto peak = std::max_element(weeks.begin(), weeks.end());
  EXPECT_GE(peak - weeks.begin(), 1) << "sales rise after the launch week";
  EXPECT_LE(peak - weeks.begin(), 6);
  EXPECT_LT(weeks[20], 0.5 * *peak) << "and fade";
}

TEST_F(CalibrationTest, NewCustomersKeepArriving) {
  std::set<int32_t> seen_first_year, new_later;
  for (const auto& t : data_->transactions) {
    if (t.day < 365) {
      seen_first_year.insert(t.customer);
    } else if (!seen_first_year.count(t.customer)) {
      new_later.insert(t.customer);
    }
  }
  EXPECT_GT(static_cast<double>(new_later.size()),
            0.1 * static_cast<double>(data_->customers.size()));
}

}  // namespace
}  // namespace towerstream::datagen
