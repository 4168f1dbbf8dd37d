// MLflow's REST API over admin::HttpCall, with nlohmann::json bodies.
#include "common/mlflow/tracking_client.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <exception>
#include <iterator>
#include <utility>

#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "common/admin/query_string.h"

namespace towerstream::mlflow {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kTrackingApi = "/api/2.0/mlflow/";
// The artifact proxy of `mlflow server` (on by default since MLflow 2.0).
constexpr std::string_view kArtifactApi = "/api/2.0/mlflow-artifacts/artifacts/";
// Uploads get the request timeout plus a second per this many bytes (a slow disk or link).
constexpr size_t kUploadBytesPerSecond = 4 << 20;

// MLflow's limits per runs/log-batch call: 1000 entries in all, of which at most 100 params
// and 100 tags.
constexpr size_t kMaxEntriesPerBatch = 1000;
constexpr size_t kMaxParamsPerBatch = 100;
constexpr size_t kMaxTagsPerBatch = 100;

Json KeyValues(const std::map<std::string, std::string>& values) {
  Json list = Json::array();
  for (const auto& [key, value] : values) list.push_back({{"key", key}, {"value", value}});
  return list;
}

std::map<std::string, std::string> KeyValuesFrom(const Json& list) {
  std::map<std::string, std::string> values;
  if (!list.is_array()) return values;
  for (const Json& entry : list) {
    if (entry.contains("key") && entry["key"].is_string() && entry.contains("value") &&
        entry["value"].is_string()) {
      values[entry["key"].get<std::string>()] = entry["value"].get<std::string>();
    }
  }
  return values;
}

// MLflow writes non-finite metric values as the strings "NaN", "Infinity", "-Infinity".
double MetricValue(const Json& value) {
  if (value.is_number()) return value.get<double>();
  if (value.is_string()) {
    const std::string text = value.get<std::string>();
    if (text == "Infinity") return INFINITY;
    if (text == "-Infinity") return -INFINITY;
  }
  return NAN;
}

// `path` percent-encoded for a URL path: unreserved characters and '/' as they are.
std::string EncodePath(std::string_view path) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : path) {
    const auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || c == '-' || c == '_' || c == '.' || c == '~' || c == '/') {
      out += c;
    } else {
      out += '%';
      out += kHex[u >> 4];
      out += kHex[u & 15];
    }
  }
  return out;
}

// An artifact path MLflow stores as given: relative, no empty, "." or ".." segment.
bool IsPlainRelativePath(std::string_view path) {
  if (path.empty() || path.find('\0') != std::string_view::npos) return false;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    const std::string_view segment = path.substr(start, end - start);
    if (segment.empty() || segment == "." || segment == "..") return false;
    start = end + 1;
  }
  return true;
}

// What `read` takes from MLflow's JSON answer to `what` (a call): a body that is not the JSON
// expected (a proxy's error page, another server on the port) is Unavailable.
template <typename Read>
auto FromAnswer(const std::string& what, const std::string& answer, Read read)
    -> Result<decltype(read(std::declval<const Json&>()))> {
  try {
    return read(Json::parse(answer));
  } catch (const std::exception& e) {
    return Status::Unavailable(what + ": unexpected answer: " + e.what());
  }
}

}  // namespace

std::string_view RunStatusName(RunStatus status) {
  switch (status) {
    case RunStatus::kRunning:
      return "RUNNING";
    case RunStatus::kFinished:
      return "FINISHED";
    case RunStatus::kFailed:
      return "FAILED";
    case RunStatus::kKilled:
      return "KILLED";
  }
  return "FAILED";
}

TrackingClient::TrackingClient(std::string tracking_uri, std::string address, std::string prefix,
                               std::chrono::milliseconds timeout)
    : tracking_uri_(std::move(tracking_uri)),
      address_(std::move(address)),
      prefix_(std::move(prefix)),
      timeout_(timeout) {}

