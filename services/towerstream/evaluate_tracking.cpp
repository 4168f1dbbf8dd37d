// `evaluate --mlflow-uri`: metrics and artifacts of an evaluation on the snapshot's MLflow run.
#include "services/towerstream/evaluate_tracking.h"

#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <optional>

#include "common/mlflow/tracking_client.h"
#include "common/snapshot/snapshot_store.h"
#include "common/trainer/training_session.h"

namespace towerstream::cli {
namespace {

using Figures = std::vector<std::pair<std::string, double>>;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void AddRanking(const std::string& prefix, const evaluation::RankingMetrics& m, Figures& out) {
  out.emplace_back(prefix + "map_at_12", m.map_at_12);
  out.emplace_back(prefix + "recall_at_12", m.recall_at_12);
  out.emplace_back(prefix + "recall_at_100", m.recall_at_100);
  out.emplace_back(prefix + "coverage", m.coverage);
}

Result<std::string> ReadWholeFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IoError("cannot open " + path.string());
  std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return Status::IoError("cannot read " + path.string());
  return content;
}

// The run id the snapshot records, and where it was found; nullopt when none.
std::optional<std::pair<std::string, std::string>> RecordedRunId(
    const std::filesystem::path& snapshot_dir, const snapshot::Manifest& manifest) {
  if (!manifest.mlflow_run_id.empty()) {
    return std::pair{manifest.mlflow_run_id, (snapshot_dir / snapshot::kManifestFileName).string()};
  }
  // Snapshots of builds before the manifest kept it, or written while MLflow was down: the
  // run the snapshot folder logged to.
  const std::filesystem::path file = snapshot_dir.parent_path() / trainer::kMlflowRunIdFile;
  std::ifstream in(file);
  std::string id;
  if (in && std::getline(in, id) && !id.empty()) return std::pair{id, file.string()};
  return std::nullopt;
}

}  // namespace

Result<ScopedTempFolder> ScopedTempFolder::Create(const std::string& prefix) {
  std::string pattern = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) {
    return Status::IoError("cannot create a temporary folder " + pattern + ": " +
                           std::strerror(errno));
  }
  return ScopedTempFolder(pattern);
}

