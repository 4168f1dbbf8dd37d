// The trainer's implementation, shared by trainer.cpp (a single trainer, the admin API, the
// Kafka side) and trainer_group.cpp (a rank of a data-parallel group). Internal to ts_trainer.
#pragma once

#include <librdkafka/rdkafkacpp.h>

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <stop_token>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "common/distributed/group.h"
#include "common/kafka/consumer.h"
#include "common/kafka/producer.h"
#include "common/trainer/trainer.h"

namespace towerstream::trainer {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

inline constexpr milliseconds kMetadataTimeout{10'000};
inline constexpr milliseconds kTopicWait{2'000};
inline constexpr milliseconds kPollSlice{100};
// Pauses between attempts after a failed snapshot, doubling from the first to the most.
inline constexpr std::chrono::seconds kFirstSnapshotBackoff{1};
inline constexpr std::chrono::seconds kMaxSnapshotBackoff{300};
inline constexpr milliseconds kGaugeInterval{1'000};
inline constexpr milliseconds kFlushTimeout{60'000};
// Consume errors are logged at most this often (a broker outage repeats them).
inline constexpr std::chrono::seconds kErrorLogInterval{10};

// "towerstream trainer: <message>" on stderr.
void Log(const char* format, ...) __attribute__((format(printf, 1, 2)));

class Trainer::Impl {
 public:
  Impl(const TrainerOptions& options, prometheus::Registry& registry)
      : options_(options),
        topics_(events::TopicNames::WithPrefix(options.topic_prefix)),
        metrics_(registry) {}

  ~Impl() {
    // The admin server calls back into this object: stop it first.
    admin_.reset();
  }

  Status Init();
  Status Run(std::stop_token stop);
  // Null for a rank of a group between rounds.
  TrainingSession* session() { return session_.get(); }
  void RequestSnapshot() {
    if (schedule_) schedule_->Request();
  }
  std::string admin_address() const { return admin_ ? admin_->address() : ""; }

 private:
  // A consumed message on its way to a micro-batch: its example (none for a dead letter, which
  // only advances the offset).
  struct Delivered {
    int64_t offset = 0;
    std::optional<model::Example> example;
    std::string id;
  };
  // What the admin API reports, copied from the training thread after each batch.
  struct Published {
    SessionStatus session;
    Offsets offsets;
    std::map<int32_t, int64_t> lag;
    int64_t consumed = 0;
    int64_t dead_lettered = 0;
    int64_t held = 0;  // consumed, waiting in event-time order for a micro-batch
    int64_t snapshot_failures = 0;
    // The event time of the newest example consumed (nullopt before the first).
    std::optional<Date> consumed_event_day;
    std::string state = "starting";
    int group_round = 0;  // the round a rank of a group trains in (0: none yet)
    int64_t group_breaks = 0;
    int64_t group_events = 0;
    std::vector<int32_t> partitions;  // read by this trainer
  };

  Status WaitForTopic(std::stop_token stop, int* partitions);
  // Reads this trainer's partitions of hm.examples (all of them, or a rank's share) from the
  // offsets of the snapshot resumed.
  Status Assign(int partitions);
  // The partitions this trainer reads, and a partition's slot among them (EventTimeOrder's
  // index): a rank reads p = slot * world_size + rank.
  std::vector<int32_t> OwnPartitions(int partitions) const;
  int32_t SlotOf(int32_t partition) const { return partition / world_size(); }
  int32_t PartitionOf(int32_t slot) const { return slot * world_size() + rank(); }
  int world_size() const { return options_.parallel.world_size; }
  int rank() const { return options_.parallel.rank; }
  bool in_group() const { return world_size() > 1; }
  // Waits up to `timeout` for one message of hm.examples and handles it.
  Status ConsumeOne(milliseconds timeout);
  Status HandleMessage(RdKafka::Message& message);
  // Moves a delivered message into the micro-batch being filled.
  void Take(int32_t partition, Delivered delivered);
  // Moves messages from order_ into the micro-batch, in event-time order, until it is full or
  // order_ must wait; resumes partitions that drained.
  Status TakeInOrder();
  Status PausePartitions(const std::vector<int32_t>& partitions, bool pause);
  Status DeadLetter(RdKafka::Message& message, const Status& error);
  Status TrainPending();
  // Fits the ranker before the first micro-batch of the validation week (TrainerOptions).
  Status MaybeFitRanker();
  Status Snapshot();
  // Answers the POST /snapshot requests waiting for the snapshot just written (or not).
  void AnswerSnapshotWaiters(const Result<std::string>& id);
  Status FlushDeadLetters();

  // A rank of a group (trainer_group.cpp): joins rounds until stopped; trains one round, from
  // the snapshot rank 0 resumes, until stopped (OK) or the round breaks (its error).
  Status RunGroup(std::stop_token stop);
  Status RunRound(distributed::GroupRound& round, std::stop_token stop, int partitions);
  // Opens this round's session: rank 0 resumes the last complete snapshot and tells the others
  // which it is.
  Status OpenRoundSession(distributed::GroupRound& round);
  // One lockstep step: the ranks say how many examples they bring and whether they want a
  // snapshot or to stop, then train together; sets *stop_group when a rank stops.
  Status GroupStep(distributed::GroupRound& round, bool stop_requested, bool* stop_group);
  // Every rank at the same step: rank 0 writes the manifest and shared state, each rank its
  // customer shard into it.
  Status GroupSnapshot(distributed::GroupRound& round);
  void CommitToGroup();
  void UpdateLag();
  // "idle" when caught up (nothing left to read on any partition, nothing held for event-time
  // order, no micro-batch being filled), "stopping" once stopped, else "training".
  std::string RunningState() const;
  void Publish(const std::string& state);
  void HandleAdmin(const admin::AdminRequest& request, admin::Reply reply);
  nlohmann::json StatusJson();

  TrainerOptions options_;
  events::TopicNames topics_;
  TrainerMetrics metrics_;
  std::unique_ptr<TrainingSession> session_;
  std::unique_ptr<SnapshotSchedule> schedule_;
  std::unique_ptr<kafka::Producer> producer_;  // dead letters and metadata
  std::unique_ptr<kafka::Consumer> consumer_;

  // The micro-batch being filled, and the offsets after it (pending) and after the last
  // trained batch (trained, what snapshots record).
  std::vector<model::Example> batch_;
  std::vector<std::string> ids_;
  // Messages consumed but not yet in a micro-batch, merged into event-time order (null when
  // TrainerOptions::order_by_event_time is off), and the partitions paused while it holds too
  // many of theirs.
  std::unique_ptr<EventTimeOrder<Delivered>> order_;
  std::set<int32_t> paused_;
  std::map<int32_t, int64_t> pending_offsets_;
  std::map<int32_t, int64_t> trained_offsets_;
  bool batch_open_ = false;
  bool ranker_tried_ = false;
  Clock::time_point batch_started_;
  int64_t consumed_ = 0;
  int64_t dead_lettered_ = 0;
  int32_t partitions_ = 0;         // of hm.examples
  std::vector<int32_t> assigned_;  // the partitions this trainer reads
  std::map<int32_t, int64_t> lag_;
  // The newest event time consumed; starts at the newest trained of the snapshot resumed
  // (those examples were consumed by an earlier run).
  std::optional<Date> consumed_event_day_;
  bool stopping_ = false;  // the final snapshot is being written
  Clock::time_point last_error_log_{};
  // After a failed snapshot: when to try again, and the pause after the next failure.
  Clock::time_point next_snapshot_try_{};
  std::chrono::seconds snapshot_backoff_ = kFirstSnapshotBackoff;
  int64_t snapshot_failures_ = 0;

  // A rank of a group: its membership, the round it trains in (null between rounds), when it
  // last stepped, the group's examples trained (every rank's, for --snapshot-every N), and how
  // often the group broke.
  std::unique_ptr<distributed::GroupMember> member_;
  distributed::GroupRound* round_ = nullptr;
  Clock::time_point last_step_;
  int64_t group_events_ = 0;
  int64_t group_breaks_ = 0;

  std::mutex mu_;
  Published published_;                         // guarded by mu_
  std::vector<admin::Reply> snapshot_waiters_;  // guarded by mu_
  // Declared last: destroyed first (also explicitly in ~Impl), while what it calls exists.
  std::unique_ptr<admin::AdminServer> admin_;
};

}  // namespace towerstream::trainer
