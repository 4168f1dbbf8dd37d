// Fault test of the streaming ETL as a whole: `towerstream replay` and `towerstream ingest`
// running together while their broker is stopped and restarted, then checked end to end.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "common/datagen/generator.h"
#include "common/events/event_id.h"
#include "common/events/events.h"
#include "common/hm/hm_reader.h"
#include "tests/ingest/ingest_test_support.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::etl {
namespace {

using ingest::test_support::ChildProcess;
using ingest::test_support::OwnBroker;
using std::chrono::milliseconds;
using std::chrono::seconds;
using Clock = std::chrono::steady_clock;
namespace test_support = ingest::test_support;

constexpr int kPartitions = 3;
constexpr int64_t kTransactions = 60'000;
// Transactions per second: the replay takes about 12 s without the outage, so that the broker
// goes away in the middle of it even when ingest is slow to join its group.
constexpr int kRate = 5'000;

// The event_id of every good row of a transactions file, as replay derives them.
std::set<std::string> EventIdsOf(const std::filesystem::path& path) {
  std::set<std::string> ids;
  Result<std::unique_ptr<hm::TransactionReader>> reader =
      hm::TransactionReader::Open(path.string());
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return ids;
  hm::Transaction row;
  while (true) {
    Result<bool> more = (*reader)->Next(&row);
    EXPECT_TRUE(more.ok()) << more.status().ToString();
    if (!more.ok() || !*more) break;
    ids.insert(events::MakeTransactionEventId(path.filename().string(), (*reader)->line()));
  }
  return ids;
}

// Waits up to `timeout` for `child` to exit; its exit status, or -1 if it still runs.
int WaitFor(ChildProcess& child, seconds timeout) {
  const Clock::time_point deadline = Clock::now() + timeout;
  while (child.Running()) {
    if (Clock::now() >= deadline) return -1;
    std::this_thread::sleep_for(milliseconds(100));
  }
  return child.Wait();
}

// Counts each event_id in `messages` into `seen`.
void Count(const std::vector<kafka::Message>& messages, std::map<std::string, int>* seen) {
  for (const kafka::Message& m : messages) ++(*seen)[test_support::EventIdIn(m.value)];
}

// Every id of `expected` seen exactly once, and nothing else: failures name a few ids.
void ExpectEachOnce(const std::string& what, const std::map<std::string, int>& seen,
                    const std::set<std::string>& expected) {
  int64_t duplicated = 0, unexpected = 0, missing = 0;
  for (const auto& [id, count] : seen) {
    if (count > 1 && ++duplicated <= 3) ADD_FAILURE() << what << ": " << id << " x" << count;
    if (!expected.contains(id) && ++unexpected <= 3) ADD_FAILURE() << what << ": unexpected " << id;
  }
  for (const std::string& id : expected) {
    if (!seen.contains(id) && ++missing <= 3) ADD_FAILURE() << what << ": missing " << id;
  }
  EXPECT_EQ(duplicated, 0) << what;
  EXPECT_EQ(unexpected, 0) << what;
  EXPECT_EQ(missing, 0) << what;
}

// Replay does not fail on a broker outage: its idempotent producer retries without a time
// limit (message.timeout.ms=0) and a full local queue blocks it for at most its enqueue
// timeout (120 s), so it carries on where it was once the broker is back and exits 0; no
// --resume is needed, and the check below that hm.transactions holds every row exactly once
// covers both the retries and the idempotence. Ingest keeps retrying its Kafka transactions
// (aborting and rewinding to the committed offsets) and must not exit either.
TEST(EtlFaultTest, ReplayAndIngestRecoverWhenTheBrokerIsStoppedAndRestarted) {
  const ::towerstream::testing::ScopedTempDir dir("etl_fault");
  Result<std::unique_ptr<OwnBroker>> broker = OwnBroker::Start((dir.path() / "broker").string());
  ASSERT_TRUE(broker.ok()) << broker.status().ToString();
  const std::string bootstrap = (*broker)->bootstrap();
  const std::string prefix = test_support::UniquePrefix("etl");

  datagen::GeneratorOptions generate;
  generate.customers = 3'000;
  generate.articles = 800;
  generate.transactions = kTransactions;
  generate.days = 30;
  const std::filesystem::path data = dir.path() / "data";
  Result<datagen::GenerateSummary> generated = datagen::Generate(generate, data);
  ASSERT_TRUE(generated.ok()) << generated.status().ToString();
  const std::set<std::string> expected = EventIdsOf(data / datagen::kTransactionsFile);
  ASSERT_EQ(static_cast<int64_t>(expected.size()), kTransactions);

  const std::string replay_log = (dir.path() / "replay.log").string();
  const std::string ingest_log = (dir.path() / "ingest.log").string();
  Result<ChildProcess> replay =
      ChildProcess::Start({TOWERSTREAM_BIN, "replay", "--data", data.string(), "--kafka",
                           "bootstrap.servers=" + bootstrap, "--partitions",
                           std::to_string(kPartitions), "--topic-prefix", prefix, "--rate",
                           std::to_string(kRate), "--metrics-address", "", "--quiet"},
                          replay_log);
  ASSERT_TRUE(replay.ok()) << replay.status().ToString();
  Result<ChildProcess> ingest = ChildProcess::Start(
      test_support::IngestCommand(bootstrap, prefix, (dir.path() / "state").string(),
                                  {"--partitions", std::to_string(kPartitions)}),
      ingest_log);
  ASSERT_TRUE(ingest.ok()) << ingest.status().ToString();

  // The broker goes once both are in full flow: ingest has committed some batches (so that
  // its Kafka transactions are under way) and replay is still sending.
  const Status flowing = test_support::AwaitCommitted(*ingest, bootstrap, prefix, 1, seconds(30));
  ASSERT_TRUE(flowing.ok()) << flowing.ToString() << ":\n" << test_support::Tail(ingest_log);
  std::this_thread::sleep_for(seconds(1));
  ASSERT_TRUE(replay->Running()) << "replay ended before the outage:\n"
                                 << test_support::Tail(replay_log);
  const int64_t committed_before = test_support::CommittedTransactions(bootstrap, prefix);
  const Status stopped = (*broker)->Stop();
  ASSERT_TRUE(stopped.ok()) << stopped.ToString();
  std::this_thread::sleep_for(seconds(3));
  ASSERT_TRUE(replay->Running()) << "replay gave up while the broker was down:\n"
                                 << test_support::Tail(replay_log);
  ASSERT_TRUE(ingest->Running()) << "ingest gave up while the broker was down:\n"
                                 << test_support::Tail(ingest_log);
  const Status restarted = (*broker)->Restart();
  ASSERT_TRUE(restarted.ok()) << restarted.ToString();
  std::fprintf(stderr, "broker restarted; ingest had committed %lld of %lld before the stop\n",
               static_cast<long long>(committed_before), static_cast<long long>(kTransactions));

  EXPECT_EQ(WaitFor(*replay, seconds(120)), 0) << test_support::Tail(replay_log);
  const Status done =
      test_support::AwaitCommitted(*ingest, bootstrap, prefix, kTransactions, seconds(120));
  ASSERT_TRUE(done.ok()) << done.ToString() << ":\n" << test_support::Tail(ingest_log);
  ingest->Signal(SIGTERM);
  EXPECT_EQ(WaitFor(*ingest, seconds(60)), 0) << test_support::Tail(ingest_log);

  // hm.transactions: every source row exactly once.
  Result<std::vector<kafka::Message>> transactions = test_support::ReadCommitted(
      bootstrap, prefix + std::string(events::kTransactionsTopic), expected.size(), seconds(60));
  ASSERT_TRUE(transactions.ok()) << transactions.status().ToString();
  std::map<std::string, int> sent;
  Count(*transactions, &sent);
  ExpectEachOnce("hm.transactions", sent, expected);

  // hm.examples (committed) and hm.dlq together: every transaction exactly once. Ingest has
  // committed everything, so the dead letters are all there to read: the examples are the rest.
  Result<std::vector<kafka::Message>> dead = test_support::ReadCommitted(
      bootstrap, prefix + std::string(events::kDlqTopic), 0, seconds(60));
  ASSERT_TRUE(dead.ok()) << dead.status().ToString();
  Result<std::vector<kafka::Message>> examples =
      test_support::ReadCommitted(bootstrap, prefix + std::string(events::kExamplesTopic),
                                  expected.size() - dead->size(), seconds(60));
  ASSERT_TRUE(examples.ok()) << examples.status().ToString();
  std::map<std::string, int> out;
  Count(*examples, &out);
  Count(*dead, &out);
  std::fprintf(stderr, "%zu examples, %zu dead letters\n", examples->size(), dead->size());
  ExpectEachOnce("hm.examples + hm.dlq", out, expected);
}

}  // namespace
}  // namespace towerstream::etl
