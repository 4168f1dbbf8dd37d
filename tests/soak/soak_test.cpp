// The soak test (label `long`): replay, ingest and the trainer run as processes of the
// towerstream binary on a generated dataset and a broker of the test's own, while a driver
// SIGKILLs each service at random moments (at least 5 times each), stops and restarts the broker
// once, and fills then frees the snapshot disk once (a small tmpfs; that phase is skipped with a
// message where the test cannot mount one, i.e. not as root). At the end every transaction on the
// topic is exactly one example or one dead letter, replay sent every row exactly once, and the
// trainer's manifest has trained every example exactly once (count and digest).
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/events/events.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/small_disk.h"
#include "tests/testing/temp_dir.h"
#include "tests/trainer/trainer_test_support.h"

namespace towerstream {
namespace {

namespace its = ingest::test_support;
namespace tts = trainer::testing;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;

constexpr int kTransactions = 120'000;
constexpr int kPartitions = 6;  // replay's default, and the broker's for topics it creates
constexpr int kKillsPerService = 5;

// One service of the pipeline, restarted after every kill with the same command line; each run
// logs to a file of its own (the trainer's admin address is read from the current one).
struct Service {
  Service(std::string name, std::vector<std::string> argv, std::filesystem::path dir)
      : name(std::move(name)), argv(std::move(argv)), dir(std::move(dir)) {}

  std::string name;
  std::vector<std::string> argv;
  std::filesystem::path dir;
  std::optional<its::ChildProcess> process;
  int runs = 0;
  int kills = 0;
  bool finished = false;  // exited 0 by itself (replay, once every row is sent)

  std::string log() const { return (dir / (name + "-" + std::to_string(runs) + ".log")).string(); }

  void Start() {
    ++runs;
    Result<its::ChildProcess> started = its::ChildProcess::Start(argv, log());
    ASSERT_TRUE(started.ok()) << name << ": " << started.status().ToString();
    process.emplace(std::move(started).value());
  }

  // Reaps a run that ended by itself: replay's success, or a failure of the test.
  void Check() {
    if (!process || process->Running()) return;
    const int status = process->Wait();
    process.reset();
    if (status == 0 && name == "replay") {
      finished = true;
      return;
    }
    ADD_FAILURE() << name << " exited by itself with status " << status << ":\n"
                  << its::Tail(log());
    Start();
  }

  void Kill() {
    process->Signal(SIGKILL);
    const int status = process->Wait();
    process.reset();
    if (status == 0 && name == "replay") {
      finished = true;  // it had just sent the last row
      return;
    }
    EXPECT_EQ(status, 128 + SIGKILL) << name << ":\n" << its::Tail(log());
    ++kills;
    Start();
  }
};

// An article id no generated catalogue holds (theirs start at 0108775001): a purchase of it is
// dead-lettered under --on-missing-entity dlq.
constexpr char kUnknownArticle[] = "0100000001";
constexpr int kUnknownEvery = 3'000;  // every 3,000th purchase is of it

// Rewrites every kUnknownEvery-th row of the transactions file to buy kUnknownArticle, in place
// (the dates stay in order); the number of rows rewritten.
int PlantUnknownArticles(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string header;
  std::getline(in, header);
  std::vector<std::string> rows;
  int planted = 0;
  for (std::string line; std::getline(in, line);) {
    if (rows.size() % kUnknownEvery == kUnknownEvery - 1) {
      const size_t first = line.find(',');
      const size_t second = line.find(',', first + 1);
      const size_t third = line.find(',', second + 1);
      line = line.substr(0, second + 1) + kUnknownArticle + line.substr(third);
      ++planted;
    }
    rows.push_back(std::move(line));
  }
  in.close();
  std::ofstream out(file, std::ios::trunc);
  out << header << '\n';
  for (const std::string& row : rows) out << row << '\n';
  return out ? planted : -1;
}

// Payloads ingest cannot decode, produced once replay is done (replay's resume reads the last
// message of each partition and needs it to be replay's): each must end as one dead letter.
std::vector<std::string> UndecodablePayloads() {
  std::vector<std::string> payloads;
  for (int i = 0; i < 10; ++i) {
    payloads.push_back("not json " + std::to_string(i));
    payloads.push_back("{\"event_id\":\"bad-" + std::to_string(i) + "\"}");
    payloads.push_back("{\"schema_version\":1,\"truncated\":[1,2");
    payloads.push_back("{\"event_id\":\"bad-price-" + std::to_string(i) +
                       "\",\"customer_id\":\"x\",\"article_id\":-5,\"price\":\"cheap\"}");
  }
  return payloads;
}

class SoakTest : public ::testing::Test {
 protected:
  int64_t StatusField(const Service& trainer, const char* field) {
    const std::string admin = tts::AdminAddressIn(trainer.log(), seconds(60));
    if (admin.empty()) return -1;
    const Result<nlohmann::json> status = tts::AdminCall(admin, "GET", "/status");
    if (!status.ok() || !status->contains(field)) return -1;
    return (*status)[field].get<int64_t>();
  }

