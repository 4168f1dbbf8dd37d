// TrainingSession: progressive validation, training, counting, snapshots and resume.
#include "common/trainer/training_session.h"

#include <xxhash.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <thread>

#include "common/base/progress.h"
#include "common/mlflow/param_format.h"
#include "common/trainer/model_config.h"

namespace towerstream::trainer {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Throughput is reported over this much recent time.
constexpr std::chrono::seconds kRateWindow{10};
// Weight of the newest batch in the reported loss.
constexpr double kLossSmoothing = 0.05;

std::string Hex16(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(v));
  return text;
}

// MLflow params from the model's configuration: "model.<field>" = its JSON value (strings
// without quotes, nested objects flattened with dots).
void AddModelParams(const nlohmann::json& config, const std::string& prefix,
                    std::map<std::string, std::string>& params) {
  for (const auto& [key, value] : config.items()) {
    if (value.is_object()) {
      AddModelParams(value, prefix + key + ".", params);
    } else {
      // Floats went into the JSON as doubles: shown as the float (0.05, not
      // 0.05000000074505806).
      params[prefix + key] = value.is_string() ? value.get<std::string>()
                             : value.is_number_float()
                                 ? mlflow::FormatJsonNumberParam(value.get<double>())
                                 : value.dump();
    }
  }
}

// Lines about MLflow, from its worker thread, possibly while the progress bar draws.
void SayAboutTracking(const std::string& line) {
  PrintLineOverProgress(stderr, "towerstream: " + line);
}

// The newest trained day a manifest's metrics record; nullopt when they hold none (a snapshot
// of an earlier build) or an unreadable one: it is informational, never a reason to refuse a
// snapshot that verified.
std::optional<Date> TrainedEventDayIn(const nlohmann::json& metrics) {
  const auto it = metrics.find(std::string(kTrainedEventDateKey));
  if (it == metrics.end() || !it->is_string()) return std::nullopt;
  Result<Date> day = Date::Parse(it->get<std::string>());
  if (!day.ok()) return std::nullopt;
  return *day;
}

}  // namespace

Status SessionOptions::Validate() const {
  TS_RETURN_IF_ERROR(model.Validate());
  if (snapshot_dir.empty()) return Status::InvalidArgument("trainer: --snapshot-dir is required");
  if (keep < 1) {
    return Status::InvalidArgument("trainer: --keep must be at least 1, got " +
                                   std::to_string(keep));
  }
  if (eval_queries < 0 || !(eval_spacing >= 0) || !std::isfinite(eval_spacing) ||
      recall_window < 1 || log_every_steps < 0) {
    return Status::InvalidArgument(
        "trainer: eval queries, eval spacing and log interval must be >= 0, recall window >= 1");
  }
  if (group_size < 1 || group_rank < 0 || group_rank >= group_size) {
    return Status::InvalidArgument("trainer: rank " + std::to_string(group_rank) +
                                   " is not within a group of " + std::to_string(group_size));
  }
  TS_RETURN_IF_ERROR(mlflow.Validate());
  if (mlflow.enabled() && log_every_steps == 0) {
    return Status::InvalidArgument(
        "trainer: --mlflow-uri needs a training log interval above 0 (its metrics go at that "
        "cadence)");
  }
  return Status::Ok();
}

TrainingSession::TrainingSession(const SessionOptions& options, TrainerMetrics* metrics)
    : options_(options), metrics_(metrics) {}

Result<std::unique_ptr<TrainingSession>> TrainingSession::Open(const SessionOptions& options,
                                                               TrainerMetrics* metrics) {
  TS_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<TrainingSession> session(new TrainingSession(options, metrics));
  TS_RETURN_IF_ERROR(session->Init());
  return session;
}

std::filesystem::path TrainingSession::SnapshotPath(const std::string& id) const {
  return store_ ? store_->PathOf(id) : options_.snapshot_dir / id;
}

