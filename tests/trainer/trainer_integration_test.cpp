// The trainer service against the real broker (ctest fixture `kafka`): consuming hm.examples,
// dead letters, the admin API, snapshots with offsets, resume, metrics and the snapshot CLI.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <span>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "common/admin/admin_server.h"
#include "common/events/dead_letter.h"
#include "common/metrics/naming.h"
#include "common/trainer/model_config.h"
#include "common/trainer/trainer.h"
#include "tests/harness/test_services.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/small_disk.h"
#include "tests/testing/temp_dir.h"
#include "tests/trainer/trainer_test_support.h"

namespace towerstream::trainer {
namespace {

namespace its = ingest::test_support;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 3;

class TrainerIntegrationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<std::string> bootstrap = test_services::KafkaBootstrap();
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().message();
    bootstrap_ = *bootstrap;
    prefix_ = its::UniquePrefix("trainer");
    auto producer = its::MakeProducer(bootstrap_);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
    ASSERT_TRUE(its::CreateTopics(*producer_, prefix_, kPartitions).ok());
  }

  TrainerOptions Options(const std::filesystem::path& snapshots) const {
    TrainerOptions o;
    o.kafka.Set("bootstrap.servers", bootstrap_);
    o.topic_prefix = prefix_;
    o.session.model.towers.dim = 16;
    o.session.model.towers.hidden = {32};
    o.session.model.towers.field_dim = 4;
    o.session.model.estimator.buckets = 4096;
    o.session.snapshot_dir = snapshots;
    o.session.fsync = false;
    o.session.eval_queries = 16;
    o.batch_size = 128;
    o.max_batch_delay = milliseconds(200);
    o.snapshot_every = {};
    o.admin_address = "127.0.0.1:0";
    return o;
  }

  // Runs a trainer on its own thread until Stop().
  struct Running {
    std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
    std::unique_ptr<Trainer> trainer;
    std::stop_source stop;
    Status status;
    std::thread thread;

    Status Stop() {
      stop.request_stop();
      if (thread.joinable()) thread.join();
      return status;
    }
    ~Running() { Stop().IgnoreError(); }
  };

  std::unique_ptr<Running> Start(const TrainerOptions& options) {
    auto r = std::make_unique<Running>();
    auto created = Trainer::Create(options, *r->registry);
    EXPECT_TRUE(created.ok()) << created.status().ToString();
    if (!created.ok()) return nullptr;
    r->trainer = std::move(created).value();
    Running* raw = r.get();
    r->thread = std::thread([raw] { raw->status = raw->trainer->Run(raw->stop.get_token()); });
    return r;
  }

  // Polls GET /status until `done` holds for it; the last status seen names what was awaited.
  static Result<nlohmann::json> AwaitStatus(const std::string& admin,
                                            const std::function<bool(const nlohmann::json&)>& done,
                                            const std::string& awaited, seconds timeout) {
    const auto deadline = Clock::now() + timeout;
    nlohmann::json last;
    while (Clock::now() < deadline) {
      Result<nlohmann::json> status = testing::AdminCall(admin, "GET", "/status");
      if (status.ok()) {
        last = *status;
        if (done(last)) return last;
      }
      std::this_thread::sleep_for(milliseconds(100));
    }
    return Status::DeadlineExceeded("status " + last.dump() + ", waited for " + awaited);
  }

  // Polls GET /status until `events` examples are trained.
  static Result<nlohmann::json> AwaitTrained(const std::string& admin, int64_t events,
                                             seconds timeout = seconds(90)) {
    return AwaitStatus(
        admin,
        [events](const nlohmann::json& s) {
          return s.value("events_trained", int64_t{0}) >= events;
        },
        std::to_string(events) + " examples trained", timeout);
  }

  // Polls GET /status until its state is `state`.
  static Result<nlohmann::json> AwaitState(const std::string& admin, const std::string& state,
                                           seconds timeout = seconds(30)) {
    return AwaitStatus(
        admin, [&state](const nlohmann::json& s) { return s.value("state", "") == state; },
        "state " + state, timeout);
  }

  std::string bootstrap_;
  std::string prefix_;
  std::unique_ptr<kafka::Producer> producer_;
};

