#include "common/serving/recommend_server.h"

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <map>
#include <mutex>
#include <stop_token>
#include <thread>

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "common/admin/query_string.h"
#include "common/metrics/naming.h"
#include "common/metrics/process_collector.h"
#include "common/serving/recommender.h"

namespace towerstream::serving {
namespace {

using Clock = std::chrono::steady_clock;

constexpr char kService[] = "serve";

// The endpoint label of a request: the known paths, and one label for everything else, so that
// a scanner probing random paths cannot grow the series without bound.
std::string EndpointOf(const std::string& path) {
  for (const char* known : {"/recommend", "/status", "/healthz", "/metrics"}) {
    if (path == known) return known;
  }
  return "other";
}

double SecondsSince(std::chrono::system_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::system_clock::now() - t).count();
}

std::string UtcNow() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t seconds = std::chrono::system_clock::to_time_t(now);
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char text[64];
  std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(millis));
  return text;
}

// The serve_* metrics (docs/design.md §9). Ages and the histories' figures are gauges set just
// before each scrape, from the snapshot and the history source then in use.
class ServeMetrics {
 public:
  ServeMetrics()
      : registry_(std::make_shared<prometheus::Registry>()),
        process_(kService),
        requests_(prometheus::BuildCounter()
                      .Name("towerstream_serve_requests_total")
                      .Help("Requests answered by serve, by endpoint and HTTP status code")
                      .Register(*registry_)),
        latency_(prometheus::BuildHistogram()
                     .Name("towerstream_serve_request_duration_seconds")
                     .Help("Time from a request's arrival to its answer, by endpoint")
                     .Register(*registry_)),
        reloads_(prometheus::BuildCounter()
                     .Name("towerstream_serve_reloads_total")
                     .Help("Snapshot reloads: a new LATEST loaded (success) or not (failure)")
                     .Register(*registry_)),
        gauges_(prometheus::BuildGauge()
                    .Name("towerstream_serve_model_age_seconds")
                    .Help("Seconds since the snapshot answering now was written")
                    .Register(*registry_)),
        feature_age_(prometheus::BuildGauge()
                         .Name("towerstream_serve_feature_age_seconds")
                         .Help("Seconds since the customer histories last changed")
                         .Register(*registry_)),
        event_time_(prometheus::BuildGauge()
                        .Name("towerstream_serve_features_event_time_seconds")
                        .Help("Event time (Unix seconds of its day) of the newest purchase in "
                              "the histories")
                        .Register(*registry_)),
        transactions_(prometheus::BuildCounter()
                          .Name("towerstream_serve_transactions_applied_total")
                          .Help("Purchases applied to the histories from the stream")
                          .Register(*registry_)),
        lag_(prometheus::BuildGauge()
                 .Name("towerstream_serve_consumer_lag_messages")
                 .Help("Messages of the pipeline's topics not yet applied to the histories")
                 .Register(*registry_)),
        reload_success_(reloads_.Add({{"service", kService}, {"outcome", "success"}})),
        reload_failure_(reloads_.Add({{"service", kService}, {"outcome", "failure"}})),
        model_age_(gauges_.Add({{"service", kService}})),
        feature_age_value_(feature_age_.Add({{"service", kService}})),
        transactions_value_(transactions_.Add({{"service", kService}})) {}

  void Request(const std::string& endpoint, int status, double seconds) {
    requests_.Add({{"service", kService}, {"endpoint", endpoint}, {"code", std::to_string(status)}})
        .Increment();
    latency_.Add({{"service", kService}, {"endpoint", endpoint}}, latency_buckets_)
        .Observe(seconds);
  }
  void Reloaded(bool ok) { (ok ? reload_success_ : reload_failure_).Increment(); }

