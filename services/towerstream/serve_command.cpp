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
#include "services/towerstream/cli_support.h"
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
  std::string request_log = "-";
};

int Fail(int code, const std::string& message) { return cli::Fail("serve", code, message); }

int RunServe(const ServeArgs& args) {
  if (Status usage = args.source.Check(); !usage.ok()) return Fail(kUsageExit, usage.message());
  serving::RecommendServerOptions options;
  options.snapshot = args.source.snapshot;
  Result<serving::CustomerHistoryOptions> histories = HistoryOptionsFrom(args.source);
  if (!histories.ok()) return Fail(kUsageExit, histories.status().message());
  options.histories = *histories;
  const bool ipv6 = args.host.find(':') != std::string::npos;
  options.address = (ipv6 ? "[" + args.host + "]" : args.host) + ":" + std::to_string(args.port);
  options.threads = args.threads;
  options.reload_interval =
      std::chrono::milliseconds(static_cast<int64_t>(std::max(0.001, args.reload_seconds) * 1000));
  options.index.exact_below = args.exact_below;
  options.request_log = args.request_log;
  // Before any thread starts, so that every later one has the signals blocked.
  SignalStopper stopper("serve", "closing connections");
  if (args.source.FromKafka()) {
    // The histories follow the topics from the first snapshot's history length on.
    options.history_source =
        [&](size_t history_length) -> Result<std::shared_ptr<serving::HistorySource>> {
      TS_ASSIGN_OR_RETURN(
          std::unique_ptr<serving::LiveHistories> live,
          StartLiveHistories(args.source, "serve", history_length, stopper.token()));
      return std::shared_ptr<serving::HistorySource>(std::move(live));
    };
  }
  std::fprintf(stderr, "towerstream serve: loading %s%s%s\n", args.source.snapshot.c_str(),
               args.source.FromKafka() ? "" : " and the histories of ",
               args.source.FromKafka() ? "" : args.source.data.c_str());
  const auto started = std::chrono::steady_clock::now();
  Result<std::unique_ptr<serving::RecommendServer>> server =
      serving::RecommendServer::Start(options);
  if (!server.ok()) {
    if (stopper.signal() != 0) return 128 + stopper.signal();
    return Fail(1, server.status().message());
  }
  std::fprintf(stderr,
               "towerstream serve: snapshot %s ready in %.1f s; listening on http://%s "
               "(GET /recommend?customer_id=ID&k=12, /status, /metrics, /healthz)\n",
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
      "the k best articles of the snapshot's catalogue for the customer's query (features and "
      "last purchases: from the H&M files with --data, or from the pipeline's topics with "
      "--kafka, where a purchase changes the customer's next answer within a second). Follows "
      "the snapshot folder's LATEST: a new snapshot is loaded beside the one in use and "
      "swapped in without dropping a request.");
  cmd->footer(
      "Endpoints: GET /recommend?customer_id=<64 hex>&k=<1..1000>[&exclude_purchased=1], "
      "GET /status (snapshot in use, reloads, requests, how fresh the histories are), GET "
      "/metrics (Prometheus), GET /healthz. Bad requests get 4xx with {\"error\": reason}. "
      "Each answer says as of which day (as_of) and, with --kafka, the event time of the newest "
      "purchase applied (newest_purchase).\n"
      "Examples:\n"
      "  towerstream serve --snapshot snapshots/ --data data/ --port 8080\n"
      "  towerstream serve --snapshot snapshots/ --kafka bootstrap.servers=127.0.0.1:9092 "
      "--port 8080\n"
      "  curl 'http://127.0.0.1:8080/recommend?customer_id=ID&k=12'");
  AddQuerySourceFlags(cmd, &args->source,
                      "A snapshot folder (its LATEST, followed) or one snapshot directory");
  cmd->add_option("--host", args->host,
                  "Address to listen on (the server is read-only: no token is asked)")
      ->capture_default_str();
  cmd->add_option("--port", args->port, "Port to listen on (0: any free port)")
      ->capture_default_str()
      ->check(InRange(0, 65535));
  cmd->add_option("--threads", args->threads, "Workers answering requests (0: every core)")
      ->capture_default_str()
      ->check(NonNegative());
  cmd->add_option("--reload-every", args->reload_seconds, "Seconds between checks of LATEST")
      ->capture_default_str()
      ->check(Positive());
  cmd->add_option("--exact-below", args->exact_below,
                  "Catalogues smaller than this are searched exactly; larger ones through an "
                  "HNSW graph")
      ->capture_default_str()
      ->check(NonNegative());
  cmd->add_option("--request-log", args->request_log,
                  "Where to log one line per request (time, target, status, milliseconds, the "
                  "reason of a refusal): '-' for stderr, '' for none, or a file to append to")
      ->capture_default_str()
      ->type_name("FILE");
  cmd->callback([args, exit_code] { *exit_code = RunServe(*args); });
}

}  // namespace towerstream::cli
