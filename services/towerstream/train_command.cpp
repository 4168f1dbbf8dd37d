// `towerstream train`: embedded mode, the enrichment and the trainer in one process from CSVs.
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <future>
#include <memory>
#include <optional>
#include <string>

#include <prometheus/registry.h>

#include "common/base/date.h"
#include "common/base/progress.h"
#include "common/evaluation/ranker_fit.h"
#include "common/metrics/metrics_server.h"
#include "common/trainer/embedded_trainer.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"
#include "services/towerstream/model_flags.h"
#include "services/towerstream/service_flags.h"
#include "services/towerstream/signal_stopper.h"

namespace towerstream::cli {
namespace {

struct TrainArgs {
  ModelFlags model;
  std::string data;
  std::string until;
  int epochs = 1;
  int64_t batch_size = 512;
  int ranker_days = 7;
  ranking::CandidateOptions candidates;
  ranking::RankerFitOptions ranker_fit;
  std::string state;
  std::string metrics_address;
  bool quiet = false;
};

int Fail(int code, const std::string& message) { return cli::Fail("train", code, message); }

int RunTrain(TrainArgs& args) {
  // First, before LibTorch starts its threads: they must inherit the blocked signals. SIGUSR1
  // asks for a snapshot at the next micro-batch.
  // Declared before the stopper, so that its watcher thread is gone before the schedule is.
  std::optional<trainer::SnapshotSchedule> schedule;
  std::atomic<bool> ready{false};
  SignalStopper stopper("train", "finishing the micro-batch in hand and writing a snapshot", [&] {
    if (ready.load()) schedule->Request();
  });
  trainer::EmbeddedOptions options;
  options.data_dir = args.data;
  if (!args.until.empty()) {
    Result<Date> until = Date::Parse(args.until);
    if (!until.ok()) return Fail(2, "--until: " + until.status().message());
    options.until = *until;
  }
  options.epochs = args.epochs;
  options.batch_size = args.batch_size;
  // The examples carry as many recent purchases as the model pools.
  options.history_length = static_cast<int>(args.model.history_length);
  options.state_dir = args.state;
  options.progress = !args.quiet;
  options.ranker_days = args.ranker_days;
  // The validation week is read from the files on its own thread while the towers train, and
  // fitted when training reaches it.
  std::future<Result<std::unique_ptr<evaluation::RankerWeek>>> ranker_week;
  options.prepare_ranker = [&args, &ranker_week](Date week_start, Date week_end) {
    evaluation::RankerFitWeekOptions fit;
    fit.data_dir = args.data;
    fit.week_start = week_start;
    fit.days = week_end - week_start;
    fit.history_length = args.model.history_length;
    fit.candidates = args.candidates;
    fit.fit = args.ranker_fit;
    fit.progress = false;
    ranker_week = std::async(std::launch::async, [fit] {
      // The lowest priority: the reader takes only the CPU that training and enrichment
      // leave idle (at normal priority it slowed enrichment 2x on 2 cores at Kaggle's size).
      setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 19);
      return evaluation::RankerWeek::Load(fit);
    });
  };
  options.fit_ranker = [&ranker_week](model::TwoTowerModel& model, Date,
                                      Date) -> Result<ranking::Ranker> {
    TS_ASSIGN_OR_RETURN(const std::unique_ptr<evaluation::RankerWeek> week, ranker_week.get());
    return week->Fit(model);
  };
  Result<trainer::SessionOptions> session = SessionOptionsFrom(args.model);
  if (!session.ok()) return Fail(2, session.status().message());
  options.session = *session;
  // TrainEmbedded adds `until` (YYYY-MM-DD), which the default split decides.
  options.session.run_params = {{"mode", "embedded"},
                                {"data", args.data},
                                {"epochs", std::to_string(args.epochs)},
                                {"batch_size", std::to_string(args.batch_size)}};
  Result<trainer::SnapshotEvery> every = SnapshotEveryFrom(args.model);
  if (!every.ok()) return Fail(2, every.status().message());
  options.snapshot_every = *every;
  if (Status s = options.Validate(); !s.ok()) return Fail(2, s.message());
  if (Status s = args.candidates.Validate(); !s.ok()) return Fail(2, s.message());
  if (Status s = args.ranker_fit.Validate(); !s.ok()) return Fail(2, s.message());
  // One core enriches the next micro-batch while the others train.
  const int threads = ApplyThreads(args.model, /*reserved=*/1);

