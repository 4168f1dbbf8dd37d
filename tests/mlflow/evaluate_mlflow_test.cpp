// `towerstream train --mlflow-uri` then `towerstream evaluate --mlflow-uri` as a user runs
// them, against the real MLflow server of the `mlflow` fixture: the snapshot records its run,
// evaluate logs the held-out figures and the baselines to that run at the snapshot's step and
// uploads the report, the charts and the manifest; a snapshot without a run gets a new one.
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/mlflow/tracking_client.h"
#include "tests/harness/test_services.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::mlflow {
namespace {

namespace fs = std::filesystem;

std::string ReadAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// Runs the towerstream binary with `args`; stdout and stderr go to files in `dir`, returned
// with the exit status.
struct Ran {
  int status = -1;
  std::string err;
};
Ran Towerstream(const fs::path& dir, const std::string& name, const std::string& args) {
  const fs::path out = dir / (name + ".out");
  const fs::path err = dir / (name + ".err");
  const std::string command = std::string(TOWERSTREAM_BINARY) + " " + args + " >'" + out.string() +
                              "' 2>'" + err.string() + "'";
  const int status = std::system(command.c_str());
  return Ran{.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1, .err = ReadAll(err)};
}

class EvaluateMlflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Result<std::string> address = test_services::MlflowAddress();
    ASSERT_TRUE(address.ok()) << address.status().message();
    uri_ = "http://" + *address;
    auto client = TrackingClient::Create(uri_);
    ASSERT_TRUE(client.ok());
    client_.emplace(std::move(client).value());
    experiment_ = "evaluate-" + std::to_string(::getpid());
  }

  // A small model on a small generated dataset: seconds on one core.
  std::string Train(const fs::path& data, const fs::path& snapshots, bool mlflow) const {
    std::string args = "train --data '" + data.string() + "' --snapshot-dir '" +
                       snapshots.string() +
                       "' --dim 16 --hidden 32 --field-dim 4 --threads 1 --ranker-days 0 --quiet";
    if (mlflow) args += " --mlflow-uri " + uri_ + " --mlflow-experiment " + experiment_;
    return args;
  }

  std::string uri_;
  std::string experiment_;
  std::optional<TrackingClient> client_;
};