TEST_F(TrainerIntegrationTest, TrainsEveryExampleOnceDeadLettersBadOnesAndSnapshotsOffsets) {
  towerstream::testing::ScopedTempDir dir("trainer_it");
  const std::vector<events::ExampleEvent> examples = testing::MakeExamples(200, 80, 3000, 0, 1);
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, examples, kPartitions).ok());
  events::ExampleEvent bad_version = examples[0];
  bad_version.schema_version = 7;
  ASSERT_TRUE(testing::ProducePayloads(*producer_, prefix_,
                                       {"not json at all", events::EncodeExampleEvent(bad_version)})
                  .ok());

  auto running = Start(Options(dir.path()));
  ASSERT_NE(running, nullptr);
  const std::string admin = running->trainer->admin_address();
  const Result<nlohmann::json> status = AwaitTrained(admin, 3000);
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_EQ((*status)["events_trained"], 3000);
  // "idle" once it has seen that nothing is left (ReportsIdleWhenCaughtUp...).
  EXPECT_TRUE((*status)["state"] == "training" || (*status)["state"] == "idle") << *status;

  // POST /snapshot answers once the snapshot is durable, with its id.
  const Result<nlohmann::json> snapshot = testing::AdminCall(admin, "POST", "/snapshot");
  ASSERT_TRUE(snapshot.ok()) << snapshot.status().message();
  const std::string id = (*snapshot)["snapshot_id"];
  const Result<snapshot::Manifest> manifest = testing::LatestManifest(dir.path());
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->id, id);
  EXPECT_EQ(manifest->events_trained, 3000);
  EXPECT_EQ(manifest->trained_digest, testing::ExpectedDigest(examples));
  // Offsets: after every message, the two dead-lettered ones included.
  int64_t offsets = 0;
  for (const auto& [partition, offset] : manifest->offsets.at(prefix_ + "hm.examples")) {
    offsets += offset;
  }
  EXPECT_EQ(offsets, 3002);

  const Result<std::vector<kafka::Message>> dlq =
      its::ReadCommitted(bootstrap_, prefix_ + "hm.dlq", 2, seconds(30));
  ASSERT_TRUE(dlq.ok()) << dlq.status().ToString();
  ASSERT_EQ(dlq->size(), 2u);
  std::vector<std::string> reasons;
  for (const kafka::Message& m : *dlq) reasons.push_back(m.HeaderValue("dlq.reason").value_or(""));
  std::sort(reasons.begin(), reasons.end());
  EXPECT_EQ(reasons, (std::vector<std::string>{"not_json", "unsupported_version"}));
  EXPECT_EQ((*dlq)[0].HeaderValue("dlq.source.topic"), prefix_ + "hm.examples");

  // Metrics follow the naming rules and count what happened.
  ASSERT_TRUE(metrics::CheckNaming(running->registry->Collect()).ok());
  bool found = false;
  for (const auto& family : running->registry->Collect()) {
    if (family.name == "towerstream_examples_trained_total") {
      found = true;
      EXPECT_EQ(family.metric.at(0).counter.value, 3000);
    }
  }
  EXPECT_TRUE(found);

  ASSERT_TRUE(running->Stop().ok());
  // Nothing trained since the requested snapshot: the final one is that one.
  EXPECT_EQ(testing::LatestManifest(dir.path())->id, id);
}

TEST_F(TrainerIntegrationTest, RestartResumesFromTheSnapshotOffsets) {
  towerstream::testing::ScopedTempDir dir("trainer_resume");
  const std::vector<events::ExampleEvent> first = testing::MakeExamples(150, 60, 1000, 0, 2);
  const std::vector<events::ExampleEvent> second = testing::MakeExamples(150, 60, 700, 1000, 3);
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, first, kPartitions).ok());
  {
    auto running = Start(Options(dir.path()));
    ASSERT_NE(running, nullptr);
    ASSERT_TRUE(AwaitTrained(running->trainer->admin_address(), 1000).ok());
    ASSERT_TRUE(running->Stop().ok());  // final snapshot
  }
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, second, kPartitions).ok());
  auto running = Start(Options(dir.path()));
  ASSERT_NE(running, nullptr);
  const Result<nlohmann::json> status = AwaitTrained(running->trainer->admin_address(), 1700);
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_FALSE((*status)["resumed_from"].is_null());
  ASSERT_TRUE(running->Stop().ok());
  const Result<snapshot::Manifest> manifest = testing::LatestManifest(dir.path());
  ASSERT_TRUE(manifest.ok());
  EXPECT_EQ(manifest->events_trained, 1700);
  std::vector<events::ExampleEvent> all = first;
  all.insert(all.end(), second.begin(), second.end());
  EXPECT_EQ(manifest->trained_digest, testing::ExpectedDigest(all));
}