Result<TrackingClient> TrackingClient::Create(std::string_view tracking_uri,
                                              std::chrono::milliseconds timeout) {
  const std::string uri(tracking_uri);
  constexpr std::string_view kHttp = "http://";
  if (tracking_uri.starts_with("https://")) {
    return Status::InvalidArgument("MLflow tracking URI '" + uri +
                                   "': https is not supported; reach the server over http "
                                   "(e.g. through a local TLS-terminating proxy)");
  }
  if (!tracking_uri.starts_with(kHttp)) {
    return Status::InvalidArgument("MLflow tracking URI '" + uri +
                                   "': expected http://HOST[:PORT][/PREFIX]");
  }
  std::string_view rest = tracking_uri.substr(kHttp.size());
  const size_t slash = rest.find('/');
  std::string address(rest.substr(0, slash));
  std::string prefix(slash == std::string_view::npos ? std::string_view() : rest.substr(slash));
  while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
  if (address.empty() || address.find_first_of("?#@ ") != std::string::npos ||
      prefix.find_first_of("?# ") != std::string::npos) {
    return Status::InvalidArgument("MLflow tracking URI '" + uri +
                                   "': expected http://HOST[:PORT][/PREFIX] with no query, "
                                   "fragment or credentials");
  }
  // HOST alone means port 80, as in a browser; an IPv6 host is bracketed ("[::1]:5000").
  const size_t bracket = address.rfind(']');
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket)) {
    address += ":80";
  }
  if (timeout <= std::chrono::milliseconds::zero()) {
    return Status::InvalidArgument("MLflow request timeout must be positive");
  }
  return TrackingClient(uri, std::move(address), std::move(prefix), timeout);
}

std::string TrackingClient::Where(std::string_view endpoint) const {
  return "MLflow " + tracking_uri_ + " " + std::string(endpoint);
}

Result<std::string> TrackingClient::Call(std::string_view method, std::string_view endpoint,
                                         std::string_view query, std::string_view body) {
  return CallApi(kTrackingApi, method, endpoint, query, body, timeout_);
}

Result<std::string> TrackingClient::CallApi(std::string_view api, std::string_view method,
                                            std::string_view endpoint, std::string_view query,
                                            std::string_view body,
                                            std::chrono::milliseconds timeout) {
  std::string target = prefix_ + std::string(api) + std::string(endpoint);
  if (!query.empty()) target += "?" + std::string(query);
  const std::string what = Where(api == kTrackingApi ? endpoint : target);
  Result<admin::AdminResponse> response =
      admin::HttpCall(address_, method, target, body, /*token=*/{}, timeout);
  if (!response.ok()) {
    return Status(response.status().code(), what + ": " + response.status().message());
  }
  if (response->status == 200) return std::move(response->body);

  std::string reason = "HTTP " + std::to_string(response->status);
  std::string error_code;
  try {
    const Json error = Json::parse(response->body);
    if (error.contains("error_code")) error_code = error["error_code"].get<std::string>();
    if (error.contains("message"))
      reason += " " + error_code + ": " + error["message"].get<std::string>();
  } catch (const std::exception&) {
    std::string text = response->body.substr(0, 200);
    if (!text.empty()) reason += ": " + text;
  }
  if (response->status >= 500) return Status::Unavailable(what + ": " + reason);
  if (error_code == "RESOURCE_DOES_NOT_EXIST" || response->status == 404) {
    return Status::NotFound(what + ": " + reason);
  }
  return Status::InvalidArgument(what + ": " + reason);
}

Result<std::string> TrackingClient::GetOrCreateExperiment(const std::string& name) {
  const std::string query = "experiment_name=" + admin::EncodeQueryValue(name);
  const auto experiment_id = [](const Json& answer) {
    return answer.at("experiment").at("experiment_id").get<std::string>();
  };
  Result<std::string> found = Call("GET", "experiments/get-by-name", query, {});
  if (!found.ok() && found.status().code() == StatusCode::kNotFound) {
    const Result<std::string> created =
        Call("POST", "experiments/create", {}, Json{{"name", name}}.dump());
    if (created.ok()) {
      return FromAnswer(Where("experiments/create"), *created, [](const Json& answer) {
        return answer.at("experiment_id").get<std::string>();
      });
    }
    // Another process may have created it between the two calls: look again.
    found = Call("GET", "experiments/get-by-name", query, {});
    if (!found.ok()) return created.status();
  }
  if (!found.ok()) return found.status();
  return FromAnswer(Where("experiments/get-by-name"), *found, experiment_id);
}

