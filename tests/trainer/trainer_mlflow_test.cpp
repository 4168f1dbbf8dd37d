// Both trainers' MLflow tracking against the real MLflow server (fixture `mlflow`) and, for the
// streaming trainer, the real broker (fixture `kafka`): a run with the parameters, metrics over
// steps and every snapshot's path; a resumed training continues the same run.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "common/mlflow/tracking_client.h"
#include "common/snapshot/snapshot_store.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/trainer.h"
#include "tests/harness/test_services.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/temp_dir.h"
#include "tests/trainer/planted_data.h"
#include "tests/trainer/trainer_test_support.h"

namespace towerstream::trainer {
namespace {

namespace its = ingest::test_support;
using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using std::chrono::seconds;

class TrainerMlflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const Result<std::string> address = test_services::MlflowAddress();
    ASSERT_TRUE(address.ok()) << address.status().message();
    uri_ = "http://" + *address;
    auto client = mlflow::TrackingClient::Create(uri_);
    ASSERT_TRUE(client.ok());
    client_.emplace(std::move(client).value());
  }

  mlflow::TrackingOptions Tracking(const std::string& experiment) const {
    mlflow::TrackingOptions t;
    t.tracking_uri = uri_;
    t.experiment = experiment + "-" + std::to_string(::getpid());
    return t;
  }

  static std::string RunIdIn(const std::filesystem::path& snapshots) {
    std::ifstream in(snapshots / kMlflowRunIdFile);
    std::string id;
    std::getline(in, id);
    return id;
  }

  // The run's snapshot.<id> tags, which must name every snapshot the session wrote.
  static std::vector<std::string> SnapshotTags(const mlflow::RunInfo& run) {
    std::vector<std::string> ids;
    for (const auto& [key, value] : run.tags) {
      if (key.starts_with("snapshot.s")) ids.push_back(key.substr(9));
    }
    return ids;
  }

  std::string uri_;
  std::optional<mlflow::TrackingClient> client_;
};

TEST_F(TrainerMlflowTest, EmbeddedTrainingLogsARunThatAResumedTrainingContinues) {
  towerstream::testing::ScopedTempDir dir("mlflow_embedded");
  testing::PlantedDataOptions data;
  data.customers = 200;
  data.days = 30;
  ASSERT_TRUE(testing::WritePlantedData(dir.path() / "data", data).ok());
  EmbeddedOptions o;
  o.data_dir = dir.path() / "data";
  o.batch_size = 128;
  o.epochs = 2;
  o.progress = false;
  o.session.model = testing::SmallModelOptions();
  o.session.snapshot_dir = dir.path() / "snapshots";
  o.session.fsync = false;
  o.session.eval_queries = 16;
  o.session.mlflow = Tracking("embedded");
  o.session.run_params = {{"mode", "embedded"}, {"batch_size", "128"}};
  SnapshotSchedule schedule({});

  std::stop_source stop;
  stop.request_stop();  // interrupted after its first micro-batch, as by SIGTERM
  const Result<EmbeddedSummary> first = TrainEmbedded(o, schedule, nullptr, stop.get_token());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const std::string run_id = RunIdIn(o.session.snapshot_dir);
  ASSERT_FALSE(run_id.empty());
  Result<mlflow::RunInfo> run = client_->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->status, "KILLED");

  const Result<EmbeddedSummary> rest = TrainEmbedded(o, schedule, nullptr, std::stop_token());
  ASSERT_TRUE(rest.ok()) << rest.status().ToString();
  EXPECT_EQ(RunIdIn(o.session.snapshot_dir), run_id);  // the same run, continued
  run = client_->GetRun(run_id);
  ASSERT_TRUE(run.ok());
  EXPECT_EQ(run->status, "FINISHED");
  EXPECT_EQ(run->params.at("mode"), "embedded");
  EXPECT_EQ(run->params.at("model.dim"), std::to_string(o.session.model.towers.dim));
  EXPECT_EQ(run->params.at("device"), "cpu");
  EXPECT_EQ(run->tags.at("resumed_from"), first->snapshot_id);
  EXPECT_EQ(run->tags.at("snapshot.latest"),
            std::filesystem::absolute(o.session.snapshot_dir / rest->snapshot_id).string());
  std::vector<std::string> tagged = SnapshotTags(*run);
  std::sort(tagged.begin(), tagged.end());
  EXPECT_EQ(tagged, (std::vector<std::string>{first->snapshot_id, rest->snapshot_id}));

  // Metrics over steps, from both processes, ending at the final step with the final count.
  const auto trained = client_->GetMetricHistory(run_id, "events_trained");
  ASSERT_TRUE(trained.ok()) << trained.status().ToString();
  ASSERT_GE(trained->size(), 3u);
  EXPECT_EQ(trained->front().step, 1);  // the interrupted run's only step, logged at its end
  for (size_t i = 1; i < trained->size(); ++i) {
    EXPECT_GT((*trained)[i].step, (*trained)[i - 1].step);
    EXPECT_GT((*trained)[i].value, (*trained)[i - 1].value);
  }
  EXPECT_EQ(trained->back().step, rest->status.step);
  EXPECT_EQ(trained->back().value, static_cast<double>(rest->status.events_trained));
  for (const char* key : {"loss", "progressive_recall_at_100", "examples_per_second"}) {
    const auto history = client_->GetMetricHistory(run_id, key);
    ASSERT_TRUE(history.ok());
    EXPECT_EQ(history->size(), trained->size()) << key;
  }
}