// The streaming trainer fits the ranker once, when the stream reaches the validation week;
// its snapshots carry it, and a restart resumed with it does not fit again.
TEST_F(TrainerIntegrationTest, FitsTheRankerOnceWhenTheStreamReachesTheValidationWeek) {
  towerstream::testing::ScopedTempDir dir("trainer_ranker");
  // Examples are dated 2020-01-01 + index / 500: two days here, two more later.
  const std::vector<events::ExampleEvent> first = testing::MakeExamples(150, 60, 1000, 0, 4);
  const std::vector<events::ExampleEvent> second = testing::MakeExamples(150, 60, 600, 1000, 5);
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, first, kPartitions).ok());
  const Date week_start = Date::FromCivil(2020, 1, 2);
  std::vector<std::pair<Date, Date>> fits;
  TrainerOptions options = Options(dir.path());
  options.ranker_week_start = week_start;
  options.fit_ranker = [&fits](model::TwoTowerModel&, Date start,
                               Date end) -> Result<ranking::Ranker> {
    fits.emplace_back(start, end);
    // A real fit on a hand-made week: the bought candidate is the one bought before.
    std::vector<ranking::FitGroup> groups(8);
    for (ranking::FitGroup& g : groups) {
      g.candidates.resize(2);
      g.candidates[0].article = 1;
      g.candidates[1].article = 2;
      g.candidates[1].features[1] = 1;  // "bought"
      g.bought = {0, 1};
    }
    return ranking::FitRanker(groups, ranking::CandidateOptions{}, ranking::RankerFitOptions{},
                              {{"week_start", start.ToString()}});
  };
  {
    auto running = Start(options);
    ASSERT_NE(running, nullptr);
    ASSERT_TRUE(AwaitTrained(running->trainer->admin_address(), 1000).ok());
    ASSERT_TRUE(running->Stop().ok());
  }
  ASSERT_EQ(fits.size(), 1u);
  EXPECT_EQ(fits[0].first, week_start);
  EXPECT_EQ(fits[0].second, week_start + 7);
  Result<LoadedSnapshot> loaded = LoadModelSnapshot(dir.path(), torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(loaded->ranker.fitted());
  EXPECT_EQ(loaded->ranker.fit_summary().at("week_start"), week_start.ToString());

  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, second, kPartitions).ok());
  {
    auto running = Start(options);
    ASSERT_NE(running, nullptr);
    ASSERT_TRUE(AwaitTrained(running->trainer->admin_address(), 1600).ok());
    ASSERT_TRUE(running->Stop().ok());
  }
  EXPECT_EQ(fits.size(), 1u) << "fitted again after a restart";
  loaded = LoadModelSnapshot(dir.path(), torch::kCPU);
  ASSERT_TRUE(loaded.ok());
  EXPECT_TRUE(loaded->ranker.fitted());
}