  ::towerstream::testing::ScopedTempDir dir_{"soak"};
};

TEST_F(SoakTest, KillsBrokerRestartAndAFullSnapshotDiskLoseNothingAndCountNothingTwice) {
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng(seed);

  Result<std::unique_ptr<its::OwnBroker>> broker =
      its::OwnBroker::Start((dir_.path() / "kafka").string());
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  const std::string bootstrap = (*broker)->bootstrap();
  const std::string prefix = its::UniquePrefix("soak");
  const std::string data = (dir_.path() / "data").string();
  Result<std::string> generated = its::Shell(
      std::string(TOWERSTREAM_BIN) + " generate --out " + data +
      " --customers 3000 --articles 800 --transactions " + std::to_string(kTransactions) +
      " --seed " + std::to_string(seed % 1000 + 1) + " --no-best-possible");
  ASSERT_TRUE(generated.ok()) << generated.status().ToString();

  const int unknown = PlantUnknownArticles(std::filesystem::path(data) / "transactions_train.csv");
  ASSERT_EQ(unknown, kTransactions / kUnknownEvery);

  // The snapshot folder on a disk the test can fill, where it may mount one.
  std::string why;
  const std::unique_ptr<::towerstream::testing::SmallDisk> disk =
      ::towerstream::testing::SmallDisk::Mount(dir_.path() / "snapshot-disk", 256 << 20, 256 << 20,
                                               &why);
  if (disk == nullptr) {
    std::fprintf(stderr, "soak: skipping the full snapshot disk: %s\n", why.c_str());
  }
  const std::string snapshots = ((disk ? disk->dir() : dir_.path()) / "snapshots").string();

  const std::string kafka = "bootstrap.servers=" + bootstrap;
  Service replay("replay",
                 {TOWERSTREAM_BIN, "replay", "--kafka", kafka, "--data", data, "--topic-prefix",
                  prefix, "--partitions", std::to_string(kPartitions), "--rate", "2000", "--resume",
                  "--metrics-address", "127.0.0.1:0"},
                 dir_.path());
  Service ingest("ingest",
                 its::IngestCommand(bootstrap, prefix, (dir_.path() / "state").string(),
                                    {"--batch-size", "500", "--on-missing-entity", "dlq"}),
                 dir_.path());
  Service trainer(
      "trainer",
      {TOWERSTREAM_BIN, "trainer", "--kafka", kafka, "--topic-prefix", prefix, "--snapshot-dir",
       snapshots, "--snapshot-every", "3000", "--batch-size", "256", "--max-batch-delay-ms", "200",
       "--admin-address", "127.0.0.1:0", "--metrics-address", ""},
      dir_.path());
  for (const std::string& flag : tts::SmallModelFlags()) trainer.argv.push_back(flag);
  for (Service* s : {&ingest, &trainer, &replay}) {
    ASSERT_NO_FATAL_FAILURE(s->Start());
  }

  // The chaos: a kill every 0.8-2.5 s, of the service killed least so far; the broker goes
  // down after the 5th kill and the snapshot disk fills after the 10th.
  bool broker_restarted = false;
  bool disk_filled = disk == nullptr;
  int total_kills = 0;
  const auto deadline = Clock::now() + std::chrono::minutes(6);
  std::vector<Service*> services = {&replay, &ingest, &trainer};
  while (Clock::now() < deadline) {
    for (Service* s : services) s->Check();
    if (HasFailure()) break;
    const bool all_killed = replay.kills >= kKillsPerService && ingest.kills >= kKillsPerService &&
                            trainer.kills >= kKillsPerService;
    if (all_killed && broker_restarted && disk_filled) break;
    if (replay.finished && replay.kills < kKillsPerService) {
      ADD_FAILURE() << "replay sent every row before its 5th kill (" << replay.kills << ")";
      break;
    }
    std::this_thread::sleep_for(milliseconds(800 + rng() % 1700));
    Service* victim = nullptr;
    for (Service* s : services) {
      if (s->finished || s->kills >= kKillsPerService) continue;
      if (victim == nullptr || s->kills < victim->kills ||
          (s->kills == victim->kills && rng() % 2 == 0)) {
        victim = s;
      }
    }
    if (victim != nullptr) {
      victim->Kill();
      ++total_kills;
      std::fprintf(stderr, "soak: kill %d: %s (%d)\n", total_kills, victim->name.c_str(),
                   victim->kills);
    }
    if (total_kills >= 5 && !broker_restarted) {
      std::fprintf(stderr, "soak: stopping the broker\n");
      ASSERT_TRUE((*broker)->Stop().ok());
      std::this_thread::sleep_for(seconds(3));
      ASSERT_TRUE((*broker)->Restart().ok());
      std::fprintf(stderr, "soak: broker restarted\n");
      broker_restarted = true;
    }
    if (total_kills >= 10 && !disk_filled) {
      disk->Fill();
      std::fprintf(stderr, "soak: snapshot disk full\n");
      const auto until = Clock::now() + seconds(90);
      int64_t failures = 0;
      while (Clock::now() < until && failures < 1) {
        trainer.Check();
        failures = StatusField(trainer, "snapshot_failures");
        std::this_thread::sleep_for(milliseconds(200));
      }
      disk->FreeSpace();
      std::fprintf(stderr, "soak: snapshot disk freed after %lld failed snapshot(s)\n",
                   static_cast<long long>(failures));
      EXPECT_GE(failures, 1) << "no snapshot failed on the full disk:\n"
                             << its::Tail(trainer.log());
      disk_filled = true;
    }
  }
  ASSERT_FALSE(HasFailure());
  ASSERT_GE(replay.kills, kKillsPerService);
  ASSERT_GE(ingest.kills, kKillsPerService);
  ASSERT_GE(trainer.kills, kKillsPerService);
  ASSERT_TRUE(broker_restarted);
  ASSERT_TRUE(disk_filled);

  // Replay to its end, then ingest and the trainer to theirs.
  if (!replay.finished) {
    const int status = replay.process->Wait();
    ASSERT_EQ(status, 0) << its::Tail(replay.log());
  }
  const std::string transactions_topic = prefix + std::string(events::kTransactionsTopic);
  const std::vector<std::string> bad = UndecodablePayloads();
  {
    Result<std::unique_ptr<kafka::Producer>> producer = its::MakeProducer(bootstrap);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    for (size_t i = 0; i < bad.size(); ++i) {
      ASSERT_TRUE((*producer)
                      ->Produce({.topic = transactions_topic,
                                 .partition = static_cast<int32_t>(i % kPartitions),
                                 .key = "bad-" + std::to_string(i),
                                 .value = bad[i],
                                 .headers = {}})
                      .ok());
    }
    ASSERT_TRUE((*producer)->Flush(seconds(60)).ok());
  }
  Result<std::vector<kafka::Message>> transactions =
      its::ReadCommitted(bootstrap, transactions_topic, kTransactions + bad.size(), seconds(120));
  ASSERT_TRUE(transactions.ok()) << transactions.status().ToString();
  std::set<std::string> event_ids;
  for (const kafka::Message& m : *transactions) {
    const std::string id = its::EventIdIn(m.value);
    if (!id.empty() && id.rfind("bad-", 0) != 0) event_ids.insert(id);
  }
  EXPECT_EQ(transactions->size(), kTransactions + bad.size()) << "replay lost or repeated rows";
  EXPECT_EQ(event_ids.size(), static_cast<size_t>(kTransactions));
  const auto total = static_cast<int64_t>(transactions->size());
  ASSERT_TRUE(its::AwaitCommitted(*ingest.process, bootstrap, prefix, total, seconds(300)).ok())
      << its::Tail(ingest.log());

  Result<std::vector<kafka::Message>> examples =
      its::ReadCommitted(bootstrap, prefix + std::string(events::kExamplesTopic),
                         kTransactions - unknown, seconds(120));
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  Result<std::vector<kafka::Message>> dead_letters = its::ReadCommitted(
      bootstrap, prefix + std::string(events::kDlqTopic), bad.size() + unknown, seconds(60));
  ASSERT_TRUE(dead_letters.ok()) << dead_letters.status().ToString();
  std::vector<std::string> duplicates;
  const std::map<std::string, events::ExampleEvent> decoded =
      its::DecodeExamples(*examples, &duplicates);
  EXPECT_TRUE(duplicates.empty()) << duplicates.size() << " examples twice";
  EXPECT_EQ(examples->size() + dead_letters->size(), transactions->size())
      << examples->size() << " examples and " << dead_letters->size() << " dead letters";
  EXPECT_EQ(dead_letters->size(), bad.size() + unknown);

  const auto trained_all = [&] {
    return StatusField(trainer, "events_trained") == static_cast<int64_t>(examples->size());
  };
  const auto trained_by = Clock::now() + seconds(300);
  while (Clock::now() < trained_by && !trained_all()) {
    trainer.Check();
    std::this_thread::sleep_for(milliseconds(500));
  }
  ASSERT_TRUE(trained_all()) << its::Tail(trainer.log());
  trainer.process->Signal(SIGTERM);
  EXPECT_EQ(trainer.process->Wait(), 0) << its::Tail(trainer.log());
  ingest.process->Signal(SIGTERM);
  EXPECT_EQ(ingest.process->Wait(), 0) << its::Tail(ingest.log());

  std::vector<events::ExampleEvent> all;
  all.reserve(decoded.size());
  for (const auto& [id, example] : decoded) all.push_back(example);
  const Result<snapshot::Manifest> manifest = tts::LatestManifest(snapshots);
  ASSERT_TRUE(manifest.ok()) << manifest.status().ToString();
  EXPECT_EQ(manifest->events_trained, static_cast<int64_t>(all.size()));
  EXPECT_EQ(manifest->trained_digest, tts::ExpectedDigest(all))
      << "the count matches but the digest does not: an example was trained twice, another never";
  std::fprintf(stderr,
               "soak: %d kills (replay %d, ingest %d, trainer %d), broker restarted, snapshot "
               "disk %s; %zu transactions = %zu examples + %zu dead letters; trained %lld\n",
               total_kills, replay.kills, ingest.kills, trainer.kills,
               disk ? "filled and freed" : "not filled (no tmpfs)", transactions->size(),
               examples->size(), dead_letters->size(),
               static_cast<long long>(manifest->events_trained));
}

}  // namespace
}  // namespace towerstream
