// Fault tests of `towerstream ingest` (the binary): SIGKILL at random moments, and a broker
// stopped and restarted mid-run. Exactly once is checked on what read_committed consumers see.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/test_services.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/small_disk.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::ingest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::ChildProcess;
using test_support::Dataset;

class IngestFaultTest : public ::testing::Test {
 protected:
  void SetUp() override { prefix_ = test_support::UniquePrefix("fault"); }

  void Prepare(const std::string& bootstrap, const Dataset& d) {
    bootstrap_ = bootstrap;
    Result<std::unique_ptr<kafka::Producer>> producer = test_support::MakeProducer(bootstrap);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    ASSERT_TRUE(test_support::CreateTopics(**producer, prefix_, d.partitions).ok());
    const Status s = test_support::ProduceEntities(**producer, prefix_, d);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void Produce(std::span<const Dataset::Transaction> transactions) {
    Result<std::unique_ptr<kafka::Producer>> producer = test_support::MakeProducer(bootstrap_);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    const Status s = test_support::ProduceTransactions(**producer, prefix_, transactions);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  Result<ChildProcess> StartIngest(const std::vector<std::string>& extra = {}) {
    return ChildProcess::Start(test_support::IngestCommand(bootstrap_, prefix_, state_, extra),
                               log_);
  }

  int64_t Committed() { return test_support::CommittedTransactions(bootstrap_, prefix_); }

  // Waits until the group has committed `total` offsets of hm.transactions while `ingest`
  // keeps running.
  bool AwaitCommitted(ChildProcess& ingest, int64_t total, seconds timeout) {
    const Status s = test_support::AwaitCommitted(ingest, bootstrap_, prefix_, total, timeout);
    if (!s.ok()) ADD_FAILURE() << s.ToString() << ":\n" << test_support::Tail(log_);
    return s.ok();
  }

  std::string prefix_;
  std::string bootstrap_;
  ::towerstream::testing::ScopedTempDir dir_{"ingest_fault"};
  std::string log_ = (dir_.path() / "ingest.log").string();
  std::string state_ = (dir_.path() / "state").string();
};

TEST_F(IngestFaultTest, SigkillAtRandomMomentsKeepsExactlyOnceAndHistories) {
  constexpr int64_t kTransactions = 200'000;
  constexpr int kKillsWanted = 5;
  Result<std::string> bootstrap = test_services::KafkaBootstrap();
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().ToString();
  const unsigned seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed));
  const Dataset d = test_support::MakeDataset(2'000, 500, kTransactions, 4, seed);
  Prepare(*bootstrap, d);

  // The stream keeps arriving while ingest is killed and restarted, as from a live replay,
  // faster than small micro-batches drain it: most kills hit an open Kafka transaction.
  std::thread feeder([&] {
    const std::span<const Dataset::Transaction> all(d.transactions);
    for (size_t at = 0; at < all.size(); at += 20'000) {
      Produce(all.subspan(at, std::min<size_t>(20'000, all.size() - at)));
    }
  });
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> delay_ms(500, 3'000);
  int kills_mid_run = 0;
  for (int attempt = 0; attempt < 12 && kills_mid_run < kKillsWanted; ++attempt) {
    Result<ChildProcess> ingest = StartIngest({"--batch-size", "250"});
    ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
    std::this_thread::sleep_for(milliseconds(delay_ms(rng)));
    ASSERT_TRUE(ingest->Running()) << "ingest exited early:\n" << test_support::Tail(log_);
    ingest->Signal(SIGKILL);
    EXPECT_EQ(ingest->Wait(), 128 + SIGKILL);
    const int64_t committed = Committed();
    std::fprintf(stderr, "kill %d: %lld of %lld committed\n", attempt + 1,
                 static_cast<long long>(committed), static_cast<long long>(kTransactions));
    if (committed >= 0 && committed < kTransactions) ++kills_mid_run;
  }
  feeder.join();
  EXPECT_GE(kills_mid_run, kKillsWanted);

  Result<ChildProcess> ingest = StartIngest();
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
  ASSERT_TRUE(AwaitCommitted(*ingest, kTransactions, seconds(180)));
  ingest->Signal(SIGTERM);
  EXPECT_EQ(ingest->Wait(), 0) << test_support::Tail(log_);
  test_support::ExpectExactlyOnce(bootstrap_, prefix_, d);
}

// The state folder fills up mid-run: ingest stops with an error naming the file and the
// reason (before the fix, RocksDB's own info log aborted it with SIGABRT), and once space is
// freed a restart continues exactly where it stopped.
TEST_F(IngestFaultTest, AFullStateDiskStopsWithAClearErrorAndARestartContinuesExactly) {
  constexpr int64_t kTransactions = 120'000;
  std::string why;
  const std::unique_ptr<towerstream::testing::SmallDisk> disk =
      towerstream::testing::SmallDisk::Mount(dir_.path() / "disk", 16 << 20, 3 << 20, &why);
  if (disk == nullptr) GTEST_SKIP() << why;
  state_ = (disk->dir() / "state").string();
  Result<std::string> bootstrap = test_services::KafkaBootstrap();
  ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().ToString();
  const Dataset d = test_support::MakeDataset(2'000, 500, kTransactions, 4, /*seed=*/12);
  Prepare(*bootstrap, d);
  Produce(d.transactions);

  Result<ChildProcess> ingest = StartIngest({"--batch-size", "2000"});
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
  EXPECT_EQ(ingest->Wait(), 1) << test_support::Tail(log_);
  const std::string log = test_support::Tail(log_);
  EXPECT_NE(log.find("No space left on device"), std::string::npos) << log;
  EXPECT_NE(log.find(state_), std::string::npos) << log;
  const int64_t committed = Committed();
  EXPECT_LT(committed, kTransactions) << "the disk filled only after the end";

  disk->FreeSpace();
  ingest = StartIngest({"--batch-size", "2000"});
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
  ASSERT_TRUE(AwaitCommitted(*ingest, kTransactions, seconds(180)));
  ingest->Signal(SIGTERM);
  EXPECT_EQ(ingest->Wait(), 0) << test_support::Tail(log_);
  test_support::ExpectExactlyOnce(bootstrap_, prefix_, d);
}

TEST_F(IngestFaultTest, RecoversWhenTheBrokerIsStoppedAndRestarted) {
  Result<std::unique_ptr<test_support::OwnBroker>> broker =
      test_support::OwnBroker::Start((dir_.path() / "broker").string());
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  const std::string bootstrap = (*broker)->bootstrap();

  const Dataset d = test_support::MakeDataset(1'000, 200, 60'000, 3, /*seed=*/23);
  Prepare(bootstrap, d);
  const std::span<const Dataset::Transaction> all(d.transactions);
  Produce(all.first(30'000));
  // Small micro-batches keep ingest busy when the broker goes: transactions are open.
  Result<ChildProcess> ingest = StartIngest({"--batch-size", "200"});
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();
  ASSERT_TRUE(AwaitCommitted(*ingest, 5'000, seconds(60)));

  const Status stopped = (*broker)->Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.ToString();
  std::this_thread::sleep_for(seconds(3));
  ASSERT_TRUE(ingest->Running()) << "ingest gave up while the broker was down:\n"
                                 << test_support::Tail(log_);
  const Status restarted = (*broker)->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();

  Produce(all.subspan(30'000));
  ASSERT_TRUE(AwaitCommitted(*ingest, static_cast<int64_t>(all.size()), seconds(180)));
  ingest->Signal(SIGTERM);
  EXPECT_EQ(ingest->Wait(), 0) << test_support::Tail(log_);
  test_support::ExpectExactlyOnce(bootstrap_, prefix_, d);
}

}  // namespace
}  // namespace towerstream::ingest