  // The page of a scrape, with the gauges as of now.
  std::string Scrape(const snapshot::Manifest& manifest, const HistoryFreshness& freshness) {
    model_age_.Set(std::max(
        0.0, (std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
                  .count() -
              static_cast<double>(manifest.created_unix_ms) / 1000.0)));
    feature_age_value_.Set(std::max(0.0, SecondsSince(freshness.changed)));
    if (freshness.newest_purchase) {
      event_time_.Add({{"service", kService}})
          .Set(static_cast<double>(freshness.newest_purchase->days_since_epoch()) * 86400.0);
    }
    // A counter fed from the source's own count: scrapes run one at a time on the io thread.
    const auto transactions = static_cast<double>(freshness.transactions);
    if (transactions > transactions_counted_) {
      transactions_value_.Increment(transactions - transactions_counted_);
      transactions_counted_ = transactions;
    }
    if (freshness.lag) {
      lag_.Add({{"service", kService}}).Set(static_cast<double>(*freshness.lag));
    }
    std::vector<prometheus::MetricFamily> families = registry_->Collect();
    for (prometheus::MetricFamily& f : process_.Collect()) families.push_back(std::move(f));
    return prometheus::TextSerializer().Serialize(families);
  }

 private:
  // Built once: Request() runs for every request.
  const prometheus::Histogram::BucketBoundaries latency_buckets_ = metrics::LatencyBuckets();
  std::shared_ptr<prometheus::Registry> registry_;
  metrics::ProcessCollector process_;
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Histogram>& latency_;
  prometheus::Family<prometheus::Counter>& reloads_;
  prometheus::Family<prometheus::Gauge>& gauges_;
  prometheus::Family<prometheus::Gauge>& feature_age_;
  prometheus::Family<prometheus::Gauge>& event_time_;
  prometheus::Family<prometheus::Counter>& transactions_;
  prometheus::Family<prometheus::Gauge>& lag_;
  prometheus::Counter& reload_success_;
  prometheus::Counter& reload_failure_;
  prometheus::Gauge& model_age_;
  prometheus::Gauge& feature_age_value_;
  prometheus::Counter& transactions_value_;
  double transactions_counted_ = 0;  // what transactions_value_ holds; scrapes are serial
};

// One line per request, from any thread.
class RequestLog {
 public:
  explicit RequestLog(FILE* out, bool owned) : out_(out), owned_(owned) {}
  ~RequestLog() {
    if (owned_ && out_ != nullptr) std::fclose(out_);
  }
  RequestLog(const RequestLog&) = delete;
  RequestLog& operator=(const RequestLog&) = delete;

  static Result<std::unique_ptr<RequestLog>> Open(const std::string& where) {
    if (where.empty()) return std::make_unique<RequestLog>(nullptr, false);
    if (where == "-") return std::make_unique<RequestLog>(stderr, false);
    FILE* out = std::fopen(where.c_str(), "a");
    if (out == nullptr) {
      return Status::IoError("serve: cannot open the request log " + where + ": " +
                             std::strerror(errno));
    }
    return std::make_unique<RequestLog>(out, true);
  }

  void Write(const admin::AdminRequest& request, int status, double seconds,
             const std::string& body) {
    if (out_ == nullptr) return;
    std::string line = UtcNow() + " " + request.method + " " + request.path;
    if (!request.query.empty()) line += "?" + request.query;
    char figures[64];
    std::snprintf(figures, sizeof figures, " %d %.3f ms", status, seconds * 1000.0);
    line += figures;
    if (status >= 400) {
      // The reason the client was given (the detail of a 500 is on stderr under its id).
      const nlohmann::json error = nlohmann::json::parse(body, nullptr, false);
      if (error.is_object() && error.contains("error") && error["error"].is_string()) {
        line += " error=" + nlohmann::json(error["error"]).dump();
      }
    }
    line += "\n";
    std::lock_guard lock(mutex_);
    std::fputs(line.c_str(), out_);
    std::fflush(out_);
  }

 private:
  std::mutex mutex_;
  FILE* out_;
  bool owned_;
};

}  // namespace

Status RecommendServerOptions::Validate() const {
  if (snapshot.empty()) return Status::InvalidArgument("serve: --snapshot is required");
  TS_RETURN_IF_ERROR(index.Validate());
  if (!history_source) TS_RETURN_IF_ERROR(histories.Validate());
  if (threads < 0) return Status::InvalidArgument("serve: --threads must be >= 0");
  if (reload_interval.count() < 1) {
    return Status::InvalidArgument("serve: the reload interval must be positive");
  }
  if (max_k < 1) return Status::InvalidArgument("serve: max k must be >= 1");
  return Status::Ok();
}