Status TrainingSession::ResumeFrom(const std::string& id) {
  const std::filesystem::path dir = SnapshotPath(id);
  TS_ASSIGN_OR_RETURN(snapshot::Manifest manifest, snapshot::ReadManifest(dir));
  TS_RETURN_IF_ERROR(snapshot::VerifySnapshot(dir));
  Result<model::ModelOptions> saved =
      ModelConfigFromJson(manifest.model_config, options_.model.device);
  if (!saved.ok()) return saved.status().WithContext(dir.string());
  const std::string differences = ModelConfigDifferences(*saved, options_.model);
  if (!differences.empty()) {
    return Status::FailedPrecondition(
        "the snapshot " + dir.string() + " was trained with other model options (" + differences +
        "): resume with the options it was trained with, or start afresh in "
        "another --snapshot-dir");
  }
  // A group's snapshot resumes in a group of its size (each rank its own customer shard), or
  // in a single trainer, which merges the shards.
  const int written_by = manifest.group.is_object() ? manifest.group.value("size", 1) : 1;
  if (options_.group_size > 1 && written_by != options_.group_size) {
    return Status::FailedPrecondition(
        "the snapshot " + dir.string() + " was written by " +
        (written_by == 1 ? std::string("a single trainer")
                         : "a group of " + std::to_string(written_by) + " trainers") +
        ", this group has " + std::to_string(options_.group_size) +
        ": resume it with --world-size " + std::to_string(written_by) +
        ", or start afresh in another --snapshot-dir");
  }
  int64_t events_trained = manifest.events_trained;
  std::string d = manifest.trained_digest;
  if (options_.group_size > 1) {
    // This rank's own counts: the group's next snapshot adds them up again.
    const nlohmann::json& ranks = manifest.group["ranks"];
    Result<RankShare> own = Status::Corruption(dir.string() + ": no share of rank " +
                                               std::to_string(options_.group_rank));
    if (ranks.is_array() && ranks.size() > static_cast<size_t>(options_.group_rank)) {
      own = RankShareFromJson(ranks[static_cast<size_t>(options_.group_rank)]);
    }
    if (!own.ok()) return own.status().WithContext(dir.string());
    events_trained = own->events_trained;
    d = own->trained_digest;
  }
  uint64_t digest = 0;
  if (std::from_chars(d.data(), d.data() + d.size(), digest, 16).ec != std::errc()) {
    return Status::Corruption(dir.string() + ": trained_digest '" + d + "' is not hex");
  }
  // Loading may fail half way: on any error below, the session goes on with a fresh model.
  const auto fresh_model = [this](const Status& error) -> Status {
    Result<std::unique_ptr<model::TwoTowerModel>> fresh =
        model::TwoTowerModel::Create(options_.model);
    if (!fresh.ok()) return fresh.status();
    model_ = std::move(fresh).value();
    model_->SetCustomerShard(options_.group_rank, options_.group_size);
    return error;
  };
  if (const Status loaded = model_->Load(dir); !loaded.ok()) {
    return fresh_model(loaded.WithContext("resuming from " + dir.string()));
  }
  Result<std::optional<ranking::Ranker>> ranker = ranking::Ranker::Load(dir);
  if (!ranker.ok()) return fresh_model(ranker.status());
  if (model_->step() != manifest.step) {
    return fresh_model(
        Status::Corruption(dir.string() + ": manifest step " + std::to_string(manifest.step) +
                           " but the model state is at step " + std::to_string(model_->step())));
  }
  ranker_ = std::move(ranker).value();
  events_trained_ = events_trained;
  group_snapshot_events_ = manifest.events_trained;
  trained_event_day_ = TrainedEventDayIn(manifest.metrics);
  digest_ = digest;
  last_snapshot_id_ = manifest.id;
  last_snapshot_time_ =
      std::chrono::system_clock::time_point(std::chrono::milliseconds(manifest.created_unix_ms));
  snapshot_events_ = events_trained_;
  snapshot_offsets_ = manifest.offsets;
  resumed_ = std::move(manifest);
  return Status::Ok();
}

