// The stream's value, measured (`towerstream evaluate --online`): the test window replayed day
// by day. For each day, that day's buyers are ranked by the model and histories as they stood
// at the end of the day before; then the model trains on the day's purchases (examples built
// as ingest builds them, trained by TwoTowerModel::Train as the streaming trainer does, in
// micro-batches, once). Beside it, the same snapshot frozen at the window's start (towers,
// histories and article sales as of then: what a model retrained weekly serves), the same
// snapshot with the day's fresh histories but frozen towers (what fresh features alone buy,
// without training), and the baselines recomputed every day (best sellers of the 7 days before,
// buy again, then trending). Online minus frozen comes with its paired standard error, so that
// a gain is told from noise.
//
// Figures are per (customer, day): a customer who buys on two days counts twice, each time
// against that day's purchases. Kaggle's weekly figures are `evaluate`'s ordinary table.
// Thread-compatible.
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
#include "common/evaluation/ranking_metrics.h"

namespace towerstream::evaluation {

struct OnlineReplayOptions {
  // A snapshot directory, or a snapshot root (its LATEST).
  std::filesystem::path snapshot;
  std::filesystem::path data_dir;
  // The window [test_start, test_start + test_days); unset start: the file's last test_days.
  std::optional<Date> test_start;
  int test_days = 7;
  // Examples per training step while replaying (the trainer's default micro-batch).
  int64_t batch_size = 512;
  torch::Device device = torch::kCPU;
  bool progress = true;

  Status Validate() const;
};

struct OnlineDay {
  Date day;
  int64_t customers = 0;       // buyers of the day, scored
  int64_t purchases = 0;       // the day's transactions, trained after scoring
  int64_t trained_before = 0;  // examples the online model had trained in the replay when it
                               // scored the day (the days before, never this one)
  RankingMetrics online, frozen, fresh_histories, popularity, repurchase;
};

struct OnlineReport {
  std::string snapshot_id;
  Date test_start;
  Date test_end;  // exclusive
  std::vector<OnlineDay> days;
  // Over every (customer, day) of the window.
  RankingMetrics online, frozen, fresh_histories, popularity, repurchase;
  // Per (customer, day), with standard errors: whether a gain is more than noise.
  PairedMetrics online_minus_frozen;
  PairedMetrics fresh_histories_minus_frozen;
  int64_t examples_trained = 0;
  double seconds = 0;
};

Result<OnlineReport> ReplayOnline(const OnlineReplayOptions& options);

std::string FormatOnlineReport(const OnlineReport& report);
nlohmann::json OnlineReportJson(const OnlineReport& report);

}  // namespace towerstream::evaluation
