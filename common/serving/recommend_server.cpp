#include "common/serving/recommend_server.h"

#include <atomic>
#include <charconv>
#include <condition_variable>
#include <cstdio>
#include <map>
#include <mutex>
#include <stop_token>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>
#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"
#include "common/admin/query_string.h"
#include "common/serving/recommender.h"

namespace towerstream::serving {
namespace {}  // namespace

Status RecommendServerOptions::Validate() const {
  if (snapshot.empty()) return Status::InvalidArgument("serve: --snapshot is required");
  TS_RETURN_IF_ERROR(index.Validate());
  TS_RETURN_IF_ERROR(histories.Validate());
  if (threads < 0) return Status::InvalidArgument("serve: --threads must be >= 0");
  if (reload_interval.count() < 1) {
    return Status::InvalidArgument("serve: the reload interval must be positive");
  }
  if (max_k < 1) return Status::InvalidArgument("serve: max k must be >= 1");
  return Status::Ok();
}

class RecommendServer::Impl {
 public:
  Impl(const RecommendServerOptions& options, std::shared_ptr<const CustomerHistories> histories,
       std::shared_ptr<Recommender> first)
      : options_(options),
        histories_(std::move(histories)),
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
                                       Handle(request, std::move(reply));
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
    } else {
      ++reload_failures_;
      last_reload_error_ = reloaded.status().message();
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

 private:
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
                                     {"as_of", histories_->as_of().ToString()},
                                     {"customers", histories_->customers()}};
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

  admin::AdminResponse Recommend(const std::string& customer_id, int64_t k, bool exclude) {
    const std::shared_ptr<Recommender> recommender = Current();
    const int64_t key = model::CustomerKey(customer_id);
    const model::Example query = histories_->QueryFor(key);
    Result<std::vector<ScoredArticle>> found = recommender->Recommend(*histories_, key, k, exclude);
    if (!found.ok()) return admin::InternalError("serve", found.status().ToString());
    nlohmann::json recommendations = nlohmann::json::array();
    for (const ScoredArticle& a : *found) {
      nlohmann::json item = {{"article_id", hm::FormatArticleId(a.article_id)}, {"score", a.score}};
      if (const ArticleDescription* d = histories_->Describe(a.article_id)) {
        item["name"] = d->name;
        item["type"] = d->type;
        item["colour"] = d->colour;
      }
      recommendations.push_back(std::move(item));
    }
    nlohmann::json recent = nlohmann::json::array();
    for (const hm::ArticleId a : query.recent_article_ids) recent.push_back(hm::FormatArticleId(a));
    const nlohmann::json body = {{"customer_id", customer_id},
                                 {"known", histories_->Knows(key)},
                                 {"as_of", histories_->as_of().ToString()},
                                 {"snapshot", recommender->manifest().id},
                                 {"k", k},
                                 {"recent_purchases", std::move(recent)},
                                 {"recommendations", std::move(recommendations)}};
    ++served_;
    return {200, "application/json", body.dump()};
  }

  const RecommendServerOptions options_;
  const std::shared_ptr<const CustomerHistories> histories_;
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
  RecommenderOptions r;
  r.snapshot = options.snapshot;
  r.index = options.index;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<Recommender> first, Recommender::Load(r));
  CustomerHistoryOptions history_options = options.histories;
  history_options.history_length = static_cast<size_t>(first->history_length());
  TS_ASSIGN_OR_RETURN(CustomerHistories histories, CustomerHistories::Load(history_options));
  auto impl = std::make_unique<Impl>(
      options, std::make_shared<const CustomerHistories>(std::move(histories)), std::move(first));
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

}  // namespace towerstream::serving
