// RunLogger: one MLflow run for a training process, fed from the training thread without ever
// waiting on the network.
//
// Start() returns at once; a worker thread connects (finds or creates the experiment, creates
// the run or continues the one named in `run_id_file`, logs the params) and then sends queued
// metrics and tags in batches. While MLflow cannot be reached the worker says so once through
// `say`, keeps up to max_buffered_metrics (dropping the oldest beyond, counted), retries every
// retry_every, and says so again when MLflow answers; training never stops for it. A request
// MLflow refuses (4xx) is reported and dropped, since sending it again cannot succeed.
// Finish() delivers what is queued (bounded by flush_timeout) and ends the run with a status.
// LogMetrics/SetTag/LogArtifact/stats are thread-safe. Neither copyable nor movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/base/status.h"
#include "common/mlflow/tracking_client.h"

namespace towerstream::mlflow {

struct TrackingOptions {
  // http://HOST[:PORT][/PREFIX] of the MLflow tracking server (--mlflow-uri); empty: off.
  std::string tracking_uri;
  // The experiment the run goes into (--mlflow-experiment); created when missing.
  std::string experiment = "towerstream";
  // The run's name (--mlflow-run-name); empty: MLflow makes one up.
  std::string run_name;
  // Longest wait for one REST call.
  std::chrono::milliseconds request_timeout{5'000};
  // Pause between attempts while MLflow is unreachable.
  std::chrono::milliseconds retry_every{10'000};
  // Metric values kept while MLflow is unreachable; the oldest go beyond it (a few MB).
  size_t max_buffered_metrics = 100'000;
  // Longest Finish() spends delivering what is queued.
  std::chrono::milliseconds flush_timeout{15'000};

  bool enabled() const { return !tracking_uri.empty(); }
  Status Validate() const;
};

struct RunSetup {
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
  // Where the run's id is kept (written once the run exists). With continue_run, a run id
  // found there is continued (set RUNNING again, params it lacks added, a param whose value
  // changed recorded as tag "param_changed.<key>"), so that metrics of a resumed training
  // process extend the same curves; otherwise, or if that run is gone, a new run is created.
  std::filesystem::path run_id_file;
  bool continue_run = false;
};

struct RunLoggerStats {
  bool connected = false;  // the last request reached MLflow
  std::string run_id;      // empty until the run exists
  int64_t metrics_sent = 0;
  int64_t metrics_dropped = 0;     // over the buffer, refused by MLflow, or undelivered at the end
  int64_t metrics_not_finite = 0;  // NaN/Inf values, which MLflow's JSON cannot carry
  int64_t artifacts_sent = 0;
  std::string last_error;
};

class RunLogger {
 public:
  using Say = std::function<void(const std::string& line)>;

  // Fails only on bad options (InvalidArgument); MLflow being down is not an error here.
  // `say` is called from the worker thread with lines for the user.
  static Result<std::unique_ptr<RunLogger>> Start(const TrackingOptions& options, RunSetup setup,
                                                  Say say);
  // Finish(kKilled) unless Finish() was called: a process ended by an error or a signal
  // without a clean stop.
  ~RunLogger();
  RunLogger(const RunLogger&) = delete;
  RunLogger& operator=(const RunLogger&) = delete;

  // Queues metric values at `step`, stamped now.
  void LogMetrics(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  // Queues a tag (a later value for the same key replaces an unsent one).
  void SetTag(const std::string& key, const std::string& value);
  // Queues the file `file` for upload as the run's artifact `artifact_path` (read when sent;
  // TrackingClient::UploadArtifact). A file that cannot be read, or an upload MLflow refuses,
  // is reported through `say` and dropped.
  void LogArtifact(const std::string& artifact_path, const std::filesystem::path& file);
  // Delivers what is queued (up to flush_timeout; one attempt when MLflow is unreachable),
  // marks the run `status` and stops the worker. Later calls do nothing.
  void Finish(RunStatus status);

  RunLoggerStats stats() const;

 private:
  class Worker;
  explicit RunLogger(std::unique_ptr<Worker> worker);
  std::unique_ptr<Worker> worker_;
};

}  // namespace towerstream::mlflow