Status TrainingSession::Init() {
  TS_ASSIGN_OR_RETURN(model_, model::TwoTowerModel::Create(options_.model));
  model_->SetCustomerShard(options_.group_rank, options_.group_size);
  if (options_.group_rank > 0) {
    // Rank 0 owns the store (and its lock), the training log and the MLflow run.
    if (!options_.resume_from.empty()) {
      TS_RETURN_IF_ERROR(ResumeFrom(options_.resume_from));
    }
    if (metrics_ != nullptr) {
      metrics_->StartFrom(model_->stats());
      if (trained_event_day_) metrics_->SetTrainedEventTime(*trained_event_day_);
    }
    return Status::Ok();
  }
  snapshot::SnapshotStoreOptions store;
  store.dir = options_.snapshot_dir;
  store.keep = options_.keep;
  store.fsync = options_.fsync;
  TS_ASSIGN_OR_RETURN(store_, snapshot::SnapshotStore::Open(store));
  // Resume from LATEST; when it is missing or names a damaged snapshot, from the newest
  // snapshot that verifies, loudly. Starting afresh beside good snapshots would let retention
  // delete them, and refusing to start over one damaged file would stop a trainer that has a
  // good snapshot to go on from.
  std::vector<std::string> candidates;
  const Result<std::optional<std::string>> latest = store_->Latest();
  if (latest.ok() && latest->has_value()) {
    candidates.push_back(**latest);
  }
  const std::vector<std::string> listed = store_->List();
  for (auto it = listed.rbegin(); it != listed.rend(); ++it) {
    if (std::find(candidates.begin(), candidates.end(), *it) == candidates.end()) {
      candidates.push_back(*it);
    }
  }
  if (!latest.ok() && listed.empty()) {
    // LATEST is there, so this folder once held training: starting afresh would quietly throw
    // it away and replace LATEST.
    return Status::Corruption(latest.status().message() + ", and no other snapshot is in " +
                              options_.snapshot_dir.string() +
                              ": restore that snapshot, or remove LATEST (or move the folder "
                              "aside) to start afresh");
  }
  if (!listed.empty() && !(latest.ok() && latest->has_value())) {
    resume_skipped_.emplace_back(std::string(snapshot::kLatestFileName),
                                 latest.ok() ? "missing" : latest.status().message());
  }
  for (const std::string& id : candidates) {
    const Status resumed = ResumeFrom(id);
    if (resumed.ok()) break;
    if (resumed.code() == StatusCode::kFailedPrecondition) return resumed;
    resume_skipped_.emplace_back(id, resumed.message());
    store_->Protect(id);
  }
  if (!candidates.empty() && !resumed_.has_value()) {
    std::string reasons;
    for (const auto& [id, why] : resume_skipped_) reasons += "\n  " + id + ": " + why;
    return Status::Corruption("no snapshot in " + options_.snapshot_dir.string() +
                              " verifies, so none can be resumed; move the folder aside to start "
                              "afresh, or restore a snapshot:" +
                              reasons);
  }
  if (resumed_.has_value() && !resume_skipped_.empty()) {
    for (const auto& [id, why] : resume_skipped_) {
      std::fprintf(stderr, "towerstream: warning: skipped %s in %s: %s\n", id.c_str(),
                   options_.snapshot_dir.string().c_str(), why.c_str());
    }
    std::fprintf(stderr,
                 "towerstream: warning: resumed from the older snapshot %s (step %lld); the "
                 "skipped ones are kept, retention never deletes them\n",
                 resumed_->id.c_str(), static_cast<long long>(resumed_->step));
  }
  if (metrics_ != nullptr) {
    metrics_->StartFrom(model_->stats());
    if (trained_event_day_) metrics_->SetTrainedEventTime(*trained_event_day_);
    metrics_->snapshots_skipped_on_resume.Set(static_cast<double>(resume_skipped_.size()));
  }
  if (options_.log_every_steps > 0) {
    const std::filesystem::path log = options_.snapshot_dir / kTrainingLogFile;
    const bool fresh = !std::filesystem::exists(log);
    training_log_.open(log, std::ios::app);
    if (!training_log_) return Status::IoError("cannot open " + log.string() + " for appending");
    if (fresh) {
      training_log_ << "unix_time,step,events_trained,loss,recall_at_12,recall_at_100,"
                       "examples_per_second\n";
    }
  }
  if (options_.mlflow.enabled()) {
    mlflow::RunSetup setup;
    AddModelParams(ModelConfigToJson(options_.model), "model.", setup.params);
    setup.params["device"] = options_.model.device.str();
    setup.params["eval_queries"] = std::to_string(options_.eval_queries);
    setup.params["eval_spacing"] = mlflow::FormatParam(options_.eval_spacing);
    setup.params["recall_window"] = std::to_string(options_.recall_window);
    for (const auto& [key, value] : options_.run_params) setup.params[key] = value;
    setup.tags["mlflow.source.name"] = "towerstream";
    setup.tags["snapshot_dir"] = std::filesystem::absolute(options_.snapshot_dir).string();
    if (resumed_.has_value()) setup.tags["resumed_from"] = resumed_->id;
    setup.run_id_file = options_.snapshot_dir / kMlflowRunIdFile;
    setup.continue_run = resumed_.has_value();
    TS_ASSIGN_OR_RETURN(
        mlflow_, mlflow::RunLogger::Start(options_.mlflow, std::move(setup), SayAboutTracking));
  }
  return Status::Ok();
}

