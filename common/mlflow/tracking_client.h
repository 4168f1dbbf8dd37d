// A blocking client for MLflow's tracking REST API (the 2.0 API that MLflow 2.x and 3.x serve):
// experiments, runs, batched metrics, params and tags, and run artifacts through the server's
// artifact proxy (`mlflow server` serves artifacts by default since 2.0). One HTTP call per
// method, over admin::HttpCall; no retries (RunLogger decides what to retry).
//
// Errors: InvalidArgument for a malformed tracking URI or a request MLflow refuses (4xx, with
// MLflow's error_code and message), NotFound for RESOURCE_DOES_NOT_EXIST, Unavailable when the
// server cannot be reached or fails (5xx), DeadlineExceeded when it does not answer in time.
// Every message names the tracking URI and the endpoint. Thread-compatible: copies share
// nothing.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"

namespace towerstream::mlflow {

struct Metric {
  std::string key;
  double value = 0;
  int64_t timestamp_ms = 0;  // Unix time in milliseconds
  int64_t step = 0;
};

// MLflow's run statuses that a client sets.
enum class RunStatus { kRunning, kFinished, kFailed, kKilled };
std::string_view RunStatusName(RunStatus status);

struct RunInfo {
  std::string run_id;
  std::string experiment_id;
  std::string status;           // "RUNNING", "FINISHED", ...
  std::string lifecycle_stage;  // "active" or "deleted"
  // Where the run's artifacts go: "mlflow-artifacts:/<experiment>/<run>/artifacts" when the
  // server proxies artifacts, else a location only MLflow's Python client writes to.
  std::string artifact_uri;
  std::map<std::string, std::string> params;
  std::map<std::string, std::string> tags;
  std::map<std::string, double> latest_metrics;
};

// One entry of a run's artifact folder.
struct ArtifactInfo {
  std::string path;  // relative to the run's artifact root, e.g. "evaluation/report.json"
  bool is_dir = false;
  int64_t bytes = 0;  // 0 for a folder
};

class TrackingClient {
 public:
  // `tracking_uri` is http://HOST[:PORT][/PREFIX] (the --backend of `mlflow server`, or a
  // proxy that serves it under PREFIX). https is refused with a message saying so.
  static Result<TrackingClient> Create(
      std::string_view tracking_uri, std::chrono::milliseconds timeout = std::chrono::seconds(10));

  const std::string& tracking_uri() const { return tracking_uri_; }

  // The id of the experiment called `name`, created when there is none.
  Result<std::string> GetOrCreateExperiment(const std::string& name);
  // A new run in RUNNING state; returns its id.
  Result<std::string> CreateRun(const std::string& experiment_id, const std::string& run_name,
                                int64_t start_time_ms,
                                const std::map<std::string, std::string>& tags);
  Result<RunInfo> GetRun(const std::string& run_id);
  // Non-finite metric values are not sent (MLflow's JSON has no NaN/Inf literals). MLflow
  // takes at most 1000 entries per call (of them at most 100 params and 100 tags): larger
  // inputs go in several calls, params and tags first; an error stops at the failed call.
  Status LogBatch(const std::string& run_id, const std::vector<Metric>& metrics,
                  const std::map<std::string, std::string>& params = {},
                  const std::map<std::string, std::string>& tags = {});
  Status UpdateRun(const std::string& run_id, RunStatus status,
                   std::optional<int64_t> end_time_ms = std::nullopt);
  // Every value logged for `key`, in the order MLflow returns them.
  Result<std::vector<Metric>> GetMetricHistory(const std::string& run_id, const std::string& key);

  // Artifacts go through the server's artifact proxy (PUT/GET
  // /api/2.0/mlflow-artifacts/artifacts/<experiment>/<run>/artifacts/<path>), so the run's
  // artifact_uri must be mlflow-artifacts:/...: FailedPrecondition, saying how to start the
  // server, for a run whose artifacts the server does not proxy (an experiment created by a
  // server started with --default-artifact-root or --no-serve-artifacts).
  // `path` is relative to the run's artifact root ("evaluation/report.json"): no "..", no
  // leading '/'. Uploading a path again replaces the file. The timeout grows with the size.
  Status UploadArtifact(const std::string& run_id, const std::string& path,
                        std::string_view content);
  // The run's artifacts directly under `path` ("" for the root), as artifacts/list gives them.
  Result<std::vector<ArtifactInfo>> ListArtifacts(const std::string& run_id,
                                                  const std::string& path = {});
  // The content of one artifact file (up to 16 MiB).
  Result<std::string> DownloadArtifact(const std::string& run_id, const std::string& path);

 private:
  TrackingClient(std::string tracking_uri, std::string address, std::string prefix,
                 std::chrono::milliseconds timeout);
  // "MLflow <uri> <endpoint>", which every error message starts with.
  std::string Where(std::string_view endpoint) const;
  // One call to /api/2.0/mlflow/<endpoint>; returns the body of a 200 answer.
  Result<std::string> Call(std::string_view method, std::string_view endpoint,
                           std::string_view query, std::string_view body);
  // One call to `api` + <endpoint> (api: "/api/2.0/mlflow/" or the artifact proxy's).
  Result<std::string> CallApi(std::string_view api, std::string_view method,
                              std::string_view endpoint, std::string_view query,
                              std::string_view body, std::chrono::milliseconds timeout);
  // The artifact proxy's path of `path` in the run: "<experiment>/<run>/artifacts/<path>".
  Result<std::string> ProxiedArtifactPath(const std::string& run_id, const std::string& path);

  std::string tracking_uri_;
  std::string address_;  // HOST:PORT
  std::string prefix_;   // "" or "/prefix" (no trailing slash)
  std::chrono::milliseconds timeout_;
};

}  // namespace towerstream::mlflow
