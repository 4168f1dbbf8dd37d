// Offline evaluation of a snapshot on held-out purchases (`towerstream evaluate`): Kaggle's
// MAP@12, recall@12, recall@100 and catalogue coverage, beside two baselines, overall and by
// segment.
//
// The test window is [test_start, test_start + test_days); the customers scored are those who
// bought in it, each with their features and their last purchases before test_start, as the
// trainer would see them. Every article of articles.csv is a candidate. The popularity
// baseline recommends, to everyone, the articles most bought in the baseline_days before
// test_start; "buy again, then trending" recommends a customer's own earlier purchases, most
// recent first, then those best sellers (baselines.h). Segments: customers with and without a
// purchase before test_start, and the purchases of articles first sold inside the window.
// Evaluate() is a pure function of its inputs (files and snapshot); thread-compatible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/evaluation/best_possible.h"
#include "common/evaluation/ranking_metrics.h"

namespace towerstream::evaluation {

struct EvaluateOptions {
  // A snapshot directory, or a snapshot root (its LATEST).
  std::filesystem::path snapshot;
  // The H&M files (found by their headers).
  std::filesystem::path data_dir;
  // First day of the test window; unset: the last 7 days of the transactions file, the part
  // `towerstream train` holds out by default.
  std::optional<Date> test_start;
  int test_days = 7;
  // The popularity baseline counts purchases of this many days before test_start.
  int baseline_days = 7;
  // Recent purchases per query; unset: the model's history length.
  std::optional<int64_t> history_length;
  // Where the model runs.
  torch::Device device = torch::kCPU;
  // A generated dataset's ground truth (a data folder, its ground-truth folder or
  // best_possible.json, written by `towerstream generate`): the report then gives every
  // figure as a share of the best achievable. Its window must be the test window.
  std::filesystem::path best_possible;
  // Draw a progress bar on stderr while scoring.
  bool progress = true;

  Status Validate() const;
};

// The three rankings' figures on one set of customers and purchases.
struct SegmentMetrics {
  std::string name;         // JSON key: returning_customers, new_customers, new_articles
  std::string description;  // for the printed table
  RankingMetrics model;
  RankingMetrics popularity;
  RankingMetrics repurchase;
};

struct EvaluationReport {
  std::string snapshot_dir;
  std::string snapshot_id;
  int64_t snapshot_step = 0;
  int64_t snapshot_events_trained = 0;
  Date test_start;
  Date test_end;  // exclusive
  int64_t test_purchases = 0;
  int64_t customers_without_history = 0;  // scored customers with no purchase before test_start
  int64_t catalogue_size = 0;
  RankingMetrics model;
  RankingMetrics popularity;
  RankingMetrics repurchase;  // buy again, then trending
  // The towers' nearest articles without the ranker: what re-ranking adds.
  RankingMetrics towers;
  std::string ranker;  // Ranker::Describe() of the snapshot's ranker
  // Customers with earlier purchases, customers without, and (per customer, only the articles
  // first sold inside the window; customers without one left out) new articles.
  std::vector<SegmentMetrics> segments;
  // The generator's best achievable figures on the same window, when given.
  std::optional<BestPossible> best_possible;
  double seconds = 0;
};

Result<EvaluationReport> Evaluate(const EvaluateOptions& options);

// The printed tables: one row per metric with the model and the baselines side by side, then
// MAP@12 / recall@12 / recall@100 of each by segment.
std::string FormatReport(const EvaluationReport& report);
// {"model": {...}, "popularity": {...}, "repurchase": {...}, "segments": {"returning_customers":
// {"model": ..., "popularity": ..., "repurchase": ...}, ...}, ...} with map_at_12,
// recall_at_12, recall_at_100 and coverage in each ranking's object (the --report file).
nlohmann::json ReportJson(const EvaluationReport& report);

}  // namespace towerstream::evaluation
