// A training session: the model, its snapshots, progressive validation and the bookkeeping that
// makes resume exact, shared by the Kafka trainer and the embedded `train`.
//
// Open() creates the model and the snapshot store and, when the store has a LATEST snapshot,
// resumes from it (its model_config must match the options). TrainBatch() scores a sample of
// the micro-batch before training on it, trains, and counts the examples and an
// order-independent digest of their event ids; Snapshot() writes everything, with the stream
// offsets the caller gives, as one durable snapshot. Not thread-safe: one thread drives it, the
// status() copy may be handed to others. Neither copyable nor movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/mlflow/run_logger.h"
#include "common/model/step_exchange.h"
#include "common/model/two_tower_model.h"
#include "common/ranking/ranker.h"
#include "common/snapshot/snapshot_store.h"
#include "common/trainer/trainer_metrics.h"

namespace towerstream::trainer {

struct SessionOptions {
  model::ModelOptions model;
  // Snapshot root (--snapshot-dir) and how many complete snapshots to keep (--keep).
  std::filesystem::path snapshot_dir;
  int keep = 3;
  // fsync snapshots (off only for tests and benchmarks that accept losing them on power loss).
  bool fsync = true;
  // Progressive validation: up to this many examples of a scored micro-batch are ranked
  // against the whole catalogue before the batch trains (0 turns it off).
  int64_t eval_queries = 256;
  // Which micro-batches are scored: the first, then the next one once eval_spacing x (catalogue
  // size) examples have trained since the last scored one. Scoring embeds the whole catalogue,
  // so spacing it by the catalogue's size keeps its cost per trained example the same at any
  // scale (about 4% of the training step with the default towers); 0 scores every batch.
  double eval_spacing = 4.0;
  // Scored queries over which progressive recall is reported (a sliding window).
  int64_t recall_window = 5'000;
  // Every this many steps a line goes to <snapshot_dir>/training_log.csv (time, step, examples
  // trained, loss, progressive recall, examples/s), which `evaluate --plot` charts; 0: none.
  // A resumed run appends to it.
  int64_t log_every_steps = 10;
  // MLflow tracking (--mlflow-uri; off when empty): a run with the model's and `run_params`,
  // the training log's values as metrics at the same cadence, and every snapshot's path as a
  // tag "snapshot.<id>". A session resumed from a snapshot continues the run it was logging
  // to (its id is kept in <snapshot_dir>/mlflow_run_id). MLflow being unreachable never stops
  // training.
  mlflow::TrackingOptions mlflow;
  // Run parameters beside the model options: the mode, batch size, data, ...
  std::map<std::string, std::string> run_params;
  // The session's place in a trainer group (docs/design.md, "Trainers as a group"): rank
  // group_rank of group_size. Rank 0 owns the snapshot store, writes the group's snapshots,
  // the training log and the MLflow run; the other ranks add their customer shard to its
  // snapshots and resume from `resume_from`, the snapshot rank 0 resumed from (empty: afresh).
  int group_rank = 0;
  int group_size = 1;
  std::string resume_from;

