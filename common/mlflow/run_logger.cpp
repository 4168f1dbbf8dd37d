// RunLogger's worker: connect, then drain the queue in batches, retrying while MLflow is down.
#include "common/mlflow/run_logger.h"

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <fstream>
#include <iterator>
#include <mutex>
#include <optional>
#include <thread>

namespace towerstream::mlflow {
namespace {

using Clock = std::chrono::steady_clock;

// Metric values per runs/log-batch call: MLflow's limit of 1000 entries, less room for tags.
constexpr size_t kMetricsPerRequest = 900;

int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Whether sending the same request again may succeed: MLflow down, overloaded or slow.
bool Retryable(const Status& status) {
  return status.code() == StatusCode::kUnavailable ||
         status.code() == StatusCode::kDeadlineExceeded;
}

std::optional<std::string> ReadRunId(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::string id;
  if (!in || !std::getline(in, id) || id.empty()) return std::nullopt;
  return id;
}

// Written to a temp file and renamed, so a crash never leaves half an id behind.
Status WriteRunId(const std::filesystem::path& file, const std::string& run_id) {
  const std::filesystem::path temp = file.string() + ".tmp";
  {
    std::ofstream out(temp, std::ios::trunc);
    out << run_id << "\n";
    if (!out.flush()) return Status::IoError("cannot write " + temp.string());
  }
  std::error_code error;
  std::filesystem::rename(temp, file, error);
  if (error) return Status::IoError("cannot rename " + temp.string() + ": " + error.message());
  return Status::Ok();
}

}  // namespace

Status TrackingOptions::Validate() const {
  if (!enabled()) return Status::Ok();
  TS_RETURN_IF_ERROR(TrackingClient::Create(tracking_uri, request_timeout).status());
  if (experiment.empty()) return Status::InvalidArgument("--mlflow-experiment must not be empty");
  if (retry_every <= std::chrono::milliseconds::zero() ||
      flush_timeout < std::chrono::milliseconds::zero() || max_buffered_metrics == 0) {
    return Status::InvalidArgument(
        "MLflow tracking: retry interval and buffer must be positive, flush timeout not negative");
  }
  return Status::Ok();
}

class RunLogger::Worker {
 public:
  Worker(const TrackingOptions& options, TrackingClient client, RunSetup setup, Say say)
      : options_(options),
        client_(std::move(client)),
        setup_(std::move(setup)),
        say_(std::move(say)),
        start_time_ms_(NowUnixMs()) {
    thread_ = std::jthread([this] { Loop(); });
  }

  ~Worker() { Finish(RunStatus::kKilled); }

  void LogMetrics(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
    const int64_t now = NowUnixMs();
    {
      const std::lock_guard lock(mutex_);
      if (finishing_) return;
      for (const auto& [key, value] : values) {
        if (!std::isfinite(value)) {
          ++stats_.metrics_not_finite;
          continue;
        }
        queue_.push_back(Metric{.key = key, .value = value, .timestamp_ms = now, .step = step});
      }
      while (queue_.size() > options_.max_buffered_metrics) {
        queue_.pop_front();
        ++stats_.metrics_dropped;
        ++popped_for_room_;
      }
    }
    wake_.notify_one();
  }

  void SetTag(const std::string& key, const std::string& value) {
    {
      const std::lock_guard lock(mutex_);
      if (finishing_) return;
      tags_[key] = value;
    }
    wake_.notify_one();
  }

  void LogArtifact(const std::string& artifact_path, const std::filesystem::path& file) {
    {
      const std::lock_guard lock(mutex_);
      if (finishing_) return;
      artifacts_.emplace_back(artifact_path, file);
    }
    wake_.notify_one();
  }

  void Finish(RunStatus status) {
    {
      const std::lock_guard lock(mutex_);
      if (finishing_) return;
      finishing_ = true;
      end_status_ = status;
      flush_deadline_ = Clock::now() + options_.flush_timeout;
    }
    wake_.notify_one();
    if (thread_.joinable()) thread_.join();
  }

  RunLoggerStats stats() const {
    const std::lock_guard lock(mutex_);
    return stats_;
  }

