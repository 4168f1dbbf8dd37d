// `towerstream trainer`: the streaming trainer service over hm.examples (common/trainer).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "common/base/date.h"
#include "common/evaluation/ranker_fit.h"
#include "common/kafka/kafka_config.h"
#include "common/metrics/metrics_server.h"
#include "common/replay/data_files.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/trainer.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"
#include "services/towerstream/model_flags.h"
#include "services/towerstream/service_flags.h"
#include "services/towerstream/signal_stopper.h"

namespace towerstream::cli {
namespace {

struct TrainerArgs {
  trainer::TrainerOptions options;
  ModelFlags model;
  KafkaFlags kafka;
  int64_t max_batch_delay_ms = 1000;
  int64_t order_wait_ms = 2000;
  std::string metrics_address = std::string(metrics::kTrainerAddress);
  std::string ranker_data;
  std::string ranker_until;
  int64_t collective_timeout_s = 120;
  int64_t rendezvous_timeout_s = 600;
  bool admin_address_given = false;
  bool metrics_address_given = false;
};

// "HOST:PORT" with PORT moved up by `by`, so that the ranks of a group on one machine do not
// share the default admin and metrics ports ("" and port 0 stay as they are). The stride of
// 100 per rank keeps clear of the other services' defaults (9403-9405).
std::string ShiftPort(const std::string& address, int by) {
  const size_t colon = address.rfind(':');
  if (by == 0 || colon == std::string::npos) return address;
  const int port = std::atoi(address.c_str() + colon + 1);
  if (port == 0) return address;
  return address.substr(0, colon + 1) + std::to_string(port + by);
}

int Fail(int code, const std::string& message) { return cli::Fail("trainer", code, message); }

int RunTrainer(TrainerArgs& args) {
  // First, before LibTorch, librdkafka or the HTTP servers start threads: they must inherit
  // the blocked signals. SIGUSR1 asks the trainer (once it exists) for a snapshot.
  // Declared before the stopper, so that its watcher thread is gone before the trainer is.
  std::unique_ptr<trainer::Trainer> trainer;
  std::atomic<trainer::Trainer*> running{nullptr};
  std::atomic<bool> usr1_early{false};
  SignalStopper stopper("trainer", "finishing the micro-batch in hand and writing a snapshot", [&] {
    if (trainer::Trainer* t = running.load()) {
      t->RequestSnapshot();
    } else {
      usr1_early.store(true);
    }
  });
  trainer::TrainerOptions& options = args.options;
  Result<kafka::KafkaConfig> kafka = args.kafka.ToConfig();
  if (!kafka.ok()) return Fail(2, kafka.status().message());
  options.kafka = std::move(kafka).value();
  Result<trainer::SessionOptions> session = SessionOptionsFrom(args.model);
  if (!session.ok()) return Fail(2, session.status().message());
  options.session = *session;
  Result<trainer::SnapshotEvery> every = SnapshotEveryFrom(args.model);
  if (!every.ok()) return Fail(2, every.status().message());
  options.snapshot_every = *every;
  options.max_batch_delay = std::chrono::milliseconds(args.max_batch_delay_ms);
  options.order_by_event_time = args.order_wait_ms > 0;
  if (options.order_by_event_time) {
    options.order.idle_after = std::chrono::milliseconds(args.order_wait_ms);
  }
  // A partition holds up to 64 micro-batches before its fetching pauses: pausing drops what
  // librdkafka prefetched for it, and pausing every few batches made catching up on
  // `make demo-stream`'s topic 2.6x slower; this holds at most ~100 MB of decoded examples.
  options.order.max_buffered = std::max<int64_t>(64 * options.batch_size, 16'384);
  if (!args.ranker_data.empty()) {
    // The validation week ends where the trainer's data is meant to end: --ranker-until, or
    // the end of the files (then the week is their last one).
    Date until;
    if (!args.ranker_until.empty()) {
      Result<Date> parsed = Date::Parse(args.ranker_until);
      if (!parsed.ok()) return Fail(2, "--ranker-until: " + parsed.status().message());
      until = *parsed;
    } else {
      Result<replay::DataFiles> files = replay::FindDataFiles(args.ranker_data);
      if (!files.ok()) return Fail(2, "--ranker-data: " + files.status().message());
      if (files->transactions.empty()) {
        return Fail(2, files->Missing("--ranker-data", "transactions", args.ranker_data).message());
      }
      Result<Date> last = trainer::LastTransactionDate(files->transactions);
      if (!last.ok()) return Fail(1, last.status().message());
      until = *last + 1;
    }
    options.ranker_week_start = until + (-options.ranker_days);
    options.fit_ranker = [&args](model::TwoTowerModel& model, Date week_start,
                                 Date week_end) -> Result<ranking::Ranker> {
      evaluation::RankerFitWeekOptions fit;
      fit.data_dir = args.ranker_data;
      fit.week_start = week_start;
      fit.days = week_end - week_start;
      fit.history_length = args.model.history_length;
      fit.progress = false;
      return evaluation::FitRankerOnWeek(model, fit);
    };
  }
  distributed::GroupOptions& group = options.parallel;
  group.collective_timeout = std::chrono::seconds(args.collective_timeout_s);
  group.rendezvous_timeout = std::chrono::seconds(args.rendezvous_timeout_s);
  if (group.world_size > 1) {
    if (!args.admin_address_given) {
      options.admin_address = ShiftPort(options.admin_address, 100 * group.rank);
    }
    if (!args.metrics_address_given) {
      args.metrics_address = ShiftPort(args.metrics_address, 100 * group.rank);
    }
  }
  options.session.run_params = {{"mode", "stream"},
                                {"batch_size", std::to_string(options.batch_size)},
                                {"max_batch_delay_ms", std::to_string(args.max_batch_delay_ms)},
                                {"order_wait_ms", std::to_string(args.order_wait_ms)},
                                {"topic_prefix", options.topic_prefix},
                                {"group", options.group},
                                {"world_size", std::to_string(group.world_size)}};
  if (Status s = options.Validate(); !s.ok()) return Fail(2, s.message());
  const int threads = ApplyThreads(args.model);

  auto registry = std::make_shared<prometheus::Registry>();
  Result<std::unique_ptr<metrics::MetricsServer>> server =
      StartServiceMetrics("trainer", args.metrics_address, trainer::kServiceName, registry);
  if (!server.ok()) return Fail(1, server.status().message());
  std::fprintf(stderr,
               "towerstream trainer: training on %s with %d thread(s), snapshots in %s (%s)\n",
               options.session.model.device.str().c_str(), threads, args.model.snapshot_dir.c_str(),
               trainer::DescribeSnapshotEvery(options.snapshot_every).c_str());
  Result<std::unique_ptr<trainer::Trainer>> created = trainer::Trainer::Create(options, *registry);
  if (!created.ok()) return Fail(1, created.status().message());
  trainer = std::move(created).value();
  running.store(trainer.get());
  if (usr1_early.load()) trainer->RequestSnapshot();
  const Status status = trainer->Run(stopper.token());
  if (!status.ok()) return Fail(1, status.message());
  return 0;
}

}  // namespace

void AddTrainerCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TrainerArgs>();
  CLI::App* cmd = app.add_subcommand(
      "trainer",
      "Train the two-tower model continuously on hm.examples (what `towerstream ingest` "
      "writes): micro-batches of --batch-size examples, each scored against every article "
      "before training on it (progressive recall@12 and @100), Prometheus metrics, an admin "
      "HTTP API, and snapshots from which it resumes exactly.");
  cmd->footer(
      "Admin API (127.0.0.1:9404 by default; beyond loopback --admin-token is required and "
      "checked as a bearer token): POST /snapshot answers with the id of a durable snapshot; "
      "GET /status gives step, events, rates, offsets and the last snapshot; GET /healthz.\n"
      "Snapshots: every --snapshot-every, on POST /snapshot or `towerstream snapshot`, on "
      "SIGUSR1, and on SIGINT/SIGTERM before exiting. On start it resumes from LATEST in "
      "--snapshot-dir and reads each partition from the offset after the last trained "
      "example, so every example is trained exactly once.\n"
      "Undecodable examples go to hm.dlq with their reason (dlq.reason).\n"
      "Trainer group (--world-size N, one process per --rank): every rank reads its share of the "
      "partitions, all step together; POST /snapshot to rank 0 (or SIGUSR1 to any rank) "
      "snapshots the group at one step, SIGTERM to any rank stops them all after it. If a rank "
      "dies the others rejoin and wait for it (restart it with the same flags), then the group "
      "resumes from the last complete snapshot. A group's snapshot serves and evaluates like a "
      "single trainer's, and resumes in a group of the same size (or in a single trainer).\n"
      "Exit status: 0 stopped by SIGINT/SIGTERM after its snapshot, 1 failed, 2 bad usage.\n"
      "Examples:\n"
      "  towerstream trainer --kafka bootstrap.servers=127.0.0.1:9092 --snapshot-dir snapshots/\n"
      "  towerstream snapshot --trainer 127.0.0.1:9404\n"
      "  towerstream trainer --kafka bootstrap.servers=B --snapshot-dir snapshots/ --world-size 2 "
      "--rank 0  (and --rank 1 beside it)\n"
      "  towerstream evaluate --snapshot snapshots/ --data data/");
  AddKafkaFlags(cmd, &args->kafka);
  cmd->add_option("--topic-prefix", args->options.topic_prefix,
                  "Put in front of every topic name and the consumer group")
      ->type_name("PREFIX");
  cmd->add_option("--group", args->options.group,
                  "Consumer group the snapshot offsets are committed to (for lag tools)")
      ->capture_default_str();
  cmd->add_option("--batch-size", args->options.batch_size,
                  "Most examples per micro-batch (training step)")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("N");
  cmd->add_option("--max-batch-delay-ms", args->max_batch_delay_ms,
                  "Longest a micro-batch waits to fill up before it is trained as it is")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("MS");
  cmd->add_option("--order-wait-ms", args->order_wait_ms,
                  "Examples are trained in event-time order across the partitions, as `train` "
                  "reads the file; a partition behind in event time holds the others' newer "
                  "examples back until it delivers, or for at most this long once it delivers "
                  "nothing (0: train in the order the consumer delivers)")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("MS");
  cmd->add_option("--ranker-data", args->ranker_data,
                  "The H&M files the stream comes from: when the stream reaches the validation "
                  "week (the --ranker-days before --ranker-until), the ranker is fitted on it from "
                  "these files, as `train` does, and later snapshots carry it; without it they "
                  "rank by the towers alone")
      ->check(CLI::ExistingDirectory)
      ->type_name("DIR");
  cmd->add_option("--ranker-until", args->ranker_until,
                  "End (exclusive) of the validation week; default: the day after the files' "
                  "last (replay --until's date when the last week is held out)")
      ->type_name("YYYY-MM-DD");
  cmd->add_option("--ranker-days", args->options.ranker_days, "Length of the validation week")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("N");
  cmd->add_option("--admin-address", args->options.admin_address,
                  "Admin HTTP API on HOST:PORT (port 0: any free port; '' : off)")
      ->capture_default_str()
      ->type_name("ADDR");
  cmd->add_option("--admin-token", args->options.admin_token,
                  "Bearer token the admin API requires (required beyond loopback)")
      ->type_name("TOKEN");
  AddMetricsAddressFlag(cmd, &args->metrics_address);
  distributed::GroupOptions& group = args->options.parallel;
  cmd->add_option("--world-size", group.world_size,
                  "Trainers in a data-parallel group (1: a single trainer). Each rank reads the "
                  "hm.examples partitions p with p % world-size == rank, so each customer is "
                  "trained on one rank; the ranks step together, exchanging the towers' gradients "
                  "and the article rows' updates over Gloo")
      ->capture_default_str()
      ->check(Positive())
      ->group("Trainer group")
      ->type_name("N");
  cmd->add_option("--rank", group.rank,
                  "This trainer's rank in the group, 0 to world-size - 1. Rank 0 hosts the "
                  "rendezvous, writes the group's snapshots (--snapshot-dir must be one folder "
                  "all ranks reach) and answers POST /snapshot for the group. Without "
                  "--admin-address and --metrics-address, rank R serves them on the default "
                  "ports + 100 x R")
      ->capture_default_str()
      ->check(NonNegative())
      ->group("Trainer group")
      ->type_name("R");
  cmd->add_option("--rendezvous", group.rendezvous,
                  "HOST:PORT where rank 0 hosts the group's rendezvous store (c10d TCPStore)")
      ->capture_default_str()
      ->group("Trainer group")
      ->type_name("HOST:PORT");
  cmd->add_option("--bind-address", group.bind_address,
                  "Address this rank's Gloo transport listens on for the others (loopback by "
                  "default; ranks on several machines need one the others reach)")
      ->capture_default_str()
      ->group("Trainer group")
      ->type_name("ADDR");
  cmd->add_option("--collective-timeout", args->collective_timeout_s,
                  "Seconds a step's exchange may wait for the slowest rank: a rank dead or hung "
                  "longer makes the others leave, rejoin and resume from the last complete "
                  "snapshot (a killed rank is noticed at once)")
      ->capture_default_str()
      ->check(Positive())
      ->group("Trainer group")
      ->type_name("S");
  cmd->add_option("--rendezvous-timeout", args->rendezvous_timeout_s,
                  "Seconds to wait for every rank to (re)join the group before giving up "
                  "(exit 1)")
      ->capture_default_str()
      ->check(Positive())
      ->group("Trainer group")
      ->type_name("S");
  AddModelFlags(cmd, &args->model, "5m");
  cmd->callback([args, exit_code, cmd] {
    args->admin_address_given = cmd->count("--admin-address") > 0;
    args->metrics_address_given = cmd->count("--metrics-address") > 0;
    *exit_code = RunTrainer(*args);
  });
}

}  // namespace towerstream::cli