  Status Validate() const;
};

// Wall time spent in each part of TrainBatch and Snapshot since the session opened.
struct SessionTimes {
  double validation_seconds = 0;  // progressive validation (scored batches only)
  double training_seconds = 0;    // the model's training steps
  double snapshot_seconds = 0;    // writing snapshots
  int64_t scored_batches = 0;     // micro-batches that progressive validation scored
};

// Where the session stands, for /status, progress bars and snapshots' metrics.
struct SessionStatus {
  int64_t step = 0;
  int64_t events_trained = 0;
  double loss = 0;  // exponential moving average over recent batches
  double last_batch_loss = 0;
  double recall_at_12 = 0;  // over the recall window
  double recall_at_100 = 0;
  int64_t recall_queries = 0;  // queries in the window
  double examples_per_second = 0;
  std::string last_snapshot_id;
  std::chrono::system_clock::time_point last_snapshot_time{};
  std::string resumed_from;  // the snapshot this session started from, if any
  // Snapshots newer than resumed_from that the session passed over, each with why (damaged,
  // or LATEST missing): a resume that fell back. Empty when it resumed from LATEST.
  std::vector<std::pair<std::string, std::string>> resume_skipped;
  model::ModelStats model;
  SessionTimes times;
  // The event time (t_dat) of the newest example trained, carried over from the snapshot
  // resumed; nullopt before the first (and after resuming a snapshot of a build without it).
  std::optional<Date> trained_event_day;
};

// The manifest's `metrics` keys of SessionStatus::trained_event_day: the day (YYYY-MM-DD) and
// its midnight in Unix seconds. Manifests without them (earlier builds) still resume.
inline constexpr std::string_view kTrainedEventDateKey = "trained_event_date";
inline constexpr std::string_view kTrainedEventTimeKey = "trained_event_time_unix_seconds";

// Stream positions: topic -> partition -> next offset to read.
using Offsets = std::map<std::string, std::map<int32_t, int64_t>>;

// One rank's part of a group snapshot: what it trained and where its partitions stand.
struct RankShare {
  int rank = 0;
  std::vector<int32_t> partitions;  // of hm.examples, read by this rank
  Offsets offsets;
  int64_t events_trained = 0;
  std::string trained_digest;  // 16 hex digits, as trained_digest()
  std::optional<Date> trained_event_day;
  // XXH3-64 of the replicated state (model::TwoTowerModel::WriteReplicatedState): equal on
  // every rank of a healthy group; a snapshot where they differ is refused.
  std::string replicated_state;
};
nlohmann::json RankShareToJson(const RankShare& share);
Result<RankShare> RankShareFromJson(const nlohmann::json& json);

class TrainingSession {
 public:
  // `metrics` may be null (no Prometheus); it must outlive the session.
  static Result<std::unique_ptr<TrainingSession>> Open(const SessionOptions& options,
                                                       TrainerMetrics* metrics);
  TrainingSession(const TrainingSession&) = delete;
  TrainingSession& operator=(const TrainingSession&) = delete;

  // Scores up to eval_queries examples of `batch` when progressive validation is due (see
  // eval_spacing), then trains on the whole batch. `event_ids[i]` identifies batch[i] for the
  // trained digest.
  // In a group (`group` not null) every rank calls it at every step, with its own micro-batch,
  // which may be empty (model::TwoTowerModel::TrainInGroup); progressive validation then ranks
  // only articles the replicated catalogue holds.
  Status TrainBatch(std::span<const model::Example> batch, std::span<const std::string> event_ids,
                    model::StepExchange* group = nullptr);

  // Writes a durable snapshot at the current state with `offsets`; returns its id. When nothing
  // was trained since the last snapshot (and offsets are unchanged), returns that one's id.
  Result<std::string> Snapshot(const Offsets& offsets);

  // Rank 0 of a group: writes the group's snapshot from every rank's share (its events and
  // digest are their totals, its offsets their union, its `group` section each share), its own
  // files first, then calls `add_shards` with the folder being written so that the other ranks
  // add their customer shards; the snapshot becomes visible (LATEST) only if that succeeds.
  // Returns the last id, writing nothing, when no rank trained since the last snapshot.
  Result<std::string> SnapshotGroup(
      const std::vector<RankShare>& shares,
      const std::function<Status(const std::filesystem::path& dir)>& add_shards);
  // The other ranks: this rank's customer shard into rank 0's folder being written, and, once
  // rank 0 committed it, the snapshot's id and offsets.
  Status SaveShard(const std::filesystem::path& dir);
  void SnapshotCommitted(const std::string& id, const Offsets& offsets);
  // This rank's share of a group snapshot.
  Result<RankShare> Share(std::vector<int32_t> partitions, Offsets offsets) const;

  // The ranker that later snapshots carry (ranker.json), replacing the one resumed with, if
  // any. The next Snapshot() is written even if nothing trained since the last.
  void SetRanker(ranking::Ranker ranker);
  // The ranker snapshots carry: fitted by this run, or resumed with; nullopt if neither.
  const std::optional<ranking::Ranker>& ranker() const { return ranker_; }