class RecommendServer::Impl {
 public:
  Impl(const RecommendServerOptions& options, std::shared_ptr<HistorySource> histories,
       std::shared_ptr<Recommender> first, std::unique_ptr<RequestLog> log)
      : options_(options),
        histories_(std::move(histories)),
        log_(std::move(log)),
        current_(std::move(first)),
        workers_(static_cast<size_t>(options.threads > 0
                                         ? options.threads
                                         : std::max(1u, std::thread::hardware_concurrency()))) {}

  ~Impl() {
    watcher_.request_stop();
    wake_.notify_all();
    if (watcher_.joinable()) watcher_.join();
    server_.reset();  // answers what is still queued with 503
    workers_.join();
  }

  Status Listen() {
    admin::AdminServerOptions server_options;
    server_options.address = options_.address;
    server_options.require_token_beyond_loopback = false;
    server_options.max_connections = 256;
    // A front end or load balancer may pool many connections from one address.
    server_options.max_connections_per_client = 64;
    TS_ASSIGN_OR_RETURN(server_, admin::AdminServer::Start(
                                     server_options, [this](const admin::AdminRequest& request,
                                                            admin::Reply reply) {
                                       Handle(request, Observed(request, std::move(reply)));
                                     }));
    watcher_ = std::jthread([this](std::stop_token stop) { Watch(stop); });
    return Status::Ok();
  }

  std::shared_ptr<Recommender> Current() const {
    std::lock_guard lock(current_mutex_);
    return current_;
  }

  // Counts a failure for /status: a snapshot folder whose newest snapshot does not load is
  // served from the one in use, and the operator sees why.
  Result<bool> ReloadIfChanged() {
    std::lock_guard reload_lock(reload_mutex_);
    Result<bool> reloaded = Reload();
    std::lock_guard lock(current_mutex_);
    if (reloaded.ok()) {
      last_reload_error_.clear();
      if (*reloaded) metrics_.Reloaded(true);
    } else {
      ++reload_failures_;
      last_reload_error_ = reloaded.status().message();
      metrics_.Reloaded(false);
    }
    return reloaded;
  }

  Result<bool> Reload() {
    TS_ASSIGN_OR_RETURN(const std::filesystem::path latest,
                        snapshot::ResolveSnapshot(options_.snapshot));
    if (latest == Current()->dir()) return false;
    RecommenderOptions r;
    r.snapshot = latest;
    r.index = options_.index;
    TS_ASSIGN_OR_RETURN(std::unique_ptr<Recommender> next, Recommender::Load(r));
    {
      std::lock_guard lock(current_mutex_);
      current_ = std::move(next);
    }
    ++reloads_;
    std::fprintf(stderr, "towerstream serve: now answering from snapshot %s\n",
                 Current()->manifest().id.c_str());
    return true;
  }

  admin::AdminServer& server() { return *server_; }
  int64_t reloads() const { return reloads_; }
  const HistorySource& histories() const { return *histories_; }

 private:
  // `reply`, counted, timed and logged when it is sent (from whichever thread sends it).
  admin::Reply Observed(const admin::AdminRequest& request, admin::Reply reply) {
    auto inner = std::make_shared<admin::Reply>(std::move(reply));
    return admin::Reply(
        [this, inner, request, started = Clock::now()](admin::AdminResponse response) {
          const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
          metrics_.Request(EndpointOf(request.path), response.status, seconds);
          log_->Write(request, response.status, seconds, response.body);
          (*inner)(std::move(response));
        });
  }

  void Watch(std::stop_token stop) {
    std::string last_error;
    while (!stop.stop_requested()) {
      {
        std::unique_lock lock(wake_mutex_);
        wake_.wait_for(lock, stop, options_.reload_interval, [] { return false; });
      }
      if (stop.stop_requested()) break;
      const Result<bool> reloaded = ReloadIfChanged();
      if (!reloaded.ok() && reloaded.status().message() != last_error) {
        // Once per distinct error: a broken snapshot stays broken until the next one lands.
        last_error = reloaded.status().message();
        std::fprintf(stderr, "towerstream serve: keeping snapshot %s: %s\n",
                     Current()->manifest().id.c_str(), last_error.c_str());
      } else if (reloaded.ok()) {
        last_error.clear();
      }
    }
  }

