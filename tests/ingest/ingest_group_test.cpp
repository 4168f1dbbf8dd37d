// Ingest as a consumer group: `towerstream ingest` binaries with one --group and each its own
// --instance and --state share hm.transactions while one is SIGKILLed and restarted, one joins
// and one leaves for good. What read_committed consumers see is checked against the examples
// a single uninterrupted ingest writes.
#include <signal.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/harness/test_services.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::ingest {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using test_support::ChildProcess;
using test_support::Dataset;
// Partitions of hm.transactions per instance name.
using Assignment = std::map<std::string, std::vector<int32_t>>;

constexpr int kPartitions = 6;
constexpr char kGroup[] = "group-test";

std::string Describe(const Assignment& assignment) {
  std::string text;
  for (const auto& [instance, partitions] : assignment) {
    text += (text.empty() ? "" : " ") + instance + ":{";
    for (size_t i = 0; i < partitions.size(); ++i) {
      text += (i ? "," : "") + std::to_string(partitions[i]);
    }
    text += "}";
  }
  return text;
}

class IngestGroupTest : public ::testing::Test {
 protected:
  // One member of the group; its name, state and log stay across restarts.
  struct Instance {
    std::string state;
    std::string log;
    std::optional<ChildProcess> process;
  };

  void SetUp() override {
    Result<std::string> bootstrap = test_services::KafkaBootstrap();
    ASSERT_TRUE(bootstrap.ok()) << bootstrap.status().ToString();
    bootstrap_ = *bootstrap;
    prefix_ = test_support::UniquePrefix("group");
    Result<std::unique_ptr<kafka::Producer>> producer = test_support::MakeProducer(bootstrap_);
    ASSERT_TRUE(producer.ok()) << producer.status().ToString();
    producer_ = std::move(producer).value();
  }