TrainingSession::~TrainingSession() { EndTracking(mlflow::RunStatus::kFailed); }

void TrainingSession::EndTracking(mlflow::RunStatus end) {
  if (mlflow_ == nullptr) return;
  // The last values, unless the last step already logged them.
  if (model_->step() > 0 && model_->step() % options_.log_every_steps != 0) {
    LogToTracking(status());
  }
  // The last snapshot's manifest, so that the run says what it produced (the snapshot itself
  // stays on disk: `evaluate --mlflow-log-snapshot` uploads it).
  if (!last_snapshot_id_.empty()) {
    mlflow_->LogArtifact(
        "snapshot/" + last_snapshot_id_ + "/" + std::string(snapshot::kManifestFileName),
        SnapshotPath(last_snapshot_id_) / snapshot::kManifestFileName);
  }
  mlflow_->Finish(end);
  mlflow_.reset();
}

void TrainingSession::LogToTracking(const SessionStatus& s) {
  if (mlflow_ == nullptr) return;
  mlflow_->LogMetrics(s.step,
                      {{"loss", s.loss},
                       {"batch_loss", s.last_batch_loss},
                       {"progressive_recall_at_12", s.recall_at_12},
                       {"progressive_recall_at_100", s.recall_at_100},
                       {"examples_per_second", s.examples_per_second},
                       {"events_trained", static_cast<double>(s.events_trained)},
                       {"catalogue", static_cast<double>(s.model.catalogue)},
                       {"customer_rows", static_cast<double>(s.model.customers.rows_in_use)},
                       {"article_rows", static_cast<double>(s.model.articles.rows_in_use)}});
}