// Caught up, the trainer says "idle" rather than "training"; /status, the gauges and the
// snapshot's manifest give the event time trained (500 examples a day from 2020-01-01).
TEST_F(TrainerIntegrationTest, ReportsIdleWhenCaughtUpAndTheEventTimeTrained) {
  towerstream::testing::ScopedTempDir dir("trainer_idle");
  const std::vector<events::ExampleEvent> examples = testing::MakeExamples(150, 60, 1500, 0, 8);
  const std::span<const events::ExampleEvent> all(examples);
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, all.first(1000), kPartitions).ok());
  auto running = Start(Options(dir.path()));
  ASSERT_NE(running, nullptr);
  const std::string admin = running->trainer->admin_address();
  ASSERT_TRUE(AwaitTrained(admin, 1000).ok());
  Result<nlohmann::json> status = AwaitState(admin, "idle");
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_EQ((*status)["events_trained"], 1000);
  const nlohmann::json& event_time = (*status)["event_time"];
  EXPECT_EQ(event_time["trained"], "2020-01-02") << event_time;
  EXPECT_EQ(event_time["trained_unix_seconds"], 1'577'923'200) << event_time;
  EXPECT_EQ(event_time["newest_consumed"], "2020-01-02") << event_time;
  EXPECT_EQ(event_time["lag_days"], 0) << event_time;
  const auto gauge = [&](const std::string& name) -> double {
    for (const auto& family : running->registry->Collect()) {
      if (family.name == name && !family.metric.empty()) return family.metric[0].gauge.value;
    }
    return -1;
  };
  EXPECT_EQ(gauge("towerstream_trained_event_time_seconds"), 1'577'923'200.0);
  EXPECT_EQ(gauge("towerstream_consumed_event_time_seconds"), 1'577'923'200.0);

  // A new day arrives: trained, and idle again.
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, all.subspan(1000), kPartitions).ok());
  ASSERT_TRUE(AwaitTrained(admin, 1500).ok());
  status = AwaitState(admin, "idle");
  ASSERT_TRUE(status.ok()) << status.status().message();
  EXPECT_EQ((*status)["event_time"]["trained"], "2020-01-03") << *status;
  EXPECT_EQ(gauge("towerstream_trained_event_time_seconds"), 1'578'009'600.0);
  ASSERT_TRUE(running->Stop().ok());
  const Result<snapshot::Manifest> manifest = testing::LatestManifest(dir.path());
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->metrics.value("trained_event_date", ""), "2020-01-03");
}

TEST_F(TrainerIntegrationTest, TrainsThePartitionsInEventTimeOrder) {
  towerstream::testing::ScopedTempDir dir("trainer_order");
  // 500 examples a day from 2020-01-01, produced one partition after the other: partition 0's
  // third day is on the topic before partition 1's first, and a consumer catching up on them
  // delivers them in that order.
  std::vector<events::ExampleEvent> examples = testing::MakeExamples(150, 60, 1500, 0, 6);
  const auto partition_of = [](const events::ExampleEvent& e) {
    return std::stoull(e.transaction.customer_id.substr(0, 8), nullptr, 16) % kPartitions;
  };
  std::stable_sort(examples.begin(), examples.end(),
                   [&](const events::ExampleEvent& a, const events::ExampleEvent& b) {
                     return partition_of(a) < partition_of(b);
                   });
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, examples, kPartitions).ok());

  // The ranker's fit comes just before the first micro-batch holding a third-day example: what
  // was trained by then shows the order. The fit itself only reports when it came.
  std::promise<std::string> admin_promise;
  std::shared_future<std::string> admin = admin_promise.get_future().share();
  int64_t trained_at_fit = -1;
  TrainerOptions options = Options(dir.path());
  options.ranker_week_start = Date::FromCivil(2020, 1, 3);
  options.fit_ranker = [&](model::TwoTowerModel&, Date, Date) -> Result<ranking::Ranker> {
    Result<nlohmann::json> status = testing::AdminCall(admin.get(), "GET", "/status");
    if (status.ok()) trained_at_fit = status->value("events_trained", int64_t{-1});
    return Status::Unavailable("this test only looks at when the fit comes");
  };
  auto running = Start(options);
  ASSERT_NE(running, nullptr);
  admin_promise.set_value(running->trainer->admin_address());
  ASSERT_TRUE(AwaitTrained(running->trainer->admin_address(), 1500).ok());
  ASSERT_TRUE(running->Stop().ok());
  // In event-time order: the 1,000 examples of the first two days, but for those sharing the
  // fit's micro-batch. In arrival order it would be partition 0's first two days alone (~333).
  EXPECT_LE(trained_at_fit, 1000);
  EXPECT_GT(trained_at_fit, 1000 - options.batch_size);
  Result<snapshot::Manifest> manifest = testing::LatestManifest(dir.path());
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->events_trained, 1500);
  EXPECT_EQ(manifest->trained_digest, testing::ExpectedDigest(examples))
      << "reordered, every example is still trained exactly once";
}

