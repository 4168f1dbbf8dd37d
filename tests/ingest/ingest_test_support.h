// Shared helpers of the ingest integration tests: datasets, producing, reading back, checking.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/events/events.h"
#include "common/kafka/message.h"
#include "common/kafka/producer.h"

namespace towerstream::ingest::test_support {

// A hand-built stream: every customer's purchases on partition customer % partitions.
struct Dataset {
  struct Transaction {
    events::TransactionEvent event;
    int32_t partition = 0;
  };
  int partitions = 1;
  std::vector<events::ArticleEvent> articles;
  std::vector<events::CustomerEvent> customers;
  std::vector<Transaction> transactions;
};

// Valid events for `customers` customers, `articles` articles and `transactions` purchases of
// them (repeat customers, so histories fill up); deterministic per seed.
Dataset MakeDataset(int customers, int articles, int64_t transactions, int partitions,
                    uint64_t seed);
// 64 lowercase hex characters for customer `n`.
std::string CustomerId(int n);
// A valid article event for id `id`.
events::ArticleEvent MakeArticle(hm::ArticleId id);

// For every transaction (by event_id): the article ids of the same customer's `n` previous
// purchases in the stream, oldest first: what an uninterrupted ingest puts in its example.
std::map<std::string, std::vector<hm::ArticleId>> ExpectedHistories(
    std::span<const Dataset::Transaction> transactions, int n);
// For every transaction of `valid` (by event_id): the whole example an uninterrupted ingest
// that knows all of `dataset`'s articles and customers writes for it, with a history of `n`.
std::map<std::string, events::ExampleEvent> ExpectedExamples(
    const Dataset& dataset, std::span<const Dataset::Transaction> valid, int n);

// A producer for the tests (idempotent, not transactional; messages up to the broker's 1 MiB).
Result<std::unique_ptr<kafka::Producer>> MakeProducer(const std::string& bootstrap);
// Creates the hm.* topics under `prefix` as replay does, each with `partitions` partitions.
Status CreateTopics(kafka::Producer& producer, const std::string& prefix, int partitions);
Status ProduceEntities(kafka::Producer& producer, const std::string& prefix,
                       const Dataset& dataset);
Status ProduceTransactions(kafka::Producer& producer, const std::string& prefix,
                           std::span<const Dataset::Transaction> transactions);

// Every committed message of `topic` (isolation.level=read_committed), read from the start of
// every partition until at least `min_count` arrived and every partition is at its end, or
// `timeout` passed (then what arrived so far).
Result<std::vector<kafka::Message>> ReadCommitted(const std::string& bootstrap,
                                                  const std::string& topic, size_t min_count,
                                                  std::chrono::milliseconds timeout);

// The consumer group ingest joins when not given --group (under its topic prefix).
inline constexpr char kDefaultGroup[] = "towerstream-ingest";

// Per partition of `topic`, the offset `group` has committed (0 where none); offsets that an
// open transaction carries count once it commits.
Result<std::vector<int64_t>> CommittedOffsetsByPartition(const std::string& bootstrap,
                                                         const std::string& group,
                                                         const std::string& topic);
// Their sum over the partitions.
Result<int64_t> CommittedOffsets(const std::string& bootstrap, const std::string& group,
                                 const std::string& topic);

// What ingest's group `group` (under `prefix`) has committed of hm.transactions, summed over
// the partitions; -1 when the coordinator does not answer in a few tries (e.g. while the group
// rebalances).
int64_t CommittedTransactions(const std::string& bootstrap, const std::string& prefix,
                              const std::string& group = kDefaultGroup);

// Who holds what in consumer group `group` while it is Stable: the partitions of `topic`
// assigned to each member, by group.instance.id (the member id for a dynamic member).
// Unavailable while the group rebalances, is empty or does not exist.
Result<std::map<std::string, std::vector<int32_t>>> StableAssignment(const std::string& bootstrap,
                                                                     const std::string& group,
                                                                     const std::string& topic);

// A name no earlier run used, e.g. "it.ingest.EndToEnd.123456." as a topic prefix.
std::string UniquePrefix(const std::string& what);

// Example events decoded (failing the test on a bad one), by event_id; a duplicate event_id
// is recorded in `duplicates`.
std::map<std::string, events::ExampleEvent> DecodeExamples(const std::vector<kafka::Message>& m,
                                                           std::vector<std::string>* duplicates);

// Checks (as test failures) what read_committed consumers of the topics under `prefix` see once
// ingest is done: every transaction of `dataset` is exactly one example, or one dead letter for
// the event_ids in `invalid`, and every example is the one an uninterrupted ingest writes
// (ExpectedExamples: features and history).
void ExpectExactlyOnce(const std::string& bootstrap, const std::string& prefix,
                       const Dataset& dataset, const std::set<std::string>& invalid = {});

// A child process (the towerstream binary) with stdout and stderr appended to a log file.
// Kills it with SIGKILL when destroyed if still running. Move-only.
class ChildProcess {
 public:
  static Result<ChildProcess> Start(const std::vector<std::string>& argv, const std::string& log);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&& other) noexcept;
  ~ChildProcess();

  void Signal(int signo) const;
  // Waits for it to exit and returns its exit status (128 + signal when killed by one).
  int Wait();
  // Whether it is still running (reaps it if it exited).
  bool Running();
  pid_t pid() const { return pid_; }

 private:
  explicit ChildProcess(pid_t pid) : pid_(pid) {}

  pid_t pid_ = -1;
  std::optional<int> status_;
};

// Waits until ingest's group `group` (under `prefix`) has committed `total` offsets of
// hm.transactions while every one of `ingests` keeps running; an error saying how far it got,
// or which ingest exited, otherwise.
Status AwaitCommitted(std::span<ChildProcess* const> ingests, const std::string& bootstrap,
                      const std::string& prefix, const std::string& group, int64_t total,
                      std::chrono::seconds timeout);
// The same for the default group and one ingest.
Status AwaitCommitted(ChildProcess& ingest, const std::string& bootstrap, const std::string& prefix,
                      int64_t total, std::chrono::seconds timeout);

// The ingest command line for the tests' runs of the towerstream binary.
std::vector<std::string> IngestCommand(const std::string& bootstrap, const std::string& prefix,
                                       const std::string& state,
                                       const std::vector<std::string>& extra = {});

// The last `bytes` of a file, for failure messages.
std::string Tail(const std::string& path, size_t bytes = 3000);

// The event_id inside a JSON payload, found without parsing (dead letters need not parse);
// empty when there is none.
std::string EventIdIn(const std::string& payload);

// Runs a command through the shell; its stdout and stderr, or an error with them.
Result<std::string> Shell(const std::string& command);

// A broker of the test's own (scripts/kafka with its state in `state_dir`, on a free port), so
// that a test can stop and restart it mid-run; a restart keeps its data and its address.
// Stopped when destroyed. Not thread-safe.
class OwnBroker {
 public:
  static Result<std::unique_ptr<OwnBroker>> Start(const std::string& state_dir);
  OwnBroker(const OwnBroker&) = delete;
  OwnBroker& operator=(const OwnBroker&) = delete;
  ~OwnBroker();

  Status Stop();
  // Starts it again on the data and port it had.
  Status Restart();
  const std::string& bootstrap() const { return bootstrap_; }

 private:
  OwnBroker(std::string state_dir, std::string bootstrap)
      : state_dir_(std::move(state_dir)), bootstrap_(std::move(bootstrap)) {}

  std::string state_dir_;
  std::string bootstrap_;  // 127.0.0.1:PORT
};

}  // namespace towerstream::ingest::test_support