 private:
  void Loop() {
    std::unique_lock lock(mutex_);
    // Until when to pause after MLflow was found down (in the past: no pause).
    Clock::time_point retry_at = Clock::now();
    while (true) {
      wake_.wait_until(lock, retry_at, [&] { return finishing_; });
      wake_.wait(lock, [&] { return finishing_ || HasWork(); });
      if (!HasWork()) break;  // finishing with everything delivered

      // One unit of work with the lock released: connect, or send one batch.
      Status result = Status::Ok();
      const bool connecting = run_id_.empty();
      if (connecting) {
        lock.unlock();
        result = Connect();
        lock.lock();
      } else if (!artifacts_.empty()) {
        const auto [artifact_path, file] = artifacts_.front();
        const std::string run_id = run_id_;
        lock.unlock();
        result = UploadFile(run_id, artifact_path, file);
        lock.lock();
        if (result.ok() || !Retryable(result)) artifacts_.pop_front();
        if (result.ok()) ++stats_.artifacts_sent;
      } else {
        const size_t n = std::min(queue_.size(), kMetricsPerRequest);
        std::vector<Metric> batch(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n));
        std::map<std::string, std::string> tags;
        tags.swap(tags_);
        const std::string run_id = run_id_;
        const int64_t popped_before = popped_for_room_;
        lock.unlock();
        result = client_.LogBatch(run_id, batch, {}, tags);
        lock.lock();
        // Values the buffer limit pushed out meanwhile were the oldest: ours.
        const auto popped = static_cast<size_t>(
            std::min<int64_t>(static_cast<int64_t>(n), popped_for_room_ - popped_before));
        if (result.ok() || !Retryable(result)) {
          // Sent, or refused for good: either way the batch leaves the queue.
          queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(n - popped));
          if (result.ok()) {
            stats_.metrics_sent += static_cast<int64_t>(n);
            stats_.metrics_dropped -= static_cast<int64_t>(popped);
          } else {
            stats_.metrics_dropped += static_cast<int64_t>(n - popped);
          }
        } else {
          for (auto& [key, value] : tags) tags_.try_emplace(key, std::move(value));
        }
      }
      NoteOutcome(result, /*announced=*/connecting, lock);

