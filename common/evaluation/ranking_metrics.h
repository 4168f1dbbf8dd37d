// Ranking metrics of the H&M competition and their averages over customers.
//
// AveragePrecisionAtK is Kaggle's MAP@12 building block exactly as the competition scored it
// (the `apk` of the ml_metrics package it used): a hit counts only the first time an article
// is predicted, and the sum is divided by min(|actual|, k). Pure functions and a value-type
// accumulator; thread-compatible.
#pragma once

#include <cmath>
#include <cstdint>
#include <span>
#include <unordered_set>
#include <vector>

#include "common/hm/records.h"

namespace towerstream::evaluation {

// AP@k of one customer: (1 / min(|actual|, k)) * sum over the first k predictions of
// precision@i at each position i holding an article of `actual` not predicted before.
// 0 when `actual` is empty. `actual` should hold distinct articles.
double AveragePrecisionAtK(std::span<const hm::ArticleId> actual,
                           std::span<const hm::ArticleId> predicted, int k);

// |distinct first k predictions in actual| / |actual|; 0 when `actual` is empty.
double RecallAtK(std::span<const hm::ArticleId> actual, std::span<const hm::ArticleId> predicted,
                 int k);

struct RankingMetrics {
  int64_t customers = 0;     // customers scored (those who bought in the test window)
  double map_at_12 = 0;      // mean AP@12 over them (Kaggle's MAP@12)
  double recall_at_12 = 0;   // mean recall@12
  double recall_at_100 = 0;  // mean recall@100
  double coverage = 0;       // distinct articles recommended in some top 12 / catalogue size
  int64_t distinct_recommended = 0;
  int64_t catalogue_size = 0;
  // recall_curve[k - 1]: mean recall@k for k = 1..kRecallCurveLength (the --plot chart).
  std::vector<double> recall_curve;
};

inline constexpr int kRecallCurveLength = 100;

// Sums per-customer figures; Finish() averages them.
class RankingAccumulator {
 public:
  // One customer: the distinct articles they bought, and the ranked predictions (at least
  // 100 are needed for recall@100 to mean what it says).
  void Add(std::span<const hm::ArticleId> actual, std::span<const hm::ArticleId> predicted);
  RankingMetrics Finish(int64_t catalogue_size) const;

 private:
  int64_t customers_ = 0;
  double ap_at_12_ = 0;
  double recall_at_12_ = 0;
  double recall_at_100_ = 0;
  std::vector<double> recall_curve_ = std::vector<double>(kRecallCurveLength, 0.0);
  std::unordered_set<hm::ArticleId> recommended_;
};

// The mean per-customer difference of two rankers scored on the same customers (A - B), with
// its standard error: paired, so that what both rank alike cancels and a small gain can be told
// from noise where the metrics themselves vary far more from customer to customer.
struct PairedDifference {
  double mean = 0;
  double standard_error = 0;  // of the mean; 0 with fewer than 2 customers
  // The 95% interval mean +- 1.96 standard errors excludes 0.
  bool Significant() const { return std::abs(mean) > 1.96 * standard_error; }
};

struct PairedMetrics {
  int64_t customers = 0;
  PairedDifference map_at_12, recall_at_12, recall_at_100;
};

class PairedAccumulator {
 public:
  // One customer's distinct purchases and the two rankings (A first).
  void Add(std::span<const hm::ArticleId> actual, std::span<const hm::ArticleId> predicted_a,
           std::span<const hm::ArticleId> predicted_b);
  PairedMetrics Finish() const;

 private:
  struct Moments {
    double sum = 0, sum_of_squares = 0;
    void Add(double x) {
      sum += x;
      sum_of_squares += x * x;
    }
    PairedDifference Finish(int64_t n) const;
  };
  int64_t customers_ = 0;
  Moments map_at_12_, recall_at_12_, recall_at_100_;
};

}  // namespace towerstream::evaluation