// On a full snapshot disk the trainer used to retry after every micro-batch (1,657 failures in
// 13 s); now the pause between attempts doubles, failures are counted, and the first attempt
// after space is freed succeeds. Needs a small tmpfs, which only root can mount.
TEST_F(TrainerIntegrationTest, SnapshotFailuresBackOffAndAreCounted) {
  towerstream::testing::ScopedTempDir dir("trainer_full_disk");
  // 32 KiB left: no snapshot fits until FreeSpace().
  std::string why;
  const auto small =
      towerstream::testing::SmallDisk::Mount(dir.path() / "disk", 8 << 20, 32 << 10, &why);
  if (!small) GTEST_SKIP() << why;
  const std::filesystem::path& disk = small->dir();
  const std::vector<events::ExampleEvent> examples = testing::MakeExamples(60, 40, 300, 0, 7);
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, examples, kPartitions).ok());
  TrainerOptions options = Options(disk / "snapshots");
  options.snapshot_every = SnapshotEvery{.events = 50, .time = {}};
  auto running = Start(options);
  ASSERT_NE(running, nullptr);
  const std::string admin = running->trainer->admin_address();
  ASSERT_TRUE(AwaitTrained(admin, 300).ok());
  std::this_thread::sleep_for(seconds(3));
  Result<nlohmann::json> status = testing::AdminCall(admin, "GET", "/status");
  ASSERT_TRUE(status.ok());
  const int64_t failures = (*status)["snapshot_failures"].get<int64_t>();
  EXPECT_GE(failures, 1);
  EXPECT_LE(failures, 5) << "retried without a pause";
  EXPECT_TRUE((*status)["last_snapshot"].is_null());

  small->FreeSpace();
  const auto deadline = Clock::now() + seconds(30);
  while (Clock::now() < deadline) {
    status = testing::AdminCall(admin, "GET", "/status");
    if (status.ok() && !(*status)["last_snapshot"].is_null()) break;
    std::this_thread::sleep_for(milliseconds(200));
  }
  ASSERT_TRUE(status.ok());
  EXPECT_FALSE((*status)["last_snapshot"].is_null()) << status->dump();
  ASSERT_TRUE(running->Stop().ok());
  Result<snapshot::Manifest> manifest = testing::LatestManifest(disk / "snapshots");
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->events_trained, 300);
}

TEST_F(TrainerIntegrationTest, AdminApiAnswersStatusHealthAndErrors) {
  towerstream::testing::ScopedTempDir dir("trainer_admin");
  TrainerOptions options = Options(dir.path());
  options.admin_token = "s3cret";
  auto running = Start(options);
  ASSERT_NE(running, nullptr);
  const std::string address = running->trainer->admin_address();
  const auto call = [&](const std::string& method, const std::string& path,
                        const std::string& token) {
    Result<admin::AdminResponse> r = admin::HttpCall(address, method, path, {}, token);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->status : -1;
  };
  EXPECT_EQ(call("GET", "/healthz", ""), 401) << "the token is checked on every request";
  EXPECT_EQ(call("GET", "/healthz", "wrong"), 401);
  EXPECT_EQ(call("GET", "/healthz", "s3cret"), 200);
  EXPECT_EQ(call("GET", "/status", "s3cret"), 200);
  EXPECT_EQ(call("GET", "/nowhere", "s3cret"), 404);
  EXPECT_EQ(call("GET", "/snapshot", "s3cret"), 405);
  EXPECT_EQ(call("DELETE", "/status", "s3cret"), 405);
  // Before any training a snapshot would hold an untrained model that, as LATEST, makes
  // `recommend` fail: refused, and none is written, not even when the trainer stops.
  Result<admin::AdminResponse> refused =
      admin::HttpCall(address, "POST", "/snapshot", {}, "s3cret");
  ASSERT_TRUE(refused.ok()) << refused.status().ToString();
  EXPECT_EQ(refused->status, 409) << refused->body;
  EXPECT_NE(refused->body.find("nothing trained yet"), std::string::npos) << refused->body;
  ASSERT_TRUE(running->Stop().ok());
  EXPECT_FALSE(std::filesystem::exists(dir.path() / "LATEST"));
}