      if (finishing_) {
        // At the end one failed attempt is enough: a stopping trainer must not hang on MLflow.
        if (!result.ok() || Clock::now() >= flush_deadline_) break;
      } else if (!result.ok() && Retryable(result)) {
        retry_at = Clock::now() + options_.retry_every;
      }
    }
    const auto undelivered = static_cast<int64_t>(queue_.size());
    stats_.metrics_dropped += undelivered;
    queue_.clear();
    const std::string run_id = run_id_;
    const RunStatus status = end_status_;
    lock.unlock();
    if (run_id.empty()) {
      say_("MLflow " + client_.tracking_uri() + " was never reached: no run was recorded");
      return;
    }
    if (undelivered > 0) {
      say_("MLflow " + client_.tracking_uri() + ": " + std::to_string(undelivered) +
           " metric values could not be delivered before stopping");
    }
    if (const Status s = client_.UpdateRun(run_id, status, NowUnixMs()); !s.ok()) {
      say_("MLflow: could not mark run " + run_id + " " + std::string(RunStatusName(status)) +
           ": " + s.message());
    }
  }

  // Under mutex_: a run to create, or values or tags to send.
  bool HasWork() const {
    return run_id_.empty() || !queue_.empty() || !tags_.empty() || !artifacts_.empty();
  }

  // A file that cannot be read is refused for good (InvalidArgument): sending again cannot help.
  Status UploadFile(const std::string& run_id, const std::string& artifact_path,
                    const std::filesystem::path& file) {
    std::ifstream in(file, std::ios::binary);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) {
      return Status::InvalidArgument("cannot read " + file.string() + " for artifact " +
                                     artifact_path);
    }
    return client_.UploadArtifact(run_id, artifact_path, content);
  }

  // Reports transitions between reachable and unreachable, and every refused request.
  // `announced`: a success was already said (Connect names the run).
  void NoteOutcome(const Status& result, bool announced, std::unique_lock<std::mutex>& lock) {
    std::string line;
    if (result.ok()) {
      if (!stats_.connected && reported_down_ && !announced) {
        line = "MLflow " + client_.tracking_uri() + " answers again; logging to run " + run_id_;
      }
      stats_.connected = true;
      reported_down_ = false;
    } else if (Retryable(result)) {
      stats_.connected = false;
      stats_.last_error = result.message();
      if (!reported_down_) {
        reported_down_ = true;
        line = "MLflow unreachable (" + result.message() +
               "); training goes on, metrics are kept (up to " +
               std::to_string(options_.max_buffered_metrics) + " values) and sent when it " +
               "answers, retrying every " + std::to_string(options_.retry_every.count() / 1000) +
               " s";
      }
    } else {
      stats_.connected = true;
      stats_.last_error = result.message();
      line = "MLflow refused a request, dropped: " + result.message();
    }
    if (line.empty()) return;
    lock.unlock();
    say_(line);
    lock.lock();
  }

  // Finds the experiment, then continues the run named in run_id_file or creates one.
  Status Connect() {
    TS_ASSIGN_OR_RETURN(const std::string experiment_id,
                        client_.GetOrCreateExperiment(options_.experiment));
    std::string run_id;
    std::map<std::string, std::string> params = setup_.params;
    std::map<std::string, std::string> tags;
    const std::optional<std::string> previous = setup_.continue_run && !setup_.run_id_file.empty()
                                                    ? ReadRunId(setup_.run_id_file)
                                                    : std::nullopt;
    if (previous.has_value()) {
      Result<RunInfo> run = client_.GetRun(*previous);
      if (run.ok() && run->experiment_id == experiment_id && run->lifecycle_stage == "active") {
        run_id = run->run_id;
        for (auto it = params.begin(); it != params.end();) {
          const auto logged = run->params.find(it->first);
          if (logged == run->params.end()) {
            ++it;
            continue;
          }
          if (logged->second != it->second) tags["param_changed." + it->first] = it->second;
          it = params.erase(it);
        }
        tags.insert(setup_.tags.begin(), setup_.tags.end());
        TS_RETURN_IF_ERROR(client_.UpdateRun(run_id, RunStatus::kRunning));
      } else if (!run.ok() && Retryable(run.status())) {
        return run.status();
      }
    }
    const bool continued = !run_id.empty();
    if (!continued) {
      TS_ASSIGN_OR_RETURN(
          run_id, client_.CreateRun(experiment_id, options_.run_name, start_time_ms_, setup_.tags));
    }
    // A failure here retries Connect: the run exists but is left RUNNING and unused, and the
    // next attempt creates another. Rare, and visible in MLflow as an empty run.
    TS_RETURN_IF_ERROR(client_.LogBatch(run_id, {}, params, tags));
    if (!setup_.run_id_file.empty()) {
      if (const Status s = WriteRunId(setup_.run_id_file, run_id); !s.ok()) {
        say_("MLflow: " + s.message() + " (a resumed run will start a new MLflow run)");
      }
    }
    say_(std::string(continued ? "MLflow: continuing run " : "MLflow: logging to run ") + run_id +
         " (experiment '" + options_.experiment + "', " + client_.tracking_uri() +
         "/#/experiments/" + experiment_id + "/runs/" + run_id + ")");
    const std::lock_guard lock(mutex_);
    run_id_ = run_id;
    stats_.run_id = run_id;
    return Status::Ok();
  }

  const TrackingOptions options_;
  TrackingClient client_;
  const RunSetup setup_;
  const Say say_;
  const int64_t start_time_ms_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Metric> queue_;
  std::map<std::string, std::string> tags_;
  // (artifact path, local file) to upload, in order.
  std::deque<std::pair<std::string, std::filesystem::path>> artifacts_;
  std::string run_id_;
  RunLoggerStats stats_;
  int64_t popped_for_room_ = 0;  // values the buffer limit pushed out, ever
  bool reported_down_ = false;
  bool finishing_ = false;
  RunStatus end_status_ = RunStatus::kKilled;
  Clock::time_point flush_deadline_;
  std::jthread thread_;  // last: started after, and joined before, everything it uses
};

Result<std::unique_ptr<RunLogger>> RunLogger::Start(const TrackingOptions& options, RunSetup setup,
                                                    Say say) {
  if (!options.enabled()) return Status::InvalidArgument("MLflow tracking: no tracking URI");
  TS_RETURN_IF_ERROR(options.Validate());
  TS_ASSIGN_OR_RETURN(TrackingClient client,
                      TrackingClient::Create(options.tracking_uri, options.request_timeout));
  if (!say) say = [](const std::string&) {};
  return std::unique_ptr<RunLogger>(new RunLogger(
      std::make_unique<Worker>(options, std::move(client), std::move(setup), std::move(say))));
}

RunLogger::RunLogger(std::unique_ptr<Worker> worker) : worker_(std::move(worker)) {}
RunLogger::~RunLogger() = default;

void RunLogger::LogMetrics(int64_t step,
                           const std::vector<std::pair<std::string, double>>& values) {
  worker_->LogMetrics(step, values);
}
void RunLogger::SetTag(const std::string& key, const std::string& value) {
  worker_->SetTag(key, value);
}
void RunLogger::LogArtifact(const std::string& artifact_path, const std::filesystem::path& file) {
  worker_->LogArtifact(artifact_path, file);
}
void RunLogger::Finish(RunStatus status) { worker_->Finish(status); }
RunLoggerStats RunLogger::stats() const { return worker_->stats(); }

}  // namespace towerstream::mlflow