Status TrainingSession::TrainBatch(std::span<const model::Example> batch,
                                   std::span<const std::string> event_ids,
                                   model::StepExchange* group) {
  if (batch.size() != event_ids.size()) {
    return Status::InvalidArgument("trainer: one event id per example needed");
  }
  if (batch.empty() && group == nullptr) return Status::Ok();
  const auto started = SteadyClock::now();
  const auto catalogue = static_cast<double>(model_->catalogue().size());
  if (options_.eval_queries > 0 && !batch.empty() &&
      (examples_since_scored_ < 0 ||
       static_cast<double>(examples_since_scored_) >= options_.eval_spacing * catalogue)) {
    const size_t n = std::min(batch.size(), static_cast<size_t>(options_.eval_queries));
    TS_ASSIGN_OR_RETURN(const model::ProgressiveCounts counts,
                        model_->Evaluate(batch.first(n), /*add_articles=*/group == nullptr));
    examples_since_scored_ = 0;
    ++times_.scored_batches;
    window_.push_back(counts);
    window_sum_.queries += counts.queries;
    window_sum_.hits_at_12 += counts.hits_at_12;
    window_sum_.hits_at_100 += counts.hits_at_100;
    while (window_.size() > 1 &&
           window_sum_.queries - window_.front().queries >= options_.recall_window) {
      window_sum_.queries -= window_.front().queries;
      window_sum_.hits_at_12 -= window_.front().hits_at_12;
      window_sum_.hits_at_100 -= window_.front().hits_at_100;
      window_.pop_front();
    }
  }
  const auto trained_from = SteadyClock::now();
  times_.validation_seconds += std::chrono::duration<double>(trained_from - started).count();
  TS_ASSIGN_OR_RETURN(const model::StepStats step, group != nullptr
                                                       ? model_->TrainInGroup(batch, *group)
                                                       : model_->Train(batch));
  times_.training_seconds +=
      std::chrono::duration<double>(SteadyClock::now() - trained_from).count();
  if (step.group_examples == 0) return Status::Ok();  // no rank of the group had an example
  // In a group, the loss is the group's: news even for a rank that sat the step out.
  last_loss_ = step.loss;
  loss_ema_ =
      have_loss_ ? (1 - kLossSmoothing) * loss_ema_ + kLossSmoothing * step.loss : step.loss;
  have_loss_ = true;
  if (metrics_ != nullptr) {
    metrics_->training_steps.Increment();
    metrics_->loss.Set(step.loss);
  }
  if (batch.empty()) return Status::Ok();
  if (examples_since_scored_ >= 0) examples_since_scored_ += static_cast<int64_t>(batch.size());
  events_trained_ += static_cast<int64_t>(batch.size());
  for (const std::string& id : event_ids) digest_ += XXH3_64bits(id.data(), id.size());
  // The newest, not the latest: arrival order (--order-wait-ms 0) may train an older day after
  // a newer one, and the model has seen the newer one all the same.
  const int32_t newest = std::max_element(batch.begin(), batch.end(),
                                          [](const model::Example& a, const model::Example& b) {
                                            return a.day < b.day;
                                          })
                             ->day;
  if (!trained_event_day_ || newest > trained_event_day_->days_since_epoch()) {
    trained_event_day_ = Date(newest);
  }

  const auto now = SteadyClock::now();
  rate_samples_.emplace_back(now, events_trained_);
  while (rate_samples_.size() > 2 && now - rate_samples_[1].first >= kRateWindow) {
    rate_samples_.pop_front();
  }
  const double span = std::chrono::duration<double>(now - rate_samples_.front().first).count();
  if (rate_samples_.size() >= 2 && span > 0) {
    rate_ = static_cast<double>(events_trained_ - rate_samples_.front().second) / span;
  }
  if (metrics_ != nullptr) {
    metrics_->examples_trained.Increment(static_cast<double>(batch.size()));
    metrics_->mean_log_q.Set(step.mean_log_q);
    metrics_->examples_per_second.Set(rate_);
    metrics_->batch_latency.Observe(std::chrono::duration<double>(now - started).count());
    if (window_sum_.queries > 0) {
      const SessionStatus s = status();
      metrics_->recall_at_12.Set(s.recall_at_12);
      metrics_->recall_at_100.Set(s.recall_at_100);
    }
    metrics_->UpdateModel(model_->stats());
    metrics_->SetTrainedEventTime(*trained_event_day_);
  }
  if (training_log_.is_open() && model_->step() % options_.log_every_steps == 0) {
    const SessionStatus s = status();
    char line[256];
    std::snprintf(
        line, sizeof(line), "%.3f,%lld,%lld,%.6f,%.6f,%.6f,%.1f\n",
        std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count(),
        static_cast<long long>(s.step), static_cast<long long>(s.events_trained), s.loss,
        s.recall_at_12, s.recall_at_100, s.examples_per_second);
    training_log_ << line << std::flush;
    LogToTracking(s);
  }
  return Status::Ok();
}

void TrainingSession::SetRanker(ranking::Ranker ranker) {
  ranker_ = std::move(ranker);
  ranker_changed_ = true;
}

std::string TrainingSession::AwaitMlflowRunId() const {
  // The logger creates the run on its own thread as training starts. A snapshot taken before
  // that first request is answered (a short run on a busy machine) waits for it, up to 10 s, so
  // that its manifest names the run; once MLflow has answered or failed it never waits.
  constexpr auto kLongest = std::chrono::seconds(10);
  const auto deadline = std::chrono::steady_clock::now() + kLongest;
  mlflow::RunLoggerStats stats = mlflow_->stats();
  while (stats.run_id.empty() && !stats.connected && stats.last_error.empty() &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    stats = mlflow_->stats();
  }
  return stats.run_id;
}

Result<std::string> TrainingSession::Snapshot(const Offsets& offsets) {
  if (!dirty() && !ranker_changed_ && offsets == snapshot_offsets_ && !last_snapshot_id_.empty()) {
    return last_snapshot_id_;
  }
  TS_ASSIGN_OR_RETURN(std::string id, WriteSnapshot(offsets, events_trained_, digest_,
                                                    trained_event_day_, nullptr, nullptr));
  snapshot_events_ = events_trained_;
  return id;
}