TEST_F(TrainerIntegrationTest, SnapshotCommandPrintsTheIdOfADurableSnapshot) {
  towerstream::testing::ScopedTempDir dir("trainer_cli");
  const std::vector<events::ExampleEvent> examples = testing::MakeExamples(50, 40, 300, 0, 4);
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, examples, kPartitions).ok());
  auto running = Start(Options(dir.path()));
  ASSERT_NE(running, nullptr);
  const std::string admin = running->trainer->admin_address();
  ASSERT_TRUE(AwaitTrained(admin, 300).ok());
  const Result<std::string> out =
      its::Shell(std::string(TOWERSTREAM_BIN) + " snapshot --trainer " + admin);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  // stdout has the id alone on a line (stderr, interleaved here, says where it is).
  std::string id;
  std::istringstream lines(*out);
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.find(' ') == std::string::npos) id = line;
  }
  EXPECT_EQ(testing::LatestManifest(dir.path())->id, id);
  EXPECT_TRUE(std::filesystem::exists(dir.path() / id / "item_embeddings.bin"));
  // Without a trainer listening, the command fails and says why.
  const Result<std::string> nobody =
      its::Shell(std::string(TOWERSTREAM_BIN) + " snapshot --trainer 127.0.0.1:1 2>&1");
  EXPECT_FALSE(nobody.ok());
}

// The binary as an operator runs it: SIGUSR1 snapshots without stopping, SIGTERM snapshots and
// exits 0.
TEST_F(TrainerIntegrationTest, BinarySnapshotsOnSigusr1AndStopsCleanlyOnSigterm) {
  towerstream::testing::ScopedTempDir dir("trainer_signals");
  const std::vector<events::ExampleEvent> examples = testing::MakeExamples(60, 40, 500, 0, 8);
  ASSERT_TRUE(testing::ProduceExamples(*producer_, prefix_, examples, kPartitions).ok());
  const std::string log = (dir.path() / "trainer.log").string();
  std::vector<std::string> argv = {
      TOWERSTREAM_BIN,     "trainer",    "--kafka",         "bootstrap.servers=" + bootstrap_,
      "--topic-prefix",    prefix_,      "--snapshot-dir",  (dir.path() / "snapshots").string(),
      "--snapshot-every",  "off",        "--admin-address", "127.0.0.1:0",
      "--metrics-address", "127.0.0.1:0"};
  for (const std::string& flag : testing::SmallModelFlags()) argv.push_back(flag);
  Result<its::ChildProcess> child = its::ChildProcess::Start(argv, log);
  ASSERT_TRUE(child.ok());
  const std::string admin = testing::AdminAddressIn(log, seconds(60));
  ASSERT_FALSE(admin.empty()) << its::Tail(log);
  ASSERT_TRUE(AwaitTrained(admin, 500).ok()) << its::Tail(log);

  child->Signal(SIGUSR1);
  const auto deadline = Clock::now() + seconds(30);
  Result<snapshot::Manifest> manifest = Status::NotFound("none yet");
  while (Clock::now() < deadline) {
    manifest = testing::LatestManifest(dir.path() / "snapshots");
    if (manifest.ok() && manifest->events_trained == 500) break;
    std::this_thread::sleep_for(milliseconds(100));
  }
  ASSERT_TRUE(manifest.ok() && manifest->events_trained == 500) << its::Tail(log);
  EXPECT_TRUE(child->Running()) << "SIGUSR1 must not stop the trainer";

  child->Signal(SIGTERM);
  EXPECT_EQ(child->Wait(), 0) << its::Tail(log);
  EXPECT_NE(its::Tail(log).find("writing the final snapshot"), std::string::npos) << its::Tail(log);
}

}  // namespace
}  // namespace towerstream::trainer
