// Fitting the ranker (ranking::Ranker) on a validation week: the week's buyers, their queries
// and candidates as of the week's start, and what they bought in it. `towerstream train` calls
// it when its last epoch reaches the week, before the towers train on it, so that the fit sees
// the towers as they will be on unseen purchases. Thread-compatible.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

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
  bool progress = true;

  Status Validate() const;
};

// What the fit reads from the files: histories before week_start and the purchases inside the
// window. Reading them is most of a fit's time at Kaggle's size (one pass over 3.5 GB), and
// needs no model, so `train` reads them on another thread while the towers train.
// Immutable once loaded: Fit() may run on any thread.
class RankerWeek {
 public:
  static Result<std::unique_ptr<RankerWeek>> Load(const RankerFitWeekOptions& options);
  ~RankerWeek();
  RankerWeek(const RankerWeek&) = delete;
  RankerWeek& operator=(const RankerWeek&) = delete;

  // Builds each sampled buyer's candidates with `model` as it is now (on its device), and fits. The
  // model's catalogue must hold the articles (as after training on the files).
  Result<ranking::Ranker> Fit(model::TwoTowerModel& model) const;

 private:
  struct Data;
  explicit RankerWeek(std::unique_ptr<Data> data);
  std::unique_ptr<Data> data_;
};

// RankerWeek::Load, then Fit.
Result<ranking::Ranker> FitRankerOnWeek(model::TwoTowerModel& model,
                                        const RankerFitWeekOptions& options);

// The fit the trainers ask for (EmbeddedOptions::fit_ranker): the window [week_start, week_end)
// of the H&M files in `data_dir`, queries of the model's history length, no progress bars.
Result<ranking::Ranker> FitRankerOnWindow(model::TwoTowerModel& model,
                                          const std::filesystem::path& data_dir, Date week_start,
                                          Date week_end);

}  // namespace towerstream::evaluation
