// The MLflow client and RunLogger against a real MLflow tracking server (the `mlflow` fixture),
// and against one that only starts after training began.
#include <gtest/gtest.h>

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "common/mlflow/run_logger.h"
#include "common/mlflow/tracking_client.h"
#include "tests/harness/test_services.h"
#include "tests/testing/ports.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::mlflow {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

int64_t NowMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// A name no other test (or earlier run against the same server) uses.
std::string UniqueName(const std::string& base) {
  return base + "-" + std::to_string(::getpid()) + "-" + std::to_string(NowMs());
}

class MlflowIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Result<std::string> address = test_services::MlflowAddress();
    ASSERT_TRUE(address.ok()) << address.status().message();
    uri_ = "http://" + *address;
    auto client = TrackingClient::Create(uri_);
    ASSERT_TRUE(client.ok()) << client.status().ToString();
    client_.emplace(std::move(client).value());
  }

  // The run as MLflow has it now (empty, with a test failure, if it cannot be read).
  RunInfo GetRun(const std::string& run_id) {
    Result<RunInfo> run = client_->GetRun(run_id);
    EXPECT_TRUE(run.ok()) << run.status().ToString();
    return run.ok() ? *run : RunInfo{};
  }

  std::string uri_;
  std::optional<TrackingClient> client_;
};