  void Handle(const admin::AdminRequest& request, admin::Reply reply) {
    if (request.path == "/healthz") {
      reply({200, "application/json", R"({"ok":true})"});
      return;
    }
    if (request.method != "GET") {
      ++refused_;
      reply(admin::JsonError(405, request.path + " takes GET"));
      return;
    }
    if (request.path == "/metrics") {
      const std::shared_ptr<Recommender> r = Current();
      reply({200, "text/plain; version=0.0.4; charset=utf-8",
             metrics_.Scrape(r->manifest(), histories_->Freshness())});
      return;
    }
    if (request.path == "/status") {
      const std::shared_ptr<Recommender> r = Current();
      int64_t reload_failures = 0;
      nlohmann::json last_reload_error = nullptr;
      {
        std::lock_guard lock(current_mutex_);
        reload_failures = reload_failures_;
        if (!last_reload_error_.empty()) last_reload_error = last_reload_error_;
      }
      const nlohmann::json status = {{"snapshot", r->manifest().id},
                                     {"snapshot_dir", r->dir().string()},
                                     {"snapshot_step", r->manifest().step},
                                     {"catalogue", r->index().size()},
                                     {"approximate_search", r->index().approximate()},
                                     {"ranker", r->ranker().Describe()},
                                     {"reloads", reloads_.load()},
                                     {"reload_failures", reload_failures},
                                     {"last_reload_error", last_reload_error},
                                     {"served", served_.load()},
                                     {"refused", refused_.load()},
                                     {"histories", HistoriesJson()}};
      reply({200, "application/json", status.dump()});
      return;
    }
    if (request.path != "/recommend") {
      ++refused_;
      reply(admin::JsonError(
          404, "no such endpoint: " + request.path + " (try /recommend?customer_id=...&k=12)"));
      return;
    }
    Result<std::map<std::string, std::string>> params = admin::ParseQuery(request.query);
    if (!params.ok()) {
      ++refused_;
      reply(admin::JsonError(400, params.status().message()));
      return;
    }
    const auto id = params->find("customer_id");
    if (id == params->end() || !hm::IsValidCustomerId(id->second)) {
      ++refused_;
      reply(admin::JsonError(400, "customer_id must be 64 lowercase hex characters"));
      return;
    }
    int64_t k = 12;
    if (const auto it = params->find("k"); it != params->end()) {
      const std::string& text = it->second;
      const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), k);
      if (error != std::errc() || end != text.data() + text.size() || k < 1 || k > options_.max_k) {
        ++refused_;
        reply(admin::JsonError(
            400, "k must be an integer in [1, " + std::to_string(options_.max_k) + "]"));
        return;
      }
    }
    bool exclude = false;
    if (const auto it = params->find("exclude_purchased"); it != params->end()) {
      if (it->second != "0" && it->second != "1") {
        ++refused_;
        reply(admin::JsonError(400, "exclude_purchased must be 0 or 1"));
        return;
      }
      exclude = it->second == "1";
    }
    boost::asio::post(
        workers_, [this, customer_id = id->second, k, exclude, reply = std::move(reply)]() mutable {
          // An exception here would end the worker thread: it becomes a 500 like any failure.
          try {
            reply(Recommend(customer_id, k, exclude));
          } catch (const std::exception& e) {
            reply(admin::InternalError("serve", e.what()));
          }
        });
  }

  // How fresh the histories are: /status shows it, every answer carries its dates.
  nlohmann::json HistoriesJson() const {
    // Freshness takes no lock the histories' updates hold: /status runs on the io thread.
    const HistoryFreshness f = histories_->Freshness();
    nlohmann::json j = {
        {"source", f.source},         {"as_of", f.as_of.ToString()},
        {"newest_purchase", nullptr}, {"seconds_since_change", SecondsSince(f.changed)},
        {"customers", f.customers},   {"customers_with_history", f.customers_with_history},
        {"caught_up", f.caught_up}};
    if (f.newest_purchase) j["newest_purchase"] = f.newest_purchase->ToString();
    if (f.source != "csv") {
      j["transactions_applied"] = f.transactions;
      j["bad_events_skipped"] = f.bad_events;
      j["lag_messages"] = f.lag ? nlohmann::json(*f.lag) : nlohmann::json(nullptr);
    }
    return j;
  }

  admin::AdminResponse Recommend(const std::string& customer_id, int64_t k, bool exclude) {
    const std::shared_ptr<Recommender> recommender = Current();
    const int64_t key = model::CustomerKey(customer_id);
    Result<std::vector<ScoredArticle>> found = Status::Internal("not run");
    nlohmann::json body;
    // One consistent view of the histories for the query, its answer and its dates.
    histories_->Read([&](const CustomerHistories& histories) {
      found = recommender->Recommend(histories, key, k, exclude);
      if (!found.ok()) return;
      nlohmann::json recommendations = nlohmann::json::array();
      for (const ScoredArticle& a : *found) {
        nlohmann::json item = {{"article_id", hm::FormatArticleId(a.article_id)},
                               {"score", a.score}};
        if (const ArticleDescription* d = histories.Describe(a.article_id)) {
          item["name"] = d->name;
          item["type"] = d->type;
          item["colour"] = d->colour;
        }
        recommendations.push_back(std::move(item));
      }
      nlohmann::json recent = nlohmann::json::array();
      for (const hm::ArticleId a : histories.RecentPurchases(key)) {
        recent.push_back(hm::FormatArticleId(a));
      }
      const std::optional<Date> newest = histories.newest_purchase();
      body = {{"customer_id", customer_id},
              {"known", histories.Knows(key)},
              {"as_of", histories.as_of().ToString()},
              {"newest_purchase",
               newest ? nlohmann::json(newest->ToString()) : nlohmann::json(nullptr)},
              {"snapshot", recommender->manifest().id},
              {"k", k},
              {"recent_purchases", std::move(recent)},
              {"recommendations", std::move(recommendations)}};
    });
    if (!found.ok()) return admin::InternalError("serve", found.status().ToString());
    body["history_source"] = histories_->Freshness().source;
    ++served_;
    return {200, "application/json", body.dump()};
  }

  const RecommendServerOptions options_;
  const std::shared_ptr<HistorySource> histories_;
  const std::unique_ptr<RequestLog> log_;
  ServeMetrics metrics_;
  mutable std::mutex current_mutex_;
  std::shared_ptr<Recommender> current_;
  std::mutex reload_mutex_;  // one reload at a time (watcher and ReloadIfChanged callers)
  std::atomic<int64_t> reloads_{0};
  int64_t reload_failures_ = 0;    // guarded by current_mutex_
  std::string last_reload_error_;  // guarded by current_mutex_; empty after a success
  std::atomic<int64_t> served_{0};
  std::atomic<int64_t> refused_{0};
  boost::asio::thread_pool workers_;
  std::unique_ptr<admin::AdminServer> server_;
  std::mutex wake_mutex_;
  std::condition_variable_any wake_;
  std::jthread watcher_;
};

