// `towerstream evaluate --plot DIR`: SVG charts of an evaluation and of the training that led
// to it.
//
//   recall_at_k.svg      recall@k for k = 1..100, the model beside the popularity and "buy
//                        again, then trending" baselines
//   training_loss.svg    training loss over examples trained      } from training_log.csv in
//   training_recall.svg  progressive recall@12 and @100 over them } the snapshot folder
//
// The training charts are skipped (and said so in the returned list) when the snapshot folder
// has no training log, e.g. snapshots of an older version.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/evaluation/evaluator.h"

namespace towerstream::evaluation {

// One row of training_log.csv.
struct TrainingLogRow {
  double unix_time = 0;
  int64_t step = 0;
  int64_t events_trained = 0;
  double loss = 0;
  double recall_at_12 = 0;
  double recall_at_100 = 0;
  double examples_per_second = 0;
};

// The rows of a training log; Corruption naming file:line for a malformed row.
Result<std::vector<TrainingLogRow>> ReadTrainingLog(const std::filesystem::path& path);

// Writes the charts into `dir` (created); returns a line per file written or skipped.
Result<std::vector<std::string>> WritePlots(const EvaluationReport& report,
                                            const std::filesystem::path& dir);

}  // namespace towerstream::evaluation