TEST_F(TrainerMlflowTest, StreamingTrainerLogsARunWithItsSnapshots) {
  const Result<std::string> bootstrap = test_services::KafkaBootstrap();
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
  const std::string prefix = its::UniquePrefix("trainer_mlflow");
  auto producer = its::MakeProducer(*bootstrap);
  ASSERT_TRUE(producer.ok()) << producer.status().ToString();
  ASSERT_TRUE(its::CreateTopics(**producer, prefix, 2).ok());
  const std::vector<events::ExampleEvent> examples = testing::MakeExamples(100, 60, 1500, 0, 4);
  ASSERT_TRUE(testing::ProduceExamples(**producer, prefix, examples, 2).ok());

  towerstream::testing::ScopedTempDir dir("mlflow_stream");
  TrainerOptions o;
  o.kafka.Set("bootstrap.servers", *bootstrap);
  o.topic_prefix = prefix;
  o.session.model = testing::SmallModelOptions();
  o.session.snapshot_dir = dir.path();
  o.session.fsync = false;
  o.session.eval_queries = 16;
  o.session.mlflow = Tracking("stream");
  o.session.run_params = {{"mode", "stream"}};
  o.batch_size = 100;
  o.max_batch_delay = milliseconds(200);
  o.snapshot_every = {.events = 500};
  o.admin_address = "";
  prometheus::Registry registry;
  auto trainer = Trainer::Create(o, registry);
  ASSERT_TRUE(trainer.ok()) << trainer.status().ToString();
  std::stop_source stop;
  Status status;
  std::thread thread([&] { status = (*trainer)->Run(stop.get_token()); });
  // Every example trained: the snapshot schedule wrote a snapshot at 1,500.
  const auto deadline = Clock::now() + seconds(90);
  while (Clock::now() < deadline) {
    const auto manifest = testing::LatestManifest(dir.path());
    if (manifest.ok() && manifest->events_trained == 1500) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  stop.request_stop();
  thread.join();
  ASSERT_TRUE(status.ok()) << status.ToString();

  const std::string run_id = RunIdIn(dir.path());
  ASSERT_FALSE(run_id.empty());
  const Result<mlflow::RunInfo> run = client_->GetRun(run_id);
  ASSERT_TRUE(run.ok()) << run.status().ToString();
  EXPECT_EQ(run->status, "FINISHED");
  EXPECT_EQ(run->params.at("mode"), "stream");
  EXPECT_EQ(run->latest_metrics.at("events_trained"), 1500);
  EXPECT_GT(run->latest_metrics.at("examples_per_second"), 0);
  // Three snapshots by count (500, 1,000, 1,500); the final one repeats the last.
  EXPECT_EQ(SnapshotTags(*run).size(), 3u);
  // The snapshots record the run, and its end uploaded the last one's manifest.
  const auto manifest = testing::LatestManifest(dir.path());
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->mlflow_run_id, run_id);
  const auto artifacts = client_->ListArtifacts(run_id, "snapshot/" + manifest->id);
  ASSERT_TRUE(artifacts.ok()) << artifacts.status().ToString();
  ASSERT_EQ(artifacts->size(), 1u);
  EXPECT_EQ((*artifacts)[0].path, "snapshot/" + manifest->id + "/manifest.json");
  EXPECT_GT((*artifacts)[0].bytes, 0);
  const auto history = client_->GetMetricHistory(run_id, "loss");
  ASSERT_TRUE(history.ok());
  ASSERT_GE(history->size(), 2u);  // every 10 steps, and the end
  EXPECT_EQ(history->front().step, 10);
}

}  // namespace
}  // namespace towerstream::trainer
