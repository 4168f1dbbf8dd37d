// `towerstream serve`: recommendations over HTTP from the latest snapshot.
//
//   GET /recommend?customer_id=<64 hex>&k=<1..max_k>[&exclude_purchased=1]  -> JSON
//   GET /healthz                                                           -> {"ok":true}
//   GET /status       snapshot in use, reloads, requests served and refused, history freshness
//   GET /metrics      Prometheus: requests by endpoint and code, latency, reloads, model and
//                     feature age (docs/design.md §9)
//
// Requests are parsed on the HTTP server's io thread and answered on a pool of workers. When
// `snapshot` is a snapshot folder, a watcher thread polls its LATEST and, when it names a new
// snapshot, loads it and builds its index beside the one in use, then swaps them: requests in
// flight finish on the old one, none waits. A snapshot that fails to load is logged and the
// previous one stays. Queries come from a HistorySource: the CSV files read once, or histories
// that follow the stream (serving::LiveHistories). Bad requests get 4xx with {"error": reason};
// every request is logged on one line (request_log). Neither copyable nor movable; the
// destructor stops the watcher, the server and the workers.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "common/base/status.h"
#include "common/serving/customer_histories.h"
#include "common/serving/history_source.h"
#include "common/serving/item_index.h"

namespace towerstream::serving {

struct RecommendServerOptions {
  // A snapshot folder (watched: its LATEST is followed) or one snapshot directory (fixed).
  std::filesystem::path snapshot;
  // Where queries come from when `history_source` is unset: the H&M files, read once;
  // history_length is taken from the first snapshot.
  CustomerHistoryOptions histories;
  // Where queries come from when set (serve --kafka: histories that follow the stream); it is
  // given the first snapshot's history length.
  HistorySourceFactory history_source;
  ItemIndexOptions index;
  // HOST:PORT; port 0 picks a free one (tests). Read-only, so no token is required.
  std::string address = "127.0.0.1:8080";
  // Workers answering /recommend; 0: every core.
  int threads = 0;
  // How often LATEST is checked.
  std::chrono::milliseconds reload_interval{5000};
  // Largest k a request may ask for.
  int64_t max_k = 1000;
  // One line per request (time, method, target, status, milliseconds; the reason of a refusal):
  // "-" for stderr, "" for none, otherwise a file appended to.
  std::string request_log = "-";

  Status Validate() const;
};

class RecommendServer {
 public:
  // Loads the snapshot and the customer histories (failing if either cannot be), then listens.
  static Result<std::unique_ptr<RecommendServer>> Start(const RecommendServerOptions& options);
  ~RecommendServer();
  RecommendServer(const RecommendServer&) = delete;
  RecommendServer& operator=(const RecommendServer&) = delete;

  const std::string& address() const;
  int port() const;
  // The id of the snapshot answering now.
  std::string snapshot_id() const;
  int64_t reloads() const;
  // The source of the queries (to read how fresh its histories are).
  const HistorySource& histories() const;
  // Checks LATEST now (the watcher does it every reload_interval): true when a new snapshot
  // was loaded and now answers.
  Result<bool> ReloadIfChanged();

 private:
  class Impl;
  explicit RecommendServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace towerstream::serving