Result<std::string> TrackingClient::CreateRun(const std::string& experiment_id,
                                              const std::string& run_name, int64_t start_time_ms,
                                              const std::map<std::string, std::string>& tags) {
  Json body{{"experiment_id", experiment_id}, {"start_time", start_time_ms}};
  if (!run_name.empty()) body["run_name"] = run_name;
  // runs/create takes every tag at once; MLflow checks their size, not their number.
  if (!tags.empty()) body["tags"] = KeyValues(tags);
  TS_ASSIGN_OR_RETURN(const std::string answer, Call("POST", "runs/create", {}, body.dump()));
  return FromAnswer(Where("runs/create"), answer, [](const Json& parsed) {
    return parsed.at("run").at("info").at("run_id").get<std::string>();
  });
}

Result<RunInfo> TrackingClient::GetRun(const std::string& run_id) {
  TS_ASSIGN_OR_RETURN(const std::string answer,
                      Call("GET", "runs/get", "run_id=" + admin::EncodeQueryValue(run_id), {}));
  return FromAnswer(Where("runs/get"), answer, [](const Json& parsed) {
    const Json& run = parsed.at("run");
    const Json& info = run.at("info");
    RunInfo result;
    result.run_id = info.at("run_id").get<std::string>();
    result.experiment_id = info.at("experiment_id").get<std::string>();
    result.status = info.value("status", "");
    result.lifecycle_stage = info.value("lifecycle_stage", "");
    result.artifact_uri = info.value("artifact_uri", "");
    if (run.contains("data")) {
      const Json& data = run["data"];
      if (data.contains("params")) result.params = KeyValuesFrom(data["params"]);
      if (data.contains("tags")) result.tags = KeyValuesFrom(data["tags"]);
      if (data.contains("metrics") && data["metrics"].is_array()) {
        for (const Json& metric : data["metrics"]) {
          result.latest_metrics[metric.at("key").get<std::string>()] =
              MetricValue(metric.at("value"));
        }
      }
    }
    return result;
  });
}

Status TrackingClient::LogBatch(const std::string& run_id, const std::vector<Metric>& metrics,
                                const std::map<std::string, std::string>& params,
                                const std::map<std::string, std::string>& tags) {
  std::vector<Metric> finite;
  finite.reserve(metrics.size());
  std::copy_if(metrics.begin(), metrics.end(), std::back_inserter(finite),
               [](const Metric& m) { return std::isfinite(m.value); });
  auto param = params.begin();
  auto tag = tags.begin();
  size_t metric = 0;
  // Params and tags go first, then metrics fill each call up to MLflow's limits.
  do {
    size_t room = kMaxEntriesPerBatch;
    Json body{{"run_id", run_id}};
    Json param_list = Json::array();
    for (size_t n = 0; param != params.end() && n < kMaxParamsPerBatch && room > 0; ++n, --room) {
      param_list.push_back({{"key", param->first}, {"value", param->second}});
      ++param;
    }
    Json tag_list = Json::array();
    for (size_t n = 0; tag != tags.end() && n < kMaxTagsPerBatch && room > 0; ++n, --room) {
      tag_list.push_back({{"key", tag->first}, {"value", tag->second}});
      ++tag;
    }
    Json metric_list = Json::array();
    for (; metric < finite.size() && room > 0; ++metric, --room) {
      const Metric& m = finite[metric];
      metric_list.push_back(
          {{"key", m.key}, {"value", m.value}, {"timestamp", m.timestamp_ms}, {"step", m.step}});
    }
    if (!param_list.empty()) body["params"] = std::move(param_list);
    if (!tag_list.empty()) body["tags"] = std::move(tag_list);
    if (!metric_list.empty()) body["metrics"] = std::move(metric_list);
    TS_RETURN_IF_ERROR(Call("POST", "runs/log-batch", {}, body.dump()).status());
  } while (param != params.end() || tag != tags.end() || metric < finite.size());
  return Status::Ok();
}

Status TrackingClient::UpdateRun(const std::string& run_id, RunStatus status,
                                 std::optional<int64_t> end_time_ms) {
  Json body{{"run_id", run_id}, {"status", RunStatusName(status)}};
  if (end_time_ms.has_value()) body["end_time"] = *end_time_ms;
  return Call("POST", "runs/update", {}, body.dump()).status();
}