TEST_F(MlflowIntegrationTest, ClientCreatesARunAndReadsBackWhatItLogged) {
  const std::string experiment = UniqueName("client");
  const Result<std::string> id = client_->GetOrCreateExperiment(experiment);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  const Result<std::string> again = client_->GetOrCreateExperiment(experiment);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, *id);  // found, not created twice

  const Result<std::string> run =
      client_->CreateRun(*id, "round-trip", NowMs(), {{"team", "recs"}});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  // 2,500 values: more than one log-batch call can carry.
  std::vector<Metric> metrics;
  for (int step = 0; step < 2500; ++step) {
    metrics.push_back(
        {.key = "loss", .value = 10.0 / (step + 1), .timestamp_ms = NowMs(), .step = step});
  }
  metrics.push_back({.key = "loss", .value = std::nan(""), .timestamp_ms = NowMs(), .step = 9});
  const Status logged =
      client_->LogBatch(*run, metrics, {{"batch_size", "512"}}, {{"stage", "test"}});
  ASSERT_TRUE(logged.ok()) << logged.ToString();
  ASSERT_TRUE(client_->UpdateRun(*run, RunStatus::kFinished, NowMs()).ok());

  const RunInfo info = GetRun(*run);
  EXPECT_EQ(info.status, "FINISHED");
  EXPECT_EQ(info.experiment_id, *id);
  EXPECT_EQ(info.params.at("batch_size"), "512");
  EXPECT_EQ(info.tags.at("team"), "recs");
  EXPECT_EQ(info.tags.at("stage"), "test");
  EXPECT_EQ(info.tags.at("mlflow.runName"), "round-trip");
  EXPECT_DOUBLE_EQ(info.latest_metrics.at("loss"), 10.0 / 2500);
  const Result<std::vector<Metric>> history = client_->GetMetricHistory(*run, "loss");
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  EXPECT_EQ(history->size(), 2500u);  // the NaN was not sent

  // MLflow refuses to change a param: an error carrying MLflow's reason, not retried.
  const Status changed = client_->LogBatch(*run, {}, {{"batch_size", "256"}});
  EXPECT_EQ(changed.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(changed.message().find("INVALID_PARAMETER_VALUE"), std::string::npos)
      << changed.message();
  const Result<RunInfo> missing = client_->GetRun("0123456789abcdef0123456789abcdef");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST_F(MlflowIntegrationTest, RunLoggerLogsParamsMetricsAndTagsThenEndsTheRun) {
  towerstream::testing::ScopedTempDir dir("mlflow_logger");
  TrackingOptions options;
  options.tracking_uri = uri_;
  options.experiment = UniqueName("logger");
  options.run_name = "first";
  RunSetup setup;
  setup.params = {{"dim", "64"}, {"mode", "test"}};
  setup.tags = {{"snapshot_dir", dir.path().string()}};
  setup.run_id_file = dir.path() / "mlflow_run_id";
  std::string run_id;
  {
    auto logger = RunLogger::Start(options, setup, {});
    ASSERT_TRUE(logger.ok()) << logger.status().ToString();
    for (int step = 10; step <= 1500; step += 10) {
      (*logger)->LogMetrics(step, {{"loss", 1000.0 / step}, {"recall_at_100", step / 1500.0}});
    }
    (*logger)->SetTag("snapshot.s1", "/snapshots/s1");
    (*logger)->Finish(RunStatus::kFinished);
    const RunLoggerStats stats = (*logger)->stats();
    EXPECT_TRUE(stats.connected);
    EXPECT_EQ(stats.metrics_sent, 300);
    EXPECT_EQ(stats.metrics_dropped, 0);
    run_id = stats.run_id;
  }
  ASSERT_FALSE(run_id.empty());
  std::ifstream file(setup.run_id_file);
  std::string written;
  std::getline(file, written);
  EXPECT_EQ(written, run_id);

  const RunInfo info = GetRun(run_id);
  EXPECT_EQ(info.status, "FINISHED");
  EXPECT_EQ(info.params.at("dim"), "64");
  EXPECT_EQ(info.tags.at("snapshot.s1"), "/snapshots/s1");
  EXPECT_EQ(info.tags.at("mlflow.runName"), "first");
  const auto history = client_->GetMetricHistory(run_id, "recall_at_100");
  ASSERT_TRUE(history.ok());
  ASSERT_EQ(history->size(), 150u);
  EXPECT_EQ(history->front().step, 10);
  EXPECT_EQ(history->back().step, 1500);

  // A resumed process continues that run: RUNNING again, new steps extend the curves, a
  // changed param is recorded as a tag (MLflow forbids changing params).
  setup.continue_run = true;
  setup.params["dim"] = "32";
  setup.params["epochs"] = "2";
  {
    auto logger = RunLogger::Start(options, setup, {});
    ASSERT_TRUE(logger.ok());
    (*logger)->LogMetrics(1510, {{"recall_at_100", 1.0}});
    const auto deadline = Clock::now() + seconds(20);
    while ((*logger)->stats().metrics_sent < 1 && Clock::now() < deadline) {
      std::this_thread::sleep_for(milliseconds(50));
    }
    EXPECT_EQ(GetRun(run_id).status, "RUNNING");
    (*logger)->Finish(RunStatus::kKilled);
    EXPECT_EQ((*logger)->stats().run_id, run_id);
  }
  const RunInfo resumed = GetRun(run_id);
  EXPECT_EQ(resumed.status, "KILLED");
  EXPECT_EQ(resumed.params.at("dim"), "64");
  EXPECT_EQ(resumed.params.at("epochs"), "2");
  EXPECT_EQ(resumed.tags.at("param_changed.dim"), "32");
  EXPECT_EQ(client_->GetMetricHistory(run_id, "recall_at_100")->size(), 151u);
}

// Artifacts through the server's artifact proxy: listed by artifacts/list with their sizes,
// read back byte for byte, replaced when uploaded again; paths that escape are refused.
TEST_F(MlflowIntegrationTest, ArtifactsAreUploadedListedAndReadBack) {
  const Result<std::string> experiment = client_->GetOrCreateExperiment(UniqueName("artifacts"));
  ASSERT_TRUE(experiment.ok()) << experiment.status().ToString();
  const Result<std::string> run = client_->CreateRun(*experiment, "artifacts", NowMs(), {});
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_TRUE(GetRun(*run).artifact_uri.starts_with("mlflow-artifacts:/"))
      << GetRun(*run).artifact_uri;

  std::string binary(3000, '\0');
  for (size_t i = 0; i < binary.size(); ++i) binary[i] = static_cast<char>(i * 7);
  ASSERT_TRUE(client_->UploadArtifact(*run, "report.json", "{\"a\": 1}\n").ok());
  ASSERT_TRUE(client_->UploadArtifact(*run, "snapshot/s1/towers.pt", binary).ok());
  ASSERT_TRUE(client_->UploadArtifact(*run, "snapshot/s1/a b.txt", "first").ok());
  const Status replaced = client_->UploadArtifact(*run, "snapshot/s1/a b.txt", "second!");
  ASSERT_TRUE(replaced.ok()) << replaced.ToString();

  const Result<std::vector<ArtifactInfo>> root = client_->ListArtifacts(*run);
  ASSERT_TRUE(root.ok()) << root.status().ToString();
  ASSERT_EQ(root->size(), 2u);
  EXPECT_EQ((*root)[0].path, "report.json");
  EXPECT_FALSE((*root)[0].is_dir);
  EXPECT_EQ((*root)[0].bytes, 9);
  EXPECT_EQ((*root)[1].path, "snapshot");
  EXPECT_TRUE((*root)[1].is_dir);
  const Result<std::vector<ArtifactInfo>> files = client_->ListArtifacts(*run, "snapshot/s1");
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  ASSERT_EQ(files->size(), 2u);
  EXPECT_EQ((*files)[0].path, "snapshot/s1/a b.txt");
  EXPECT_EQ((*files)[0].bytes, 7);
  EXPECT_EQ((*files)[1].path, "snapshot/s1/towers.pt");
  EXPECT_EQ((*files)[1].bytes, 3000);

  const Result<std::string> read = client_->DownloadArtifact(*run, "snapshot/s1/towers.pt");
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, binary);
  EXPECT_EQ(*client_->DownloadArtifact(*run, "snapshot/s1/a b.txt"), "second!");
  for (const char* bad : {"../escape", "/absolute", "a//b", ""}) {
    EXPECT_EQ(client_->UploadArtifact(*run, bad, "x").code(), StatusCode::kInvalidArgument) << bad;
  }
}

