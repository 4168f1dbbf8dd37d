// `evaluate --mlflow-uri`: the held-out figures as metrics of the MLflow run that trained the
// snapshot (or of a new run when it has none), and the report, the plots and the snapshot's
// manifest as that run's artifacts.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/status.h"
#include "common/evaluation/evaluator.h"
#include "common/evaluation/online_replay.h"

namespace towerstream::cli {

struct EvaluationTrackingOptions {
  // http://HOST[:PORT][/PREFIX] of the MLflow tracking server (--mlflow-uri).
  std::string tracking_uri;
  // Where a run is created when the snapshot has none (--mlflow-experiment).
  std::string experiment = "towerstream";
  // Also upload every file of the snapshot (--mlflow-log-snapshot): at Kaggle's size about a
  // GB, each file read into memory in turn.
  bool log_snapshot = false;
  // Longest wait for one REST call (uploads get more in proportion to their size).
  std::chrono::milliseconds request_timeout{30'000};
};

// What goes to the run besides the metrics: the report in both forms and the chart files.
struct EvaluationOutputs {
  std::string report_text;  // the printed tables
  std::string report_json;  // the --report JSON
  std::vector<std::filesystem::path> plots;
};

// A fresh folder under the system's temp dir, removed with its content when destroyed (the
// charts MLflow gets when evaluate writes none for the user). Move-only.
class ScopedTempFolder {
 public:
  static Result<ScopedTempFolder> Create(const std::string& prefix);
  ScopedTempFolder(ScopedTempFolder&& other) noexcept : path_(std::move(other.path_)) {
    other.path_.clear();
  }
  ScopedTempFolder& operator=(ScopedTempFolder&&) = delete;
  ScopedTempFolder(const ScopedTempFolder&) = delete;
  ScopedTempFolder& operator=(const ScopedTempFolder&) = delete;
  ~ScopedTempFolder();
  const std::filesystem::path& path() const { return path_; }

 private:
  explicit ScopedTempFolder(std::filesystem::path path) : path_(std::move(path)) {}
  std::filesystem::path path_;
};

// The figures as MLflow metrics: the model's as test_<figure> (test_map_at_12,
// test_recall_at_12, test_recall_at_100, test_coverage), the towers without the ranker as
// test_towers_only_<figure>, the baselines as baseline_popularity_<figure> and
// baseline_repurchase_<figure>, each segment as test_<segment>_<figure> (and the baselines'),
// counts (test_customers, test_purchases, ...), best_possible_<figure> when known, and with
// `online` online_<figure>, online_frozen_<figure>, online_fresh_histories_<figure>,
// online_baseline_*_<figure> and online_minus_frozen_<figure> (the paired mean).
std::vector<std::pair<std::string, double>> EvaluationMetrics(
    const evaluation::EvaluationReport& report, const evaluation::OnlineReport* online);

// Logs them to the snapshot's run at its training step: the run id from its manifest
// (mlflow_run_id), else from <snapshot root>/mlflow_run_id (snapshots of earlier builds).
// Without one, or when this server does not have it, a run named "evaluate <snapshot id>" is
// created in options.experiment, and `say` says so. Artifacts go under
// evaluation/<snapshot id>/ (report.json, report.txt, the charts) and snapshot/<snapshot id>/
// (manifest.json, and with log_snapshot every payload file). Errors name the server and what
// failed; the evaluation itself is complete by then.
Status LogEvaluationToMlflow(const EvaluationTrackingOptions& options,
                             const evaluation::EvaluationReport& report,
                             const evaluation::OnlineReport* online,
                             const EvaluationOutputs& outputs,
                             const std::function<void(const std::string&)>& say);

}  // namespace towerstream::cli