  // The manifest this session resumed from (offsets to seek to), or null for a fresh start.
  const snapshot::Manifest* resumed() const { return resumed_ ? &*resumed_ : nullptr; }
  SessionStatus status() const;
  model::TwoTowerModel& model() { return *model_; }
  // The order-independent digest of every event id trained on (16 hex digits): equal digests
  // and counts mean the same multiset of events, so training one twice changes it.
  std::string trained_digest() const;
  int64_t events_trained() const { return events_trained_; }
  bool dirty() const { return events_trained_ != snapshot_events_; }

  // Ends the MLflow run (if tracking) with `status`: FINISHED for a clean stop, KILLED for an
  // interrupted job. A session destroyed without it ended through an error: FAILED.
  void EndTracking(mlflow::RunStatus status);
  ~TrainingSession();

 private:
  TrainingSession(const SessionOptions& options, TrainerMetrics* metrics);
  Status Init();
  // Loads snapshot `id` of the store into the session (model, ranker, counts, digest).
  // FailedPrecondition when it was trained with other model options or is of a format this
  // build does not read (the user's call, not damage); other errors mean it is damaged. On an
  // error the session is as before (a fresh model).
  Status ResumeFrom(const std::string& id);
  // Writes a snapshot with these totals (and `group`, null for a single trainer); then
  // `add_shards`, if any, adds files to its folder.
  Result<std::string> WriteSnapshot(
      const Offsets& offsets, int64_t events_trained, uint64_t digest,
      std::optional<Date> trained_event_day, nlohmann::json group,
      const std::function<Status(const std::filesystem::path& dir)>& add_shards);
  // Where snapshot `id` is: in the store, or for ranks without one, under snapshot_dir.
  std::filesystem::path SnapshotPath(const std::string& id) const;
  // Queues the status's values for MLflow at its step.
  void LogToTracking(const SessionStatus& s);

  SessionOptions options_;
  TrainerMetrics* metrics_;
  std::unique_ptr<model::TwoTowerModel> model_;
  std::optional<ranking::Ranker> ranker_;
  bool ranker_changed_ = false;
  std::unique_ptr<snapshot::SnapshotStore> store_;
  std::optional<snapshot::Manifest> resumed_;
  std::vector<std::pair<std::string, std::string>> resume_skipped_;

  int64_t events_trained_ = 0;
  std::optional<Date> trained_event_day_;
  uint64_t digest_ = 0;
  double loss_ema_ = 0;
  bool have_loss_ = false;
  double last_loss_ = 0;
  // Progressive validation per batch, oldest first, summing to the window's counts.
  std::deque<model::ProgressiveCounts> window_;
  model::ProgressiveCounts window_sum_;
  // Examples trained since the last scored batch; -1 before the first (which is scored).
  int64_t examples_since_scored_ = -1;
  SessionTimes times_;
  // (time, events_trained) samples of the last few seconds, for examples per second.
  std::deque<std::pair<std::chrono::steady_clock::time_point, int64_t>> rate_samples_;
  double rate_ = 0;
  std::string last_snapshot_id_;
  std::chrono::system_clock::time_point last_snapshot_time_{};
  int64_t snapshot_events_ = -1;
  // A group's events at its last snapshot (rank 0): all ranks', not only this one's.
  int64_t group_snapshot_events_ = -1;
  Offsets snapshot_offsets_;
  std::ofstream training_log_;
  std::unique_ptr<mlflow::RunLogger> mlflow_;

  // The MLflow run's id for a manifest; see the definition for when it waits.
  std::string AwaitMlflowRunId() const;
};

// The training log's file name in the snapshot folder.
inline constexpr std::string_view kTrainingLogFile = "training_log.csv";
// The MLflow run id's file in the snapshot folder.
inline constexpr std::string_view kMlflowRunIdFile = "mlflow_run_id";

}  // namespace towerstream::trainer