  void Prepare(const Dataset& d) {
    ASSERT_TRUE(test_support::CreateTopics(*producer_, prefix_, d.partitions).ok());
    const Status s = test_support::ProduceEntities(*producer_, prefix_, d);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  void Produce(std::span<const Dataset::Transaction> transactions) {
    const Status s = test_support::ProduceTransactions(*producer_, prefix_, transactions);
    ASSERT_TRUE(s.ok()) << s.ToString();
  }

  // Produces `transactions` a chunk at a time on a thread of its own, as a live replay does.
  std::jthread Feed(std::span<const Dataset::Transaction> transactions) {
    return std::jthread([this, transactions] {
      constexpr size_t kChunk = 1'000;
      for (size_t at = 0; at < transactions.size(); at += kChunk) {
        Produce(transactions.subspan(at, std::min(kChunk, transactions.size() - at)));
        std::this_thread::sleep_for(milliseconds(100));
      }
    });
  }

  // Starts instance `name` (again, after a kill: same --instance, same --state).
  void Start(const std::string& name) {
    Instance& instance = instances_[name];
    instance.state = (dir_.path() / ("state-" + name)).string();
    instance.log = (dir_.path() / ("ingest-" + name + ".log")).string();
    // Static members do not leave the group when they close (KIP-345): the partitions of an
    // instance stopped for good move once its session times out, here after the broker's
    // shortest session rather than librdkafka's 45 s.
    Result<ChildProcess> process = ChildProcess::Start(
        test_support::IngestCommand(
            bootstrap_, prefix_, instance.state,
            {"--group", kGroup, "--instance", name, "--batch-size", "250", "--kafka",
             "session.timeout.ms=6000", "--kafka", "heartbeat.interval.ms=1000"}),
        instance.log);
    ASSERT_TRUE(process.ok()) << process.status().ToString();
    instance.process.emplace(std::move(process).value());
  }

  // Stops instance `name` with `signo` and expects it to exit with `status`.
  void Stop(const std::string& name, int signo, int status) {
    Instance& instance = instances_.at(name);
    ASSERT_TRUE(instance.process->Running()) << name << " exited early:\n"
                                             << test_support::Tail(instance.log);
    instance.process->Signal(signo);
    EXPECT_EQ(instance.process->Wait(), status) << name << ":\n"
                                                << test_support::Tail(instance.log);
  }

  std::vector<ChildProcess*> Running() {
    std::vector<ChildProcess*> running;
    for (auto& [name, instance] : instances_) {
      if (instance.process && instance.process->Running()) running.push_back(&*instance.process);
    }
    return running;
  }

  // Waits until the group is stable with exactly `names` as members, each partition of
  // hm.transactions held by one of them.
  Assignment AwaitGroup(const std::set<std::string>& names) {
    const std::string member_prefix = prefix_ + kGroup + ".";
    const std::string topic = prefix_ + std::string(events::kTransactionsTopic);
    const auto deadline = std::chrono::steady_clock::now() + seconds(60);
    std::string last = "nothing";
    while (std::chrono::steady_clock::now() < deadline) {
      Result<Assignment> described =
          test_support::StableAssignment(bootstrap_, prefix_ + kGroup, topic);
      if (described.ok()) {
        Assignment assignment;
        std::vector<int32_t> held;
        for (const auto& [member, partitions] : *described) {
          assignment[member.substr(member_prefix.size())] = partitions;
          held.insert(held.end(), partitions.begin(), partitions.end());
        }
        std::sort(held.begin(), held.end());
        std::vector<int32_t> all(kPartitions);
        for (int32_t p = 0; p < kPartitions; ++p) all[p] = p;
        std::set<std::string> members;
        for (const auto& [name, partitions] : assignment) members.insert(name);
        if (members == names && held == all) {
          std::fprintf(stderr, "group: %s\n", Describe(assignment).c_str());
          return assignment;
        }
        last = Describe(assignment);
      } else {
        last = described.status().ToString();
      }
      std::this_thread::sleep_for(milliseconds(250));
    }
    ADD_FAILURE() << "the group did not settle with " << names.size() << " members; last: " << last;
    return {};
  }

  // Waits until the group has committed `total` offsets of hm.transactions while every instance
  // started and not stopped keeps running.
  bool AwaitCommitted(int64_t total) {
    const std::vector<ChildProcess*> running = Running();
    const Status s =
        test_support::AwaitCommitted(running, bootstrap_, prefix_, kGroup, total, seconds(120));
    if (!s.ok()) {
      std::string logs;
      for (const auto& [name, instance] : instances_) {
        logs += "--- " + name + ":\n" + test_support::Tail(instance.log, 1500);
      }
      ADD_FAILURE() << s.ToString() << "\n" << logs;
    }
    return s.ok();
  }

  std::string bootstrap_;
  std::string prefix_;
  std::unique_ptr<kafka::Producer> producer_;
  ::towerstream::testing::ScopedTempDir dir_{"ingest_group"};
  std::map<std::string, Instance> instances_;  // by --instance
};

TEST_F(IngestGroupTest, KillsJoinsAndLeavesKeepExactlyOnceAndTheSingleInstanceHistories) {
  Dataset d = test_support::MakeDataset(3'000, 500, 60'000, kPartitions, /*seed=*/31);
  // Every 97th transaction is invalid (a negative price) but keeps its event_id: a dead letter.
  std::set<std::string> invalid;
  for (size_t i = 13; i < d.transactions.size(); i += 97) {
    d.transactions[i].event.transaction.price = -1;
    invalid.insert(d.transactions[i].event.event_id);
  }
  Prepare(d);
  const std::span<const Dataset::Transaction> all(d.transactions);
  const auto phase = [&](size_t begin, size_t end) { return all.subspan(begin, end - begin); };
  const auto committed = [&](size_t total) { return AwaitCommitted(static_cast<int64_t>(total)); };

  // Three instances from the start. Range assignment orders the members by name: the 4th,
  // "0", takes partitions 0 and 1 and shifts the others along, so that most partitions change
  // hands and their new owners rebuild histories they never saw; when "2" leaves, partition 4
  // goes back to "3", whose history of it has a gap to fill.
  for (const std::string name : {"1", "2", "3"}) Start(name);
  const Assignment first = AwaitGroup({"1", "2", "3"});
  ASSERT_FALSE(first.empty());

  // "1" is SIGKILLed while its partitions still have work, and restarted as it was.
  const std::span<const Dataset::Transaction> before_kill = phase(0, 24'000);
  Produce(before_kill);
  ASSERT_TRUE(committed(1'500));
  Stop("1", SIGKILL, 128 + SIGKILL);
  Result<std::vector<int64_t>> offsets = test_support::CommittedOffsetsByPartition(
      bootstrap_, prefix_ + kGroup, prefix_ + std::string(events::kTransactionsTopic));
  ASSERT_TRUE(offsets.ok()) << offsets.status().ToString();
  int64_t left = 0;
  for (int32_t p : first.at("1")) {
    left += std::count_if(before_kill.begin(), before_kill.end(),
                          [p](const Dataset::Transaction& t) { return t.partition == p; }) -
            (*offsets)[p];
  }
  std::fprintf(stderr, "killed 1 with %lld of its transactions not committed\n",
               static_cast<long long>(left));
  EXPECT_GT(left, 0) << "the kill came after the end of its partitions";
  Start("1");
  ASSERT_TRUE(committed(24'000));

  // A 4th instance joins while the stream flows; it takes partitions others have filled.
  {
    std::jthread feeder = Feed(phase(24'000, 33'000));
    Start("0");
    ASSERT_FALSE(AwaitGroup({"0", "1", "2", "3"}).empty());
  }
  Produce(phase(33'000, 42'000));
  ASSERT_TRUE(committed(42'000));

  // "2" stops for good while the stream flows: it commits what it holds and exits, and its
  // partitions go to the others.
  {
    std::jthread feeder = Feed(phase(42'000, 51'000));
    std::this_thread::sleep_for(milliseconds(500));
    Stop("2", SIGTERM, 0);
  }
  Produce(phase(51'000, all.size()));
  ASSERT_FALSE(AwaitGroup({"0", "1", "3"}).empty());
  ASSERT_TRUE(committed(all.size()));
  for (const std::string name : {"0", "1", "3"}) Stop(name, SIGTERM, 0);

  test_support::ExpectExactlyOnce(bootstrap_, prefix_, d, invalid);
}

}  // namespace
}  // namespace towerstream::ingest