TEST_F(EvaluateMlflowTest, EvaluateLogsFiguresAndArtifactsToTheTrainingRun) {
  towerstream::testing::ScopedTempDir dir("evaluate_mlflow");
  const fs::path data = dir.path() / "data";
  ASSERT_EQ(Towerstream(dir.path(), "generate",
                        "generate --out '" + data.string() +
                            "' --customers 800 --articles 300 --transactions 15000 --seed 5")
                .status,
            0);
  const fs::path snapshots = dir.path() / "snapshots";
  const Ran trained = Towerstream(dir.path(), "train", Train(data, snapshots, /*mlflow=*/true));
  ASSERT_EQ(trained.status, 0) << trained.err;

  // The snapshot records the run that trained it.
  std::string latest;
  std::getline(std::ifstream(snapshots / "LATEST"), latest);
  ASSERT_FALSE(latest.empty());
  const fs::path snapshot = snapshots / latest;
  const nlohmann::json manifest = nlohmann::json::parse(ReadAll(snapshot / "manifest.json"));
  ASSERT_TRUE(manifest.contains("mlflow_run_id")) << manifest.dump();
  const std::string run_id = manifest["mlflow_run_id"].get<std::string>();
  std::string run_id_file;
  std::getline(std::ifstream(snapshots / "mlflow_run_id"), run_id_file);
  EXPECT_EQ(run_id, run_id_file);

  // Parameters as the user wrote them.
  Result<RunInfo> run = client_->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->params.at("model.table_learning_rate"), "0.05");
  EXPECT_EQ(run->params.at("model.temperature"), "0.05");
  EXPECT_EQ(run->params.at("model.dense_learning_rate"), "0.002");
  EXPECT_EQ(run->params.at("eval_spacing"), "4");
  EXPECT_TRUE(std::regex_match(run->params.at("until"), std::regex(R"(\d{4}-\d{2}-\d{2})")))
      << run->params.at("until");
  // The trainer's final manifest, uploaded when its run ended.
  const Result<std::vector<ArtifactInfo>> trained_artifacts =
      client_->ListArtifacts(run_id, "snapshot/" + latest);
  ASSERT_TRUE(trained_artifacts.ok()) << trained_artifacts.status().ToString();
  ASSERT_EQ(trained_artifacts->size(), 1u);
  EXPECT_EQ((*trained_artifacts)[0].path, "snapshot/" + latest + "/manifest.json");

  const fs::path report_file = dir.path() / "report.json";
  const Ran evaluated =
      Towerstream(dir.path(), "evaluate",
                  "evaluate --snapshot '" + snapshots.string() + "' --data '" + data.string() +
                      "' --report '" + report_file.string() + "' -q --mlflow-uri " + uri_);
  ASSERT_EQ(evaluated.status, 0) << evaluated.err;
  EXPECT_NE(evaluated.err.find("to run " + run_id), std::string::npos) << evaluated.err;

  // The figures, on the training run, at the snapshot's step.
  const nlohmann::json report = nlohmann::json::parse(ReadAll(report_file));
  run = client_->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  const std::map<std::string, double>& metrics = run->latest_metrics;
  const struct {
    const char* metric;
    const char* side;
    const char* figure;
  } expected[] = {{"test_map_at_12", "model", "map_at_12"},
                  {"test_recall_at_12", "model", "recall_at_12"},
                  {"test_recall_at_100", "model", "recall_at_100"},
                  {"test_coverage", "model", "coverage"},
                  {"baseline_popularity_map_at_12", "popularity", "map_at_12"},
                  {"baseline_popularity_recall_at_12", "popularity", "recall_at_12"},
                  {"baseline_repurchase_map_at_12", "repurchase", "map_at_12"},
                  {"baseline_repurchase_recall_at_100", "repurchase", "recall_at_100"}};
  for (const auto& e : expected) {
    ASSERT_TRUE(metrics.contains(e.metric)) << e.metric;
    EXPECT_DOUBLE_EQ(metrics.at(e.metric), report[e.side][e.figure].get<double>()) << e.metric;
  }
  EXPECT_TRUE(metrics.contains("test_returning_customers_map_at_12"));
  EXPECT_TRUE(metrics.contains("loss"));  // the training curves are still there
  const auto history = client_->GetMetricHistory(run_id, "test_map_at_12");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 1u);
  EXPECT_EQ(history->front().step, manifest["step"].get<int64_t>());
  EXPECT_EQ(run->tags.at("evaluation.snapshot"), latest);

  // The artifacts, listed by the server with their sizes, and their content.
  const std::string evaluation = "evaluation/" + latest;
  const Result<std::vector<ArtifactInfo>> listed = client_->ListArtifacts(run_id, evaluation);
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  std::set<std::string> names;
  for (const ArtifactInfo& file : *listed) {
    EXPECT_FALSE(file.is_dir) << file.path;
    EXPECT_GT(file.bytes, 0) << file.path;
    names.insert(file.path.substr(evaluation.size() + 1));
  }
  EXPECT_EQ(names, (std::set<std::string>{"recall_at_k.svg", "report.json", "report.txt",
                                          "training_loss.svg", "training_recall.svg"}));
  const std::string local_report = ReadAll(report_file);
  for (const ArtifactInfo& file : *listed) {
    if (file.path.ends_with("/report.json")) {
      EXPECT_EQ(file.bytes, static_cast<int64_t>(local_report.size()));
    }
  }
  EXPECT_EQ(*client_->DownloadArtifact(run_id, evaluation + "/report.json"), local_report);
  const Result<std::string> chart =
      client_->DownloadArtifact(run_id, evaluation + "/recall_at_k.svg");
  ASSERT_TRUE(chart.ok()) << chart.status().ToString();
  EXPECT_NE(chart->find("<polyline"), std::string::npos);
  const Result<std::vector<ArtifactInfo>> manifests =
      client_->ListArtifacts(run_id, "snapshot/" + latest);
  ASSERT_TRUE(manifests.ok());
  ASSERT_EQ(manifests->size(), 1u);
  const std::string local_manifest = ReadAll(snapshot / "manifest.json");
  EXPECT_EQ((*manifests)[0].bytes, static_cast<int64_t>(local_manifest.size()));
  EXPECT_EQ(*client_->DownloadArtifact(run_id, "snapshot/" + latest + "/manifest.json"),
            local_manifest);

  // A snapshot trained without MLflow: evaluate creates a run for it and says so.
  const fs::path untracked = dir.path() / "untracked";
  ASSERT_EQ(Towerstream(dir.path(), "train2", Train(data, untracked, /*mlflow=*/false)).status, 0);
  const Ran second =
      Towerstream(dir.path(), "evaluate2",
                  "evaluate --snapshot '" + untracked.string() + "' --data '" + data.string() +
                      "' -q --mlflow-uri " + uri_ + " --mlflow-experiment " + experiment_);
  ASSERT_EQ(second.status, 0) << second.err;
  const std::smatch created = [&] {
    std::smatch m;
    std::regex_search(second.err, m, std::regex("created run ([0-9a-f]+)"));
    return m;
  }();
  ASSERT_EQ(created.size(), 2u) << second.err;
  const Result<RunInfo> new_run = client_->GetRun(created[1].str());
  ASSERT_TRUE(new_run.ok()) << new_run.status().ToString();
  EXPECT_EQ(new_run->status, "FINISHED");
  EXPECT_EQ(new_run->experiment_id, run->experiment_id);
  EXPECT_TRUE(new_run->latest_metrics.contains("test_map_at_12"));
  EXPECT_TRUE(new_run->tags.at("mlflow.runName").starts_with("evaluate s"))
      << new_run->tags.at("mlflow.runName");
}

}  // namespace
}  // namespace towerstream::mlflow
