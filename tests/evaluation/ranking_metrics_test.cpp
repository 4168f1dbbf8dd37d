// Kaggle's MAP@12 as the competition computed it, recall@k and coverage, on hand-worked cases.
#include "common/evaluation/ranking_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

namespace towerstream::evaluation {
namespace {

using Ids = std::vector<hm::ArticleId>;

struct ApCase {
  std::string name;
  Ids actual;
  Ids predicted;
  int k;
  double expected;
};

TEST(AveragePrecisionTest, MatchesTheCompetitionsApk) {
  const std::vector<ApCase> cases = {
      {"no purchase scores 0", {}, {1, 2, 3}, 12, 0.0},
      {"first hit at rank 1", {1}, {1, 2, 3}, 12, 1.0},
      {"one hit at rank 3", {7}, {1, 2, 7}, 12, 1.0 / 3},
      // Hits at ranks 1 and 3 of 2 bought: (1/1 + 2/3) / 2.
      {"two hits", {1, 3}, {1, 2, 3}, 12, (1.0 + 2.0 / 3) / 2},
      // Divided by min(m, k): 15 bought, 12 predicted all right -> 12/12 = 1.
      {"more bought than k",
       {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15},
       {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12},
       12,
       1.0},
      // A hit beyond rank k does not count.
      {"hit after k", {13}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13}, 12, 0.0},
      // A repeated prediction counts once (apk: `p not in predicted[:i]`).
      {"repeated prediction", {5}, {5, 5, 2}, 12, 1.0},
      {"repeat after a miss", {2, 5}, {1, 2, 2, 5}, 12, (1.0 / 2 + 2.0 / 4) / 2},
      {"k of 2", {3}, {1, 2, 3}, 2, 0.0},
  };
  for (const ApCase& c : cases) {
    EXPECT_NEAR(AveragePrecisionAtK(c.actual, c.predicted, c.k), c.expected, 1e-12) << c.name;
  }
}

TEST(RecallTest, CountsDistinctHitsInTheTopK) {
  EXPECT_DOUBLE_EQ(RecallAtK(Ids{1, 2, 3, 4}, Ids{4, 9, 1}, 12), 0.5);
  EXPECT_DOUBLE_EQ(RecallAtK(Ids{1, 2}, Ids{9, 1, 2}, 2), 0.5) << "only the first 2 count";
  EXPECT_DOUBLE_EQ(RecallAtK(Ids{}, Ids{1}, 12), 0.0);
}

TEST(RankingAccumulatorTest, AveragesOverCustomersAndMeasuresCoverage) {
  RankingAccumulator acc;
  acc.Add(Ids{1}, Ids{1, 2, 3});     // AP 1, recall 1
  acc.Add(Ids{9, 8}, Ids{4, 5, 6});  // AP 0, recall 0
  const RankingMetrics m = acc.Finish(/*catalogue_size=*/12);
  EXPECT_EQ(m.customers, 2);
  EXPECT_DOUBLE_EQ(m.map_at_12, 0.5);
  EXPECT_DOUBLE_EQ(m.recall_at_12, 0.5);
  EXPECT_DOUBLE_EQ(m.recall_at_100, 0.5);
  EXPECT_EQ(m.distinct_recommended, 6);
  EXPECT_DOUBLE_EQ(m.coverage, 0.5);
}

TEST(RankingAccumulatorTest, CoverageCountsOnlyTheTop12) {
  RankingAccumulator acc;
  Ids predicted;
  for (hm::ArticleId a = 0; a < 100; ++a) predicted.push_back(a);
  acc.Add(Ids{99}, predicted);
  const RankingMetrics m = acc.Finish(1000);
  EXPECT_EQ(m.distinct_recommended, 12);
  EXPECT_DOUBLE_EQ(m.recall_at_12, 0.0);
  EXPECT_DOUBLE_EQ(m.recall_at_100, 1.0);
}

// The curve behind `evaluate --plot`: at every k it is the mean of RecallAtK, repeated
// predictions counting once.
TEST(RankingAccumulatorTest, RecallCurveIsMeanRecallAtEveryK) {
  const std::vector<std::pair<Ids, Ids>> customers = {
      {{1, 2, 3}, {9, 1, 1, 8, 3, 7}},
      {{4}, {4}},
      {{5, 6}, {}},
  };
  RankingAccumulator accumulator;
  for (const auto& [actual, predicted] : customers) accumulator.Add(actual, predicted);
  const RankingMetrics m = accumulator.Finish(100);
  ASSERT_EQ(m.recall_curve.size(), static_cast<size_t>(kRecallCurveLength));
  for (int k = 1; k <= kRecallCurveLength; ++k) {
    double expected = 0;
    for (const auto& [actual, predicted] : customers) expected += RecallAtK(actual, predicted, k);
    EXPECT_NEAR(m.recall_curve[static_cast<size_t>(k - 1)], expected / 3, 1e-12) << "k " << k;
  }
  EXPECT_NEAR(m.recall_curve[11], m.recall_at_12, 1e-12);
  EXPECT_NEAR(m.recall_curve[99], m.recall_at_100, 1e-12);
}

TEST(PairedAccumulatorTest, MeanDifferenceAndItsStandardError) {
  // Recall@12 differences (A - B): +1, 0, -0.5, +0.5; mean 0.25, sample variance
  // (0.5625 + 0.0625 + 0.5625 + 0.0625) / 3 = 5/12, standard error sqrt(5/12 / 4).
  PairedAccumulator paired;
  paired.Add(Ids{1}, Ids{1}, Ids{9});
  paired.Add(Ids{2}, Ids{2}, Ids{2});
  paired.Add(Ids{3, 4}, Ids{9}, Ids{3});
  paired.Add(Ids{5, 6}, Ids{5, 6}, Ids{6});
  const PairedMetrics m = paired.Finish();
  EXPECT_EQ(m.customers, 4);
  EXPECT_NEAR(m.recall_at_12.mean, 0.25, 1e-12);
  EXPECT_NEAR(m.recall_at_12.standard_error, std::sqrt(5.0 / 12.0 / 4.0), 1e-12);
  EXPECT_FALSE(m.recall_at_12.Significant());
  EXPECT_NEAR(m.recall_at_100.mean, 0.25, 1e-12);
  // AP@12: 1 - 0, 1 - 1, 0 - 0.5, 1 - 0.5.
  EXPECT_NEAR(m.map_at_12.mean, 0.25, 1e-12);
}

TEST(PairedAccumulatorTest, AConstantGainIsSignificantWhateverItsSize) {
  PairedAccumulator paired;
  for (int i = 0; i < 50; ++i) {
    // A finds one of the two bought articles, B none: +0.5 recall for every customer.
    paired.Add(Ids{i, 1000 + i}, Ids{i}, Ids{-1});
  }
  const PairedMetrics m = paired.Finish();
  EXPECT_NEAR(m.recall_at_12.mean, 0.5, 1e-12);
  EXPECT_NEAR(m.recall_at_12.standard_error, 0.0, 1e-9);
  EXPECT_TRUE(m.recall_at_12.Significant());
}

TEST(PairedAccumulatorTest, NoCustomersNoDifference) {
  const PairedMetrics m = PairedAccumulator().Finish();
  EXPECT_EQ(m.customers, 0);
  EXPECT_EQ(m.map_at_12.mean, 0);
  EXPECT_EQ(m.map_at_12.standard_error, 0);
  EXPECT_FALSE(m.map_at_12.Significant());
}

}  // namespace
}  // namespace towerstream::evaluation