Result<std::unique_ptr<RecommendServer>> RecommendServer::Start(
    const RecommendServerOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  TS_ASSIGN_OR_RETURN(std::unique_ptr<RequestLog> log, RequestLog::Open(options.request_log));
  RecommenderOptions r;
  r.snapshot = options.snapshot;
  r.index = options.index;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<Recommender> first, Recommender::Load(r));
  const auto history_length = static_cast<size_t>(first->history_length());
  std::shared_ptr<HistorySource> source;
  if (options.history_source) {
    TS_ASSIGN_OR_RETURN(source, options.history_source(history_length));
  } else {
    CustomerHistoryOptions history_options = options.histories;
    history_options.history_length = history_length;
    TS_ASSIGN_OR_RETURN(CustomerHistories histories, CustomerHistories::Load(history_options));
    source = std::make_shared<FixedHistories>(std::move(histories));
  }
  auto impl = std::make_unique<Impl>(options, std::move(source), std::move(first), std::move(log));
  TS_RETURN_IF_ERROR(impl->Listen());
  return std::unique_ptr<RecommendServer>(new RecommendServer(std::move(impl)));
}

RecommendServer::RecommendServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
RecommendServer::~RecommendServer() = default;

const std::string& RecommendServer::address() const { return impl_->server().address(); }
int RecommendServer::port() const { return impl_->server().port(); }
std::string RecommendServer::snapshot_id() const { return impl_->Current()->manifest().id; }
int64_t RecommendServer::reloads() const { return impl_->reloads(); }
Result<bool> RecommendServer::ReloadIfChanged() { return impl_->ReloadIfChanged(); }
const HistorySource& RecommendServer::histories() const { return impl_->histories(); }

}  // namespace towerstream::serving