Result<std::vector<Metric>> TrackingClient::GetMetricHistory(const std::string& run_id,
                                                             const std::string& key) {
  TS_ASSIGN_OR_RETURN(const std::string answer,
                      Call("GET", "metrics/get-history",
                           "run_id=" + admin::EncodeQueryValue(run_id) +
                               "&metric_key=" + admin::EncodeQueryValue(key) + "&max_results=25000",
                           {}));
  return FromAnswer(Where("metrics/get-history"), answer, [](const Json& parsed) {
    std::vector<Metric> history;
    if (!parsed.contains("metrics")) return history;  // MLflow omits empty lists
    for (const Json& entry : parsed["metrics"]) {
      history.push_back(Metric{.key = entry.at("key").get<std::string>(),
                               .value = MetricValue(entry.at("value")),
                               .timestamp_ms = entry.value("timestamp", int64_t{0}),
                               .step = entry.value("step", int64_t{0})});
    }
    return history;
  });
}

Result<std::string> TrackingClient::ProxiedArtifactPath(const std::string& run_id,
                                                        const std::string& path) {
  if (!path.empty() && !IsPlainRelativePath(path)) {
    return Status::InvalidArgument("MLflow artifact path '" + path +
                                   "': expected a relative path without empty, '.' or '..' parts");
  }
  TS_ASSIGN_OR_RETURN(const RunInfo run, GetRun(run_id));
  // mlflow-artifacts:/<experiment>/<run>/artifacts, or with an authority
  // (mlflow-artifacts://HOST:PORT/...), which names this same proxy in every setup we serve.
  constexpr std::string_view kScheme = "mlflow-artifacts:";
  std::string_view root = run.artifact_uri;
  if (!root.starts_with(kScheme)) {
    return Status::FailedPrecondition(
        Where("artifacts") + ": run " + run_id + " keeps its artifacts at '" + run.artifact_uri +
        "', which only MLflow's own client writes to; start the server with artifact proxying "
        "(`mlflow server --artifacts-destination DIR`, without --default-artifact-root; "
        "scripts/mlflow does) and use an experiment it created");
  }
  root.remove_prefix(kScheme.size());
  if (root.starts_with("//")) {
    const size_t slash = root.find('/', 2);
    root = slash == std::string_view::npos ? std::string_view() : root.substr(slash);
  }
  while (root.starts_with('/')) root.remove_prefix(1);
  while (root.ends_with('/')) root.remove_suffix(1);
  std::string proxied(root);
  if (!path.empty()) proxied += (proxied.empty() ? "" : "/") + path;
  return proxied;
}

Status TrackingClient::UploadArtifact(const std::string& run_id, const std::string& path,
                                      std::string_view content) {
  if (path.empty()) return Status::InvalidArgument("MLflow artifact path is empty");
  TS_ASSIGN_OR_RETURN(const std::string proxied, ProxiedArtifactPath(run_id, path));
  const auto timeout =
      timeout_ + std::chrono::seconds(static_cast<int64_t>(content.size() / kUploadBytesPerSecond));
  return CallApi(kArtifactApi, "PUT", EncodePath(proxied), {}, content, timeout).status();
}

Result<std::vector<ArtifactInfo>> TrackingClient::ListArtifacts(const std::string& run_id,
                                                                const std::string& path) {
  std::string query = "run_id=" + admin::EncodeQueryValue(run_id);
  if (!path.empty()) query += "&path=" + admin::EncodeQueryValue(path);
  TS_ASSIGN_OR_RETURN(const std::string answer, Call("GET", "artifacts/list", query, {}));
  return FromAnswer(Where("artifacts/list"), answer, [](const Json& parsed) {
    std::vector<ArtifactInfo> files;
    if (!parsed.contains("files")) return files;  // MLflow omits empty lists
    for (const Json& entry : parsed["files"]) {
      files.push_back(ArtifactInfo{.path = entry.at("path").get<std::string>(),
                                   .is_dir = entry.value("is_dir", false),
                                   .bytes = entry.value("file_size", int64_t{0})});
    }
    return files;
  });
}

Result<std::string> TrackingClient::DownloadArtifact(const std::string& run_id,
                                                     const std::string& path) {
  if (path.empty()) return Status::InvalidArgument("MLflow artifact path is empty");
  TS_ASSIGN_OR_RETURN(const std::string proxied, ProxiedArtifactPath(run_id, path));
  return CallApi(kArtifactApi, "GET", EncodePath(proxied), {}, {}, timeout_);
}

}  // namespace towerstream::mlflow