Result<std::string> TrainingSession::SnapshotGroup(
    const std::vector<RankShare>& shares,
    const std::function<Status(const std::filesystem::path& dir)>& add_shards) {
  Offsets offsets;
  int64_t events = 0;
  uint64_t digest = 0;
  std::optional<Date> newest;
  nlohmann::json ranks = nlohmann::json::array();
  for (const RankShare& share : shares) {
    if (share.replicated_state != shares.front().replicated_state) {
      // Never expected: the replicas are updated with the same bytes in the same order. A
      // snapshot of diverged replicas would resume as something no rank trained.
      return Status::Internal("the group's replicas diverged: rank " + std::to_string(share.rank) +
                              "'s replicated state hashes to " + share.replicated_state +
                              ", rank " + std::to_string(shares.front().rank) + "'s to " +
                              shares.front().replicated_state + "; no snapshot written");
    }
    for (const auto& [topic, partitions] : share.offsets) {
      offsets[topic].insert(partitions.begin(), partitions.end());
    }
    events += share.events_trained;
    uint64_t part = 0;
    const std::string& d = share.trained_digest;
    if (std::from_chars(d.data(), d.data() + d.size(), part, 16).ec != std::errc()) {
      return Status::Internal("rank " + std::to_string(share.rank) + " sent the digest '" + d +
                              "'");
    }
    digest += part;  // a sum, as each rank's: the group's is the digest of all their events
    if (share.trained_event_day && (!newest || *share.trained_event_day > *newest)) {
      newest = share.trained_event_day;
    }
    ranks.push_back(RankShareToJson(share));
  }
  if (events == group_snapshot_events_ && !ranker_changed_ && offsets == snapshot_offsets_ &&
      !last_snapshot_id_.empty()) {
    return last_snapshot_id_;
  }
  const nlohmann::json group = {{"size", options_.group_size}, {"ranks", std::move(ranks)}};
  TS_ASSIGN_OR_RETURN(std::string id,
                      WriteSnapshot(offsets, events, digest, newest, group, add_shards));
  snapshot_events_ = events_trained_;
  group_snapshot_events_ = events;
  return id;
}

Status TrainingSession::SaveShard(const std::filesystem::path& dir) {
  return model_->SaveCustomerShard(dir).status();
}

void TrainingSession::SnapshotCommitted(const std::string& id, const Offsets& offsets) {
  last_snapshot_id_ = id;
  last_snapshot_time_ = std::chrono::system_clock::now();
  snapshot_events_ = events_trained_;
  snapshot_offsets_ = offsets;
  if (metrics_ != nullptr) {
    metrics_->snapshots.Increment();
    metrics_->snapshot_last_success.Set(
        std::chrono::duration<double>(last_snapshot_time_.time_since_epoch()).count());
  }
}

Result<RankShare> TrainingSession::Share(std::vector<int32_t> partitions, Offsets offsets) const {
  std::ostringstream replicated(std::ios::binary);
  TS_RETURN_IF_ERROR(model_->WriteReplicatedState(replicated));
  const std::string bytes = std::move(replicated).str();
  RankShare share;
  share.replicated_state = Hex16(XXH3_64bits(bytes.data(), bytes.size()));
  share.rank = options_.group_rank;
  share.partitions = std::move(partitions);
  share.offsets = std::move(offsets);
  share.events_trained = events_trained_;
  share.trained_digest = trained_digest();
  share.trained_event_day = trained_event_day_;
  return share;
}

nlohmann::json RankShareToJson(const RankShare& share) {
  nlohmann::json offsets = nlohmann::json::object();
  for (const auto& [topic, partitions] : share.offsets) {
    for (const auto& [partition, offset] : partitions) {
      offsets[topic][std::to_string(partition)] = offset;
    }
  }
  nlohmann::json out = {{"rank", share.rank},
                        {"partitions", share.partitions},
                        {"offsets", offsets},
                        {"events_trained", share.events_trained},
                        {"trained_digest", share.trained_digest},
                        {"replicated_state_xxh3_64", share.replicated_state}};
  if (share.trained_event_day) out["trained_event_date"] = share.trained_event_day->ToString();
  return out;
}

Result<RankShare> RankShareFromJson(const nlohmann::json& json) {
  try {
    RankShare share;
    share.rank = json.at("rank").get<int>();
    share.partitions = json.at("partitions").get<std::vector<int32_t>>();
    for (const auto& [topic, partitions] : json.at("offsets").items()) {
      for (const auto& [partition, offset] : partitions.items()) {
        share.offsets[topic][std::stoi(partition)] = offset.get<int64_t>();
      }
    }
    share.events_trained = json.at("events_trained").get<int64_t>();
    share.trained_digest = json.at("trained_digest").get<std::string>();
    share.replicated_state = json.value("replicated_state_xxh3_64", "");
    if (const auto day = json.find("trained_event_date"); day != json.end()) {
      TS_ASSIGN_OR_RETURN(const Date parsed, Date::Parse(day->get<std::string>()));
      share.trained_event_day = parsed;
    }
    return share;
  } catch (const std::exception& e) {
    return Status::Corruption(std::string("a rank's share of the group snapshot is malformed: ") +
                              e.what());
  }
}

