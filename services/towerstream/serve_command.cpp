// `towerstream serve`: recommendations over HTTP from the latest snapshot, until SIGINT/SIGTERM.
#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/serving/recommend_server.h"
#include "services/towerstream/commands.h"
#include "services/towerstream/serving_flags.h"
#include "services/towerstream/signal_stopper.h"

namespace towerstream::cli {
namespace {

struct ServeArgs {
  QuerySourceFlags source;
  std::string host = "127.0.0.1";
  int port = 8080;
  int threads = 0;
  double reload_seconds = 5;
  int64_t exact_below = serving::ItemIndexOptions().exact_below;
};

int Fail(int code, const std::string& message) {
  std::fprintf(stderr, "towerstream serve: %s\n", message.c_str());
  return code;
}

int RunServe(const ServeArgs& args) {
  serving::RecommendServerOptions options;
  options.snapshot = args.source.snapshot;
  Result<serving::CustomerHistoryOptions> histories = HistoryOptionsFrom(args.source);
  if (!histories.ok()) return Fail(2, histories.status().message());
  options.histories = *histories;
  const bool ipv6 = args.host.find(':') != std::string::npos;
  options.address = (ipv6 ? "[" + args.host + "]" : args.host) + ":" + std::to_string(args.port);
  options.threads = args.threads;
  options.reload_interval =
      std::chrono::milliseconds(static_cast<int64_t>(std::max(0.001, args.reload_seconds) * 1000));
  options.index.exact_below = args.exact_below;
  // Before any thread starts, so that every later one has the signals blocked.
  SignalStopper stopper("serve", "closing connections");
  std::fprintf(stderr, "towerstream serve: loading %s and the histories of %s\n",
               args.source.snapshot.c_str(), args.source.data.c_str());
  const auto started = std::chrono::steady_clock::now();
  Result<std::unique_ptr<serving::RecommendServer>> server =
      serving::RecommendServer::Start(options);
  if (!server.ok()) return Fail(1, server.status().message());
  std::fprintf(stderr,
               "towerstream serve: snapshot %s ready in %.1f s; listening on http://%s "
               "(GET /recommend?customer_id=ID&k=12, /status, /healthz)\n",
               (*server)->snapshot_id().c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
               (*server)->address().c_str());
  std::mutex mutex;
  std::condition_variable_any stopped;
  std::unique_lock lock(mutex);
  stopped.wait(lock, stopper.token(), [] { return false; });
  std::fprintf(stderr, "towerstream serve: stopped\n");
  return 128 + stopper.signal();
}

}  // namespace

void AddServeCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ServeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "serve",
      "Serve recommendations over HTTP: GET /recommend?customer_id=ID&k=12 answers JSON with "
      "the k nearest articles of the snapshot's catalogue to the customer's query (features "
      "and last purchases from the H&M files). Follows the snapshot folder's LATEST: a new "
      "snapshot is loaded beside the one in use and swapped in without dropping a request.");
  cmd->footer(
      "Endpoints: GET /recommend?customer_id=<64 hex>&k=<1..1000>[&exclude_purchased=1], "
      "GET /status (snapshot in use, reloads, requests), GET /healthz. Bad requests get 4xx "
      "with {\"error\": reason}.\n"
      "Examples:\n"
      "  towerstream serve --snapshot snapshots/ --data data/ --port 8080\n"
      "  curl 'http://127.0.0.1:8080/recommend?customer_id=ID&k=12'");
  AddQuerySourceFlags(cmd, &args->source,
                      "A snapshot folder (its LATEST, followed) or one snapshot directory");
  cmd->add_option("--host", args->host,
                  "Address to listen on (the server is read-only: no token is asked)")
      ->capture_default_str();
  cmd->add_option("--port", args->port, "Port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--threads", args->threads, "Workers answering requests (0: every core)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--reload-every", args->reload_seconds, "Seconds between checks of LATEST")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--exact-below", args->exact_below,
                  "Catalogues smaller than this are searched exactly; larger ones through an "
                  "HNSW graph")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->callback([args, exit_code] { *exit_code = RunServe(*args); });
}

}  // namespace towerstream::cli
