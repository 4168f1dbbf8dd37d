// A trainer as one rank of a data-parallel group: rounds, lockstep steps, group snapshots.
//
// Each rank reads its share of the hm.examples partitions and trains with
// TrainingSession::TrainBatch over the round's collectives (model::TwoTowerModel::TrainInGroup).
// Every step starts with a small all-gather of each rank's batch size and wishes (a snapshot, to
// stop), so that all ranks snapshot or stop at the same step. A snapshot is written by rank 0
// into its store, each rank adding its customer shard to the folder being written; it becomes
// LATEST only once every shard is in. When a collective fails (a rank died or hung) the round is
// over: every surviving rank drops its session and partial work, joins the next round, and
// resumes from the snapshot rank 0 resumes, the last complete one; exactly once holds because a
// snapshot's offsets and its state move together.
#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "common/kafka/errors.h"
#include "common/trainer/trainer_impl.h"

namespace towerstream::trainer {
namespace {

// The control exchange of a step: [examples brought, wants a snapshot, wants to stop].
constexpr int64_t kControlFields = 3;

// A rank's answer in the snapshot exchange, and rank 0's verdict.
constexpr std::string_view kOk = "ok";
constexpr std::string_view kCommitted = "committed:";
constexpr std::string_view kFailed = "failed:";

}  // namespace

Status Trainer::Impl::RunGroup(std::stop_token stop) {
  int partitions = 0;
  TS_RETURN_IF_ERROR(WaitForTopic(stop, &partitions));
  if (stop.stop_requested()) return Status::Ok();
  if (partitions < world_size()) {
    Log("warning: %s has %d partitions for %d ranks: ranks %d and above read nothing and step "
        "with empty batches",
        topics_.examples.c_str(), partitions, world_size(), partitions);
  }
  while (!stop.stop_requested()) {
    Publish("joining the group");
    Log("rank %d of %d: joining the group (rendezvous %s)", rank(), world_size(),
        options_.parallel.rendezvous.c_str());
    Result<std::unique_ptr<distributed::GroupRound>> round = member_->JoinRound(stop);
    if (!round.ok()) {
      if (stop.stop_requested()) return Status::Ok();
      return round.status();
    }
    Log("rank %d of %d: round %d formed", rank(), world_size(), (*round)->round());
    const Status trained = RunRound(**round, stop, partitions);
    round_ = nullptr;
    if ((*round)->error().ok()) return trained;  // stopped, or failed for another reason
    // The group broke: what this rank trained since the last snapshot is dropped with its
    // session; the next round resumes from the last complete snapshot.
    ++group_breaks_;
    metrics_.group_breaks.Increment();
    Log("rank %d: the group broke (%s); rejoining to resume from the last complete snapshot",
        rank(), (*round)->error().message().c_str());
    AnswerSnapshotWaiters(Status::Unavailable("the trainer group broke before the snapshot"));
    session_.reset();
  }
  return Status::Ok();
}

Status Trainer::Impl::OpenRoundSession(distributed::GroupRound& round) {
  session_.reset();  // rank 0's store lock is released before the next session takes it
  SessionOptions options = options_.session;
  options.group_rank = rank();
  options.group_size = world_size();
  if (rank() > 0) {
    // Rank 0 writes the training log and the MLflow run for the group.
    options.log_every_steps = 0;
    options.mlflow = {};
  }
  std::string resumed;
  if (rank() == 0) {
    TS_ASSIGN_OR_RETURN(session_, TrainingSession::Open(options, &metrics_));
    if (const snapshot::Manifest* manifest = session_->resumed()) resumed = manifest->id;
  }
  TS_ASSIGN_OR_RETURN(const std::vector<std::string> ids, round.AllGatherBytes(resumed));
  resumed = ids[0];
  if (rank() > 0) {
    options.resume_from = resumed;
    TS_ASSIGN_OR_RETURN(session_, TrainingSession::Open(options, &metrics_));
  }
  trained_offsets_.clear();
  group_events_ = 0;
  if (const snapshot::Manifest* manifest = session_->resumed()) {
    group_events_ = manifest->events_trained;
    const auto it = manifest->offsets.find(topics_.examples);
    if (it != manifest->offsets.end()) trained_offsets_ = it->second;
    Log("rank %d: resuming from snapshot %s: step %lld, %lld examples trained by the group", rank(),
        manifest->id.c_str(), static_cast<long long>(manifest->step),
        static_cast<long long>(manifest->events_trained));
  }
  return Status::Ok();
}

Status Trainer::Impl::RunRound(distributed::GroupRound& round, std::stop_token stop,
                               int partitions) {
  round_ = &round;
  TS_RETURN_IF_ERROR(OpenRoundSession(round));
  // Everything of the previous round goes: the partial batch, what event-time order held, the
  // paused partitions; the consumer reads again from the snapshot's offsets.
  batch_.clear();
  ids_.clear();
  batch_open_ = false;
  if (!paused_.empty()) {
    // Paused for the previous round's event-time order, which is gone: librdkafka keeps a
    // partition paused across assignments.
    TS_RETURN_IF_ERROR(PausePartitions({paused_.begin(), paused_.end()}, /*pause=*/false));
    paused_.clear();
  }
  lag_.clear();
  consumed_event_day_ = session_->status().trained_event_day;
  TS_RETURN_IF_ERROR(Assign(partitions));
  // Keep only this rank's partitions: the others' offsets are theirs to record.
  std::erase_if(trained_offsets_,
                [&](const auto& entry) { return entry.first % world_size() != rank(); });
  pending_offsets_ = trained_offsets_;
  schedule_->Done(group_events_);
  next_snapshot_try_ = {};
  last_step_ = Clock::now();
  Publish(RunningState());
  Clock::time_point last_gauges = Clock::now();
  while (true) {
    const bool stop_requested = stop.stop_requested();
    const Clock::time_point opened =
        batch_open_ ? std::max(batch_started_, last_step_) : last_step_;
    const auto left = std::chrono::duration_cast<milliseconds>(options_.max_batch_delay -
                                                               (Clock::now() - opened));
    if (!stop_requested && static_cast<int64_t>(batch_.size()) < options_.batch_size &&
        left > milliseconds(0)) {
      TS_RETURN_IF_ERROR(ConsumeOne(std::clamp(left, milliseconds(0), kPollSlice)));
      TS_RETURN_IF_ERROR(TakeInOrder());
      if (Clock::now() - last_gauges >= kGaugeInterval) {
        last_gauges = Clock::now();
        producer_->Poll(milliseconds(0));
        UpdateLag();
        Publish(RunningState());
      }
      continue;
    }
    // Full, late, or stopping: this rank is ready for the next step.
    bool stop_group = false;
    TS_RETURN_IF_ERROR(GroupStep(round, stop_requested, &stop_group));
    if (stop_group) return Status::Ok();
    TS_RETURN_IF_ERROR(TakeInOrder());
  }
}

Status Trainer::Impl::GroupStep(distributed::GroupRound& round, bool stop_requested,
                                bool* stop_group) {
  const bool wants_snapshot = schedule_->Due(group_events_) && Clock::now() >= next_snapshot_try_;
  torch::Tensor control = torch::tensor(
      {static_cast<int64_t>(batch_.size()), int64_t{wants_snapshot}, int64_t{stop_requested}},
      torch::kLong);
  TS_ASSIGN_OR_RETURN(const std::vector<torch::Tensor> wishes, round.AllGather(control));
  bool snapshot = false;
  int stopping_rank = -1;
  for (size_t r = 0; r < wishes.size(); ++r) {
    const int64_t* wish = wishes[r].data_ptr<int64_t>();
    if (wishes[r].numel() != kControlFields) {
      return Status::Internal("rank " + std::to_string(r) + " sent a malformed step header");
    }
    group_events_ += wish[0];
    snapshot = snapshot || wish[1] != 0;
    if (wish[2] != 0 && stopping_rank < 0) stopping_rank = static_cast<int>(r);
  }
  const model::ExchangeStats before = round.stats();
  TS_RETURN_IF_ERROR(session_->TrainBatch(batch_, ids_, &round));
  const model::ExchangeStats after = round.stats();
  metrics_.collective_seconds.Increment(after.seconds - before.seconds);
  metrics_.collective_bytes_sent.Increment(
      static_cast<double>(after.bytes_sent - before.bytes_sent));
  metrics_.collective_bytes_received.Increment(
      static_cast<double>(after.bytes_received - before.bytes_received));
  trained_offsets_ = pending_offsets_;
  batch_.clear();
  ids_.clear();
  batch_open_ = false;
  last_step_ = Clock::now();
  Publish(RunningState());
  if (stopping_rank >= 0) {
    *stop_group = true;
    stopping_ = true;
    Publish("stopping");
    Log("rank %d stops: the group writes its final snapshot", stopping_rank);
  }
  if (snapshot || *stop_group) {
    TS_RETURN_IF_ERROR(FlushDeadLetters());
    const Status written = GroupSnapshot(round);
    if (!written.ok()) {
      // The collectives failed (the round is broken: the caller sees it), or the snapshot did:
      // retried later, as a single trainer does, unless stopping.
      if (!round.error().ok() || *stop_group) return written;
      Log("snapshot failed (next try in %lld s): %s",
          static_cast<long long>(snapshot_backoff_.count()), written.message().c_str());
      next_snapshot_try_ = Clock::now() + snapshot_backoff_;
      snapshot_backoff_ = std::min(2 * snapshot_backoff_, kMaxSnapshotBackoff);
    } else {
      snapshot_backoff_ = kFirstSnapshotBackoff;
    }
  }
  return Status::Ok();
}

Status Trainer::Impl::GroupSnapshot(distributed::GroupRound& round) {
  Offsets own;
  if (!trained_offsets_.empty()) own[topics_.examples] = trained_offsets_;
  TS_ASSIGN_OR_RETURN(const RankShare share, session_->Share(assigned_, own));
  TS_ASSIGN_OR_RETURN(const std::vector<std::string> shares_json,
                      round.AllGatherBytes(RankShareToJson(share).dump()));
  std::vector<RankShare> shares;
  Offsets offsets;
  for (const std::string& text : shares_json) {
    const nlohmann::json parsed = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    TS_ASSIGN_OR_RETURN(RankShare rank_share, RankShareFromJson(parsed));
    for (const auto& [topic, partitions] : rank_share.offsets) {
      offsets[topic].insert(partitions.begin(), partitions.end());
    }
    shares.push_back(std::move(rank_share));
  }

  // Rank 0 writes; when its own files are in, it tells the others where to add their shard,
  // and the snapshot is committed only if every shard was written. Every rank takes part in
  // the same three exchanges whatever happens, so that none waits for a message never sent.
  std::string verdict;
  if (rank() == 0) {
    bool shards_asked = false;
    const auto add_shards = [&](const std::filesystem::path& dir) -> Status {
      shards_asked = true;
      TS_RETURN_IF_ERROR(round.AllGatherBytes(dir.string()).status());
      TS_ASSIGN_OR_RETURN(const std::vector<std::string> results,
                          round.AllGatherBytes(std::string(kOk)));
      for (size_t r = 1; r < results.size(); ++r) {
        if (results[r] != kOk) {
          return Status::IoError("rank " + std::to_string(r) +
                                 " could not write its customer shard: " + results[r]);
        }
      }
      return Status::Ok();
    };
    Result<std::string> id = Status::FailedPrecondition("nothing trained yet: no snapshot written");
    if (group_events_ > 0) id = session_->SnapshotGroup(shares, add_shards);
    if (!round.error().ok()) return round.error();
    if (!shards_asked) {
      // Nothing new to write, or it failed before the shards: the others write nothing.
      TS_RETURN_IF_ERROR(round.AllGatherBytes("").status());
      TS_RETURN_IF_ERROR(round.AllGatherBytes(std::string(kOk)).status());
    }
    verdict =
        id.ok() ? std::string(kCommitted) + *id : std::string(kFailed) + id.status().message();
    TS_RETURN_IF_ERROR(round.AllGatherBytes(verdict).status());
  } else {
    TS_ASSIGN_OR_RETURN(const std::vector<std::string> dirs, round.AllGatherBytes(""));
    std::string result(kOk);
    if (!dirs[0].empty()) {
      const Status saved = session_->SaveShard(dirs[0]);
      if (!saved.ok()) result = saved.message();
    }
    TS_RETURN_IF_ERROR(round.AllGatherBytes(result).status());
    TS_ASSIGN_OR_RETURN(const std::vector<std::string> verdicts, round.AllGatherBytes(""));
    verdict = verdicts[0];
  }

  if (!verdict.starts_with(kCommitted)) {
    const std::string why = verdict.substr(std::min(verdict.size(), kFailed.size()));
    if (group_events_ == 0) {
      // As a single trainer: an untrained model is not worth a snapshot.
      std::vector<admin::Reply> waiters;
      {
        std::lock_guard lock(mu_);
        waiters.swap(snapshot_waiters_);
      }
      for (admin::Reply& reply : waiters) reply(admin::JsonError(409, why));
      schedule_->Done(0);
      return Status::Ok();
    }
    ++snapshot_failures_;
    metrics_.snapshot_failures.Increment();
    const Status failed = Status::IoError("group snapshot failed: " + why);
    AnswerSnapshotWaiters(failed);
    Publish(RunningState());
    return failed;
  }
  const std::string id = verdict.substr(kCommitted.size());
  if (rank() > 0) session_->SnapshotCommitted(id, offsets);
  schedule_->Done(group_events_);
  CommitToGroup();
  Log("snapshot %s of the group: step %lld, %lld examples trained (%lld by rank %d)", id.c_str(),
      static_cast<long long>(session_->status().step), static_cast<long long>(group_events_),
      static_cast<long long>(session_->events_trained()), rank());
  AnswerSnapshotWaiters(id);
  Publish(RunningState());
  return Status::Ok();
}

}  // namespace towerstream::trainer