// MLflow down when training starts, up later: the logger says so both times and delivers
// every value it kept, at its original step.
TEST_F(MlflowIntegrationTest, ValuesKeptWhileMlflowWasDownAreDeliveredWhenItComesUp) {
  towerstream::testing::ScopedTempDir dir("mlflow_late");
  const int port = towerstream::testing::UnusedLoopbackPort();
  TrackingOptions options;
  options.tracking_uri = "http://127.0.0.1:" + std::to_string(port);
  options.experiment = UniqueName("late");
  options.retry_every = milliseconds(500);
  std::mutex mutex;
  std::vector<std::string> said;
  auto logger = RunLogger::Start(options, {}, [&](const std::string& line) {
    const std::lock_guard lock(mutex);
    said.push_back(line);
  });
  ASSERT_TRUE(logger.ok());
  for (int step = 1; step <= 40; ++step) (*logger)->LogMetrics(step, {{"loss", 1.0 / step}});

  // The same MLflow as the fixture's, on the port the logger was given.
  const std::string script = "scripts/mlflow";
  const std::string state = (dir.path() / "server").string();
  const std::string start = "TOWERSTREAM_MLFLOW_VENV='" + std::string(TOWERSTREAM_MLFLOW_VENV) +
                            "' bash " + script + " start --port " + std::to_string(port) +
                            " --state-dir '" + state + "' --fresh >/dev/null";
  ASSERT_EQ(std::system(start.c_str()), 0) << start;
  for (int step = 41; step <= 50; ++step) (*logger)->LogMetrics(step, {{"loss", 1.0 / step}});
  const auto deadline = Clock::now() + seconds(30);
  while ((*logger)->stats().metrics_sent < 50 && Clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(100));
  }
  (*logger)->Finish(RunStatus::kFinished);
  const RunLoggerStats stats = (*logger)->stats();

  auto late = TrackingClient::Create(options.tracking_uri);
  ASSERT_TRUE(late.ok());
  const auto history = late->GetMetricHistory(stats.run_id, "loss");
  const auto run = late->GetRun(stats.run_id);
  const std::string stop = "bash " + script + " stop --state-dir '" + state + "' 2>/dev/null";
  EXPECT_EQ(std::system(stop.c_str()), 0);

  EXPECT_EQ(stats.metrics_sent, 50);
  EXPECT_EQ(stats.metrics_dropped, 0);
  ASSERT_TRUE(history.ok()) << history.status().ToString();
  ASSERT_EQ(history->size(), 50u);
  EXPECT_EQ(history->front().step, 1);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, "FINISHED");
  const std::lock_guard lock(mutex);
  int down = 0;
  int up = 0;
  for (const std::string& line : said) {
    down += line.find("MLflow unreachable") != std::string::npos ? 1 : 0;
    up += line.find("logging to run") != std::string::npos ? 1 : 0;
  }
  EXPECT_EQ(down, 1);
  EXPECT_EQ(up, 1);
}

}  // namespace
}  // namespace towerstream::mlflow