ScopedTempFolder::~ScopedTempFolder() {
  if (path_.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(path_, ignored);
}

Figures EvaluationMetrics(const evaluation::EvaluationReport& report,
                          const evaluation::OnlineReport* online) {
  Figures out;
  AddRanking("test_", report.model, out);
  AddRanking("test_towers_only_", report.towers, out);
  AddRanking("baseline_popularity_", report.popularity, out);
  AddRanking("baseline_repurchase_", report.repurchase, out);
  out.emplace_back("test_customers", static_cast<double>(report.model.customers));
  out.emplace_back("test_purchases", static_cast<double>(report.test_purchases));
  out.emplace_back("test_customers_without_history",
                   static_cast<double>(report.customers_without_history));
  out.emplace_back("test_catalogue", static_cast<double>(report.catalogue_size));
  for (const evaluation::SegmentMetrics& segment : report.segments) {
    AddRanking("test_" + segment.name + "_", segment.model, out);
    AddRanking("baseline_popularity_" + segment.name + "_", segment.popularity, out);
    AddRanking("baseline_repurchase_" + segment.name + "_", segment.repurchase, out);
    out.emplace_back("test_" + segment.name + "_customers",
                     static_cast<double>(segment.model.customers));
  }
  if (report.best_possible) AddRanking("best_possible_", report.best_possible->metrics, out);
  if (online != nullptr) {
    AddRanking("online_", online->online, out);
    AddRanking("online_frozen_", online->frozen, out);
    AddRanking("online_fresh_histories_", online->fresh_histories, out);
    AddRanking("online_baseline_popularity_", online->popularity, out);
    AddRanking("online_baseline_repurchase_", online->repurchase, out);
    const evaluation::PairedMetrics& gain = online->online_minus_frozen;
    out.emplace_back("online_minus_frozen_map_at_12", gain.map_at_12.mean);
    out.emplace_back("online_minus_frozen_recall_at_12", gain.recall_at_12.mean);
    out.emplace_back("online_minus_frozen_recall_at_100", gain.recall_at_100.mean);
    out.emplace_back("online_customer_days", static_cast<double>(online->online.customers));
    out.emplace_back("online_examples_trained", static_cast<double>(online->examples_trained));
  }
  return out;
}

Status LogEvaluationToMlflow(const EvaluationTrackingOptions& options,
                             const evaluation::EvaluationReport& report,
                             const evaluation::OnlineReport* online,
                             const EvaluationOutputs& outputs,
                             const std::function<void(const std::string&)>& say) {
  TS_ASSIGN_OR_RETURN(
      mlflow::TrackingClient client,
      mlflow::TrackingClient::Create(options.tracking_uri, options.request_timeout));
  std::filesystem::path snapshot_dir =
      std::filesystem::path(report.snapshot_dir).lexically_normal();
  if (!snapshot_dir.has_filename()) snapshot_dir = snapshot_dir.parent_path();  // "s1/" -> "s1"
  TS_ASSIGN_OR_RETURN(const snapshot::Manifest manifest, snapshot::ReadManifest(snapshot_dir));

  std::string run_id;
  std::string experiment_id;
  if (const auto recorded = RecordedRunId(snapshot_dir, manifest)) {
    Result<mlflow::RunInfo> run = client.GetRun(recorded->first);
    if (run.ok() && run->lifecycle_stage != "deleted") {
      run_id = run->run_id;
      experiment_id = run->experiment_id;
    } else if (run.ok() || run.status().code() == StatusCode::kNotFound) {
      say("MLflow: the snapshot's run " + recorded->first + " (" + recorded->second + ") is " +
          (run.ok() ? "deleted" : "not on " + options.tracking_uri) +
          "; logging to a new run instead");
    } else {
      return run.status();
    }
  }
  const bool created = run_id.empty();
  if (created) {
    TS_ASSIGN_OR_RETURN(experiment_id, client.GetOrCreateExperiment(options.experiment));
    TS_ASSIGN_OR_RETURN(
        run_id, client.CreateRun(experiment_id, "evaluate " + report.snapshot_id, NowUnixMs(),
                                 {{"mlflow.source.name", "towerstream"},
                                  {"snapshot", report.snapshot_id},
                                  {"snapshot_dir", snapshot_dir.string()}}));
    say("MLflow: snapshot " + report.snapshot_id +
        " records no MLflow run (trained without --mlflow-uri?): created run " + run_id +
        " in experiment '" + options.experiment + "'");
  }

  // At the snapshot's training step: evaluating several snapshots of one run draws curves.
  const int64_t now = NowUnixMs();
  std::vector<mlflow::Metric> metrics;
  for (const auto& [key, value] : EvaluationMetrics(report, online)) {
    metrics.push_back(mlflow::Metric{
        .key = key, .value = value, .timestamp_ms = now, .step = report.snapshot_step});
  }
  const std::string evaluation_dir = "evaluation/" + report.snapshot_id + "/";
  const std::string snapshot_artifacts = "snapshot/" + report.snapshot_id + "/";
  const std::map<std::string, std::string> tags = {
      {"evaluation.snapshot", report.snapshot_id},
      {"evaluation.test_window",
       report.test_start.ToString() + ".." + (report.test_end + (-1)).ToString()},
      {"evaluation.report", evaluation_dir + "report.json"}};
  TS_RETURN_IF_ERROR(client.LogBatch(run_id, metrics, {}, tags));

  int artifacts = 0;
  const auto upload = [&](const std::string& path, std::string_view content) -> Status {
    TS_RETURN_IF_ERROR(client.UploadArtifact(run_id, path, content));
    ++artifacts;
    return Status::Ok();
  };
  TS_RETURN_IF_ERROR(upload(evaluation_dir + "report.json", outputs.report_json));
  TS_RETURN_IF_ERROR(upload(evaluation_dir + "report.txt", outputs.report_text));
  for (const std::filesystem::path& plot : outputs.plots) {
    TS_ASSIGN_OR_RETURN(const std::string content, ReadWholeFile(plot));
    TS_RETURN_IF_ERROR(upload(evaluation_dir + plot.filename().string(), content));
  }
  {
    TS_ASSIGN_OR_RETURN(const std::string content,
                        ReadWholeFile(snapshot_dir / snapshot::kManifestFileName));
    TS_RETURN_IF_ERROR(
        upload(snapshot_artifacts + std::string(snapshot::kManifestFileName), content));
  }
  if (options.log_snapshot) {
    for (const snapshot::FileEntry& file : manifest.files) {
      TS_ASSIGN_OR_RETURN(const std::string content, ReadWholeFile(snapshot_dir / file.name));
      TS_RETURN_IF_ERROR(upload(snapshot_artifacts + file.name, content));
    }
  }
  if (created) {
    TS_RETURN_IF_ERROR(client.UpdateRun(run_id, mlflow::RunStatus::kFinished, NowUnixMs()));
  }
  say("MLflow: logged " + std::to_string(metrics.size()) + " metrics (step " +
      std::to_string(report.snapshot_step) + ") and " + std::to_string(artifacts) +
      " artifacts to run " + run_id + " (" + options.tracking_uri + "/#/experiments/" +
      experiment_id + "/runs/" + run_id + ")");
  return Status::Ok();
}

}  // namespace towerstream::cli