  schedule.emplace(options.snapshot_every);
  ready.store(true);
  auto registry = std::make_shared<prometheus::Registry>();
  Result<std::unique_ptr<metrics::MetricsServer>> server =
      StartServiceMetrics("train", args.metrics_address, "train", registry);
  if (!server.ok()) return Fail(1, server.status().message());
  trainer::TrainerMetrics metrics(*registry, "train");
  std::fprintf(stderr, "towerstream train: %s on %s, %d thread(s), snapshots in %s (%s)\n",
               args.data.c_str(), options.session.model.device.str().c_str(), threads,
               args.model.snapshot_dir.c_str(),
               trainer::DescribeSnapshotEvery(options.snapshot_every).c_str());
  Result<trainer::EmbeddedSummary> summary =
      trainer::TrainEmbedded(options, *schedule, &metrics, stopper.token());
  if (ranker_week.valid() &&
      ranker_week.wait_for(std::chrono::seconds(0)) != std::future_status::ready) {
    // Stopped before the validation week: its reader cannot be cut short.
    std::fprintf(stderr, "towerstream train: waiting for the ranker's reader to finish\n");
  }
  if (!summary.ok() && summary.status().message().find("No space left") != std::string::npos) {
    return Fail(1, summary.status().message() +
                       "\n  a disk is full: free space and run the same command again; it "
                       "resumes from the latest snapshot, if any");
  }
  if (!summary.ok()) return Fail(1, summary.status().message());
  const trainer::EmbeddedSummary& s = *summary;
  if (s.nothing_to_do) {
    std::printf(
        "towerstream train: nothing to do: snapshot %s in %s already trained %d epoch(s) "
        "(--epochs %d) on the transactions before %s\n"
        "  to train more, run again with --epochs %d or more (it resumes from that snapshot); "
        "to train on other data or another --until, use another --snapshot-dir\n",
        s.snapshot_id.c_str(), args.model.snapshot_dir.c_str(), s.epochs_before, args.epochs,
        s.until.ToString().c_str(), s.epochs_before + 1);
    return 0;
  }
  std::printf(
      "towerstream train: %s examples trained in %s (%s examples/s) on transactions before %s%s\n",
      FormatCount(s.examples_trained).c_str(), FormatDuration(s.seconds).c_str(),
      FormatCount(static_cast<int64_t>(s.examples_trained / std::max(s.seconds, 1e-9))).c_str(),
      s.until.ToString().c_str(), s.interrupted ? " (interrupted)" : "");
  if (s.examples_skipped > 0) {
    std::printf("  resumed: %s examples were trained before\n",
                FormatCount(s.examples_skipped).c_str());
  }
  std::printf("  steps %s, loss %.4f, progressive recall@12 %.4f, recall@100 %.4f\n",
              FormatCount(s.status.step).c_str(), s.status.loss, s.status.recall_at_12,
              s.status.recall_at_100);
  const trainer::SessionTimes& t = s.status.times;
  std::printf(
      "  time: setup %.1f s, training steps %.1f s, progressive validation %.1f s (%s batches "
      "scored), snapshots %.1f s, waiting for enrichment %.1f s; enrichment %.1f s alongside\n",
      s.setup_seconds, t.training_seconds, t.validation_seconds,
      FormatCount(t.scored_batches).c_str(), t.snapshot_seconds, s.wait_seconds, s.enrich_seconds);
  std::printf(
      "  vocabulary: %s customers, %s articles with own rows; %s articles in the catalogue\n",
      FormatCount(s.status.model.customers.rows_in_use).c_str(),
      FormatCount(s.status.model.articles.rows_in_use).c_str(),
      FormatCount(s.status.model.catalogue).c_str());
  if (s.rows_rejected > 0) {
    std::printf("  %s bad CSV rows skipped (reported above)\n",
                FormatCount(s.rows_rejected).c_str());
  }
  std::printf("  ranker: %s (%.1f s)\n", s.ranker.c_str(), s.ranker_seconds);
  std::printf("  snapshot %s in %s\n", s.snapshot_id.c_str(), args.model.snapshot_dir.c_str());
  std::printf("  peak memory %s\n", FormatBytes(PeakResidentBytes()).c_str());
  return s.interrupted ? 128 + stopper.signal() : 0;
}

}  // namespace

void AddTrainCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand(
      "train",
      "Embedded mode: enrich the transactions of H&M CSV files exactly as `towerstream ingest` "
      "does and train the two-tower model on them in one process, with no broker. By default "
      "it trains on everything before the last 7 days of the file, which `towerstream "
      "evaluate` then holds out.");
  cmd->footer(
      "Snapshots go to --snapshot-dir at the end, --snapshot-every, on SIGUSR1 and on "
      "SIGINT/SIGTERM (after the micro-batch in hand). Run again with the same --snapshot-dir "
      "and it resumes from the latest snapshot, skipping what was trained.\n"
      "Transactions must be sorted by t_dat (Kaggle's file and `towerstream generate`'s are).\n"
      "Exit status: 0 done, 1 failed, 2 bad usage, 128+N stopped by signal N (snapshot "
      "written).\n"
      "Examples:\n"
      "  towerstream train --data data/ --snapshot-dir snapshots/\n"
      "  towerstream train --data data/ --snapshot-dir snapshots/ --epochs 3 --until 2020-09-01\n"
      "  towerstream evaluate --snapshot snapshots/ --data data/");
  cmd->add_option("--data", args->data, "Folder with the H&M CSV files (found by their headers)")
      ->required()
      ->check(CLI::ExistingDirectory)
      ->type_name("DIR");
  cmd->add_option("--until", args->until,
                  "Train on transactions before this date (exclusive); default: all but the "
                  "last 7 days")
      ->type_name("YYYY-MM-DD");
  cmd->add_option("--epochs", args->epochs, "Passes over the training transactions")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("N");
  cmd->add_option("--batch-size", args->batch_size, "Examples per micro-batch (training step)")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("N");
  cmd->add_option("--state", args->state,
                  "Folder for the enrichment's RocksDB store (default: a temporary folder, "
                  "removed at the end)")
      ->type_name("DIR");
  cmd->add_option("--ranker-days", args->ranker_days,
                  "Fit the ranker (which re-ranks the towers' candidates beside the customer's "
                  "own purchases and the week's best sellers) on the last N days before --until, "
                  "just before the last epoch trains on them; 0: no ranker, the towers alone rank")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("N");
  cmd->add_option("--ranker-towers", args->candidates.from_towers,
                  "Ranker candidates: the towers' nearest articles")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("N");
  cmd->add_option("--ranker-purchases", args->candidates.from_purchases,
                  "Ranker candidates: the customer's most recently bought distinct articles")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("N");
  cmd->add_option("--ranker-trending", args->candidates.from_trending,
                  "Ranker candidates: the best sellers of the last 7 days")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("N");
  cmd->add_option("--ranker-hidden", args->ranker_fit.hidden,
                  "Hidden units of the ranker's network (0: linear)")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("N");
  AddMetricsAddressFlag(cmd, &args->metrics_address);
  cmd->add_flag("-q,--quiet", args->quiet, "No progress bar");
  AddModelFlags(cmd, &args->model, "off");
  cmd->callback([args, exit_code] { *exit_code = RunTrain(*args); });
}

}  // namespace towerstream::cli