Result<std::string> TrainingSession::WriteSnapshot(
    const Offsets& offsets, int64_t events_trained, uint64_t digest,
    std::optional<Date> trained_event_day, nlohmann::json group,
    const std::function<Status(const std::filesystem::path& dir)>& add_shards) {
  const auto started = SteadyClock::now();
  const SessionStatus s = status();
  snapshot::Manifest manifest;
  manifest.step = model_->step();
  manifest.events_trained = events_trained;
  manifest.trained_digest = Hex16(digest);
  manifest.offsets = offsets;
  manifest.model_config = ModelConfigToJson(options_.model);
  manifest.group = std::move(group);
  manifest.metrics = {
      {"loss", s.loss},
      {"recall_at_12", s.recall_at_12},
      {"recall_at_100", s.recall_at_100},
      {"recall_queries", s.recall_queries},
      {"examples_per_second", s.examples_per_second},
      {"catalogue", s.model.catalogue},
      {"customer_rows", s.model.customers.rows_in_use},
      {"article_rows", s.model.articles.rows_in_use},
  };
  if (trained_event_day) {
    manifest.metrics[std::string(kTrainedEventDateKey)] = trained_event_day->ToString();
    manifest.metrics[std::string(kTrainedEventTimeKey)] =
        int64_t{trained_event_day->days_since_epoch()} * 86'400;
  }
  // Known once the logger reached MLflow (at once, unless it was down when training began);
  // `evaluate --mlflow-uri` also finds it in <snapshot_dir>/mlflow_run_id.
  if (mlflow_ != nullptr) manifest.mlflow_run_id = AwaitMlflowRunId();
  TS_ASSIGN_OR_RETURN(std::string id,
                      store_->Write(std::move(manifest), [&](const std::filesystem::path& dir) {
                        TS_RETURN_IF_ERROR(model_->Save(dir).status());
                        TS_RETURN_IF_ERROR(ranker_ ? ranker_->Save(dir) : Status::Ok());
                        return add_shards ? add_shards(dir) : Status::Ok();
                      }));
  last_snapshot_id_ = id;
  ranker_changed_ = false;
  last_snapshot_time_ = std::chrono::system_clock::now();
  snapshot_offsets_ = offsets;
  if (mlflow_ != nullptr) {
    const std::string path = std::filesystem::absolute(store_->PathOf(id)).string();
    mlflow_->SetTag("snapshot." + id, path);
    mlflow_->SetTag("snapshot.latest", path);
  }
  const double seconds = std::chrono::duration<double>(SteadyClock::now() - started).count();
  times_.snapshot_seconds += seconds;
  if (metrics_ != nullptr) {
    metrics_->snapshots.Increment();
    metrics_->snapshot_duration.Observe(seconds);
    metrics_->snapshot_last_success.Set(
        std::chrono::duration<double>(last_snapshot_time_.time_since_epoch()).count());
  }
  return id;
}

std::string TrainingSession::trained_digest() const { return Hex16(digest_); }

SessionStatus TrainingSession::status() const {
  SessionStatus s;
  s.step = model_->step();
  s.events_trained = events_trained_;
  s.loss = loss_ema_;
  s.last_batch_loss = last_loss_;
  s.recall_queries = window_sum_.queries;
  if (window_sum_.queries > 0) {
    const auto q = static_cast<double>(window_sum_.queries);
    s.recall_at_12 = static_cast<double>(window_sum_.hits_at_12) / q;
    s.recall_at_100 = static_cast<double>(window_sum_.hits_at_100) / q;
  }
  s.examples_per_second = rate_;
  s.last_snapshot_id = last_snapshot_id_;
  s.last_snapshot_time = last_snapshot_time_;
  s.resumed_from = resumed_ ? resumed_->id : "";
  s.resume_skipped = resume_skipped_;
  s.model = model_->stats();
  s.times = times_;
  s.trained_event_day = trained_event_day_;
  return s;
}

}  // namespace towerstream::trainer
