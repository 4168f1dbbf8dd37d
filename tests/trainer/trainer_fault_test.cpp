// Fault tests of training: the towerstream binary SIGKILLed at random moments.
//
// - `train` (embedded) snapshotting after every micro-batch, killed 20 times: LATEST always
//   names a snapshot that loads (manifest, checksums, model state).
// - `trainer` on the real broker, killed at least 5 times while it trains and snapshots, then
//   stopped with SIGTERM: the final snapshot has trained every example exactly once (the count
//   and the digest of the event ids match the topic's).
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/trainer/model_config.h"
#include "tests/harness/test_services.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/temp_dir.h"
#include "tests/trainer/planted_data.h"
#include "tests/trainer/trainer_test_support.h"

namespace towerstream::trainer {
namespace {

namespace its = ingest::test_support;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

TEST(TrainFaultTest, SigkillWhileSnapshottingAlwaysLeavesLatestLoadable) {
  towerstream::testing::ScopedTempDir dir("train_kill");
  testing::PlantedDataOptions data;
  data.customers = 400;
  data.days = 40;
  ASSERT_TRUE(testing::WritePlantedData(dir.path() / "data", data).ok());
  const std::string snapshots = (dir.path() / "snapshots").string();
  const std::string log = (dir.path() / "train.log").string();
  std::mt19937 rng(20261129);
  int64_t last_events = -1;
  int kills = 0;
  int killed_with_snapshots = 0;
  int finished_runs = 0;
  // Kill until 20 kills have landed, however fast this machine trains: a run that finishes
  // before its kill starts the snapshots over, so later kills hit a long run again.
  for (int attempt = 0; attempt < 60 && kills < 20; ++attempt) {
    // A snapshot after every micro-batch of 64: most of the run is spent writing them.
    Result<its::ChildProcess> child = its::ChildProcess::Start(
        testing::SmallModelCommand({"train", "--data", (dir.path() / "data").string(),
                                    "--snapshot-dir", snapshots, "--snapshot-every", "1",
                                    "--batch-size", "64", "--quiet"}),
        log);
    ASSERT_TRUE(child.ok()) << child.status().ToString();
    std::this_thread::sleep_for(milliseconds(300 + rng() % 1200));
    child->Signal(SIGKILL);
    const int exit_status = child->Wait();
    if (exit_status == 0) {  // trained everything before the kill
      std::filesystem::remove_all(snapshots);
      last_events = -1;
      ++finished_runs;
      continue;
    }
    EXPECT_EQ(exit_status, 128 + SIGKILL) << its::Tail(log);
    ++kills;
    if (!std::filesystem::exists(std::filesystem::path(snapshots) / "LATEST")) continue;
    const Result<LoadedSnapshot> loaded = LoadModelSnapshot(snapshots, torch::kCPU);
    ASSERT_TRUE(loaded.ok()) << "kill " << kills << ": " << loaded.status().ToString();
    EXPECT_GE(loaded->manifest.events_trained, last_events) << "kill " << kills;
    EXPECT_EQ(loaded->model->step(), loaded->manifest.step);
    last_events = loaded->manifest.events_trained;
    ++killed_with_snapshots;
  }
  std::fprintf(stderr, "%d kills, %d of them with a snapshot on disk; %d runs finished first\n",
               kills, killed_with_snapshots, finished_runs);
  EXPECT_EQ(kills, 20);
  EXPECT_GE(killed_with_snapshots, 10) << its::Tail(log);
  // And the last run finishes what the killed ones left.
  Result<its::ChildProcess> child = its::ChildProcess::Start(
      testing::SmallModelCommand({"train", "--data", (dir.path() / "data").string(),
                                  "--snapshot-dir", snapshots, "--batch-size", "64", "--quiet"}),
      log);
  ASSERT_TRUE(child.ok());
  EXPECT_EQ(child->Wait(), 0) << its::Tail(log);
  EXPECT_TRUE(LoadModelSnapshot(snapshots, torch::kCPU).ok());
}

TEST(TrainerFaultTest, SigkilledAndRestartedTrainerTrainsEveryExampleExactlyOnce) {
  const Result<std::string> bootstrap = test_services::KafkaBootstrap();
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
  towerstream::testing::ScopedTempDir dir("trainer_kill");
  const std::string prefix = its::UniquePrefix("trainer.fault");
  auto producer = its::MakeProducer(*bootstrap);
  ASSERT_TRUE(producer.ok());
  ASSERT_TRUE(its::CreateTopics(**producer, prefix, 3).ok());
  std::vector<events::ExampleEvent> all = testing::MakeExamples(300, 120, 20'000, 0, 5);
  ASSERT_TRUE(testing::ProduceExamples(**producer, prefix, all, 3).ok());

  const std::string snapshots = (dir.path() / "snapshots").string();
  const std::string log = (dir.path() / "trainer.log").string();
  const std::vector<std::string> argv = testing::SmallModelCommand(
      {"trainer", "--kafka", "bootstrap.servers=" + *bootstrap, "--topic-prefix", prefix,
       "--snapshot-dir", snapshots, "--snapshot-every", "1500", "--batch-size", "250",
       "--max-batch-delay-ms", "100", "--admin-address", "127.0.0.1:0", "--metrics-address", ""});
  std::mt19937 rng(7);
  int kills = 0;
  for (int round = 0; round < 8; ++round) {
    Result<its::ChildProcess> child = its::ChildProcess::Start(argv, log);
    ASSERT_TRUE(child.ok());
    std::this_thread::sleep_for(milliseconds(1200 + rng() % 1500));
    ASSERT_TRUE(child->Running()) << its::Tail(log);
    child->Signal(SIGKILL);
    child->Wait();
    ++kills;
    if (round == 3) {
      // More of the stream arrives while the trainer is down.
      const std::vector<events::ExampleEvent> more =
          testing::MakeExamples(300, 120, 5'000, 20'000, 6);
      ASSERT_TRUE(testing::ProduceExamples(**producer, prefix, more, 3).ok());
      all.insert(all.end(), more.begin(), more.end());
    }
  }
  EXPECT_GE(kills, 5);
  const Result<snapshot::Manifest> before = testing::LatestManifest(snapshots);
  ASSERT_TRUE(before.ok()) << "no snapshot after the kills: " << its::Tail(log);
  EXPECT_LT(before->events_trained, static_cast<int64_t>(all.size()))
      << "the kills should land before the end of the stream";

  // A last run to the end of the stream, stopped by SIGTERM (final snapshot, exit 0).
  std::filesystem::remove(log);
  Result<its::ChildProcess> child = its::ChildProcess::Start(argv, log);
  ASSERT_TRUE(child.ok());
  const std::string admin = testing::AdminAddressIn(log, seconds(60));
  ASSERT_FALSE(admin.empty()) << its::Tail(log);
  const auto deadline = Clock::now() + seconds(120);
  int64_t trained = 0;
  while (Clock::now() < deadline && trained < static_cast<int64_t>(all.size())) {
    const Result<nlohmann::json> status = testing::AdminCall(admin, "GET", "/status");
    if (status.ok()) trained = (*status)["events_trained"];
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_EQ(trained, static_cast<int64_t>(all.size())) << its::Tail(log);
  child->Signal(SIGTERM);
  EXPECT_EQ(child->Wait(), 0) << its::Tail(log);
  const Result<snapshot::Manifest> manifest = testing::LatestManifest(snapshots);
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->events_trained, static_cast<int64_t>(all.size()));
  EXPECT_EQ(manifest->trained_digest, testing::ExpectedDigest(all))
      << "a count that matches with another digest means some example was trained twice and "
         "another never";
}

}  // namespace
}  // namespace towerstream::trainer
