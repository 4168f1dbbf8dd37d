// Fitting the ranker (ranking::Ranker) on a validation week: the week's buyers, their queries
// and candidates as of the week's start, and what they bought in it. `towerstream train` calls
// it when its last epoch reaches the week, before the towers train on it, so that the fit sees
// the towers as they will be on unseen purchases. Thread-compatible.
#pragma once

#include <cstdint>
#include <filesystem>

#include <torch/types.h>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/model/two_tower_model.h"
#include "common/ranking/ranker.h"

namespace towerstream::evaluation {

struct RankerFitWeekOptions {
  // The H&M files (found by their headers).
  std::filesystem::path data_dir;
  // The validation window [week_start, week_start + days).
  Date week_start;
  int days = 7;
  // Recent purchases per query (the model's history length).
  int64_t history_length = 20;
  ranking::CandidateOptions candidates;
  ranking::RankerFitOptions fit;
  torch::Device device = torch::kCPU;
  bool progress = true;

  Status Validate() const;
};

// Reads the files once (histories before week_start, purchases inside the window), builds each
// sampled buyer's candidates with `model` as it is now, and fits. The model's catalogue must
// hold the articles (as after training on the files).
Result<ranking::Ranker> FitRankerOnWeek(model::TwoTowerModel& model,
                                        const RankerFitWeekOptions& options);

}  // namespace towerstream::evaluation
