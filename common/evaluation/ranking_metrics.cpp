// MAP@12 (Kaggle's definition), recall@k and catalogue coverage.
#include "common/evaluation/ranking_metrics.h"

#include <algorithm>
#include <cmath>

namespace towerstream::evaluation {
namespace {

bool Contains(std::span<const hm::ArticleId> list, hm::ArticleId id) {
  return std::find(list.begin(), list.end(), id) != list.end();
}

}  // namespace

double AveragePrecisionAtK(std::span<const hm::ArticleId> actual,
                           std::span<const hm::ArticleId> predicted, int k) {
  if (actual.empty() || k <= 0) return 0.0;
  const size_t n = std::min(predicted.size(), static_cast<size_t>(k));
  double score = 0.0;
  double hits = 0.0;
  for (size_t i = 0; i < n; ++i) {
    const hm::ArticleId p = predicted[i];
    if (Contains(actual, p) && !Contains(predicted.first(i), p)) {
      hits += 1.0;
      score += hits / static_cast<double>(i + 1);
    }
  }
  return score / static_cast<double>(std::min(actual.size(), static_cast<size_t>(k)));
}

double RecallAtK(std::span<const hm::ArticleId> actual, std::span<const hm::ArticleId> predicted,
                 int k) {
  if (actual.empty() || k <= 0) return 0.0;
  const std::span<const hm::ArticleId> top =
      predicted.first(std::min(predicted.size(), static_cast<size_t>(k)));
  int64_t found = 0;
  for (const hm::ArticleId a : actual) found += Contains(top, a);
  return static_cast<double>(found) / static_cast<double>(actual.size());
}

void RankingAccumulator::Add(std::span<const hm::ArticleId> actual,
                             std::span<const hm::ArticleId> predicted) {
  ++customers_;
  ap_at_12_ += AveragePrecisionAtK(actual, predicted, 12);
  recall_at_12_ += RecallAtK(actual, predicted, 12);
  recall_at_100_ += RecallAtK(actual, predicted, 100);
  for (size_t i = 0; i < std::min<size_t>(predicted.size(), 12); ++i) {
    recommended_.insert(predicted[i]);
  }
  if (actual.empty()) return;
  // Recall at every k in one pass: a hit is an article bought, predicted for the first time.
  int64_t hits = 0;
  for (size_t k = 0; k < recall_curve_.size(); ++k) {
    if (k < predicted.size()) {
      const hm::ArticleId a = predicted[k];
      const bool bought = std::find(actual.begin(), actual.end(), a) != actual.end();
      const bool repeated = std::find(predicted.begin(), predicted.begin() + static_cast<long>(k),
                                      a) != predicted.begin() + static_cast<long>(k);
      hits += bought && !repeated;
    }
    recall_curve_[k] += static_cast<double>(hits) / static_cast<double>(actual.size());
  }
}

RankingMetrics RankingAccumulator::Finish(int64_t catalogue_size) const {
  RankingMetrics m;
  m.customers = customers_;
  m.catalogue_size = catalogue_size;
  m.distinct_recommended = static_cast<int64_t>(recommended_.size());
  if (customers_ > 0) {
    const auto n = static_cast<double>(customers_);
    m.map_at_12 = ap_at_12_ / n;
    m.recall_at_12 = recall_at_12_ / n;
    m.recall_at_100 = recall_at_100_ / n;
    for (const double sum : recall_curve_) m.recall_curve.push_back(sum / n);
  }
  if (catalogue_size > 0) {
    m.coverage = static_cast<double>(m.distinct_recommended) / static_cast<double>(catalogue_size);
  }
  return m;
}

void PairedAccumulator::Add(std::span<const hm::ArticleId> actual,
                            std::span<const hm::ArticleId> predicted_a,
                            std::span<const hm::ArticleId> predicted_b) {
  ++customers_;
  map_at_12_.Add(AveragePrecisionAtK(actual, predicted_a, 12) -
                 AveragePrecisionAtK(actual, predicted_b, 12));
  recall_at_12_.Add(RecallAtK(actual, predicted_a, 12) - RecallAtK(actual, predicted_b, 12));
  recall_at_100_.Add(RecallAtK(actual, predicted_a, 100) - RecallAtK(actual, predicted_b, 100));
}

PairedDifference PairedAccumulator::Moments::Finish(int64_t n) const {
  PairedDifference d;
  if (n < 1) return d;
  const auto count = static_cast<double>(n);
  d.mean = sum / count;
  if (n < 2) return d;
  // The sample variance, clamped at 0 against rounding when every difference is equal.
  const double variance = std::max(0.0, (sum_of_squares - count * d.mean * d.mean) / (count - 1));
  d.standard_error = std::sqrt(variance / count);
  return d;
}

PairedMetrics PairedAccumulator::Finish() const {
  PairedMetrics m;
  m.customers = customers_;
  m.map_at_12 = map_at_12_.Finish(customers_);
  m.recall_at_12 = recall_at_12_.Finish(customers_);
  m.recall_at_100 = recall_at_100_.Finish(customers_);
  return m;
}

}  // namespace towerstream::evaluation
