// `towerstream replay`: streams H&M CSV files into the hm.* Kafka topics (common/replay).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "common/base/date.h"
#include "common/base/progress.h"
#include "common/kafka/kafka_config.h"
#include "common/metrics/metrics_server.h"
#include "common/replay/replay.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"
#include "services/towerstream/service_flags.h"
#include "services/towerstream/signal_stopper.h"

namespace towerstream::cli {
namespace {

struct ReplayArgs {
  replay::ReplayOptions options;
  KafkaFlags kafka;
  std::string from;
  std::string until;
  bool entities_only = false;
  bool transactions_only = false;
  std::string metrics_address = std::string(metrics::kReplayAddress);
  bool quiet = false;
};

int Fail(int code, const std::string& message) { return cli::Fail("replay", code, message); }

void PrintSummary(const replay::ReplaySummary& summary) {
  const int64_t delivered = summary.events_delivered();
  std::printf(
      "towerstream replay: %s events delivered in %s (%s events/s)%s\n",
      FormatCount(delivered).c_str(), FormatDuration(summary.seconds).c_str(),
      FormatCount(static_cast<int64_t>(delivered / std::max(summary.seconds, 1e-9))).c_str(),
      summary.interrupted ? ", interrupted" : "");
  for (const replay::FileSummary& file : summary.files) {
    std::string extra;
    if (file.rows_filtered > 0) extra += ", " + FormatCount(file.rows_filtered) + " filtered";
    if (file.rows_resumed > 0) extra += ", " + FormatCount(file.rows_resumed) + " already sent";
    if (file.events_failed > 0) extra += ", " + FormatCount(file.events_failed) + " FAILED";
    std::printf("  %-24s -> %-18s %12s delivered, %s bad rows%s\n",
                std::filesystem::path(file.file).filename().c_str(), file.topic.c_str(),
                FormatCount(file.events_delivered).c_str(), FormatCount(file.rows_rejected).c_str(),
                extra.c_str());
  }
  if (summary.last_event_date) {
    std::printf("  event time reached: %s\n", summary.last_event_date->ToString().c_str());
  }
}

int RunReplay(ReplayArgs& args) {
  replay::ReplayOptions& options = args.options;
  Result<kafka::KafkaConfig> kafka = args.kafka.ToConfig();
  if (!kafka.ok()) return Fail(2, kafka.status().message());
  options.kafka = std::move(kafka).value();
  for (auto [text, date] : {std::pair{&args.from, &options.from}, {&args.until, &options.until}}) {
    if (text->empty()) continue;
    Result<Date> parsed = Date::Parse(*text);
    if (!parsed.ok()) return Fail(2, "--from/--until: " + parsed.status().message());
    *date = *parsed;
  }
  options.send_entities = !args.transactions_only;
  options.send_transactions = !args.entities_only;
  options.progress_out = args.quiet ? nullptr : stderr;
  if (Status s = options.Validate(); !s.ok()) return Fail(2, s.message());

  // Before any thread exists (librdkafka's, the HTTP server's): they inherit the blocked mask.
  SignalStopper stopper("replay", "stopping once what was produced is delivered");
  auto registry = std::make_shared<prometheus::Registry>();
  Result<std::unique_ptr<metrics::MetricsServer>> server =
      StartServiceMetrics("replay", args.metrics_address, "replay", registry, args.quiet);
  if (!server.ok()) return Fail(1, server.status().message());
  Result<std::unique_ptr<replay::Replayer>> replayer = replay::Replayer::Create(options, *registry);
  if (!replayer.ok()) return Fail(1, replayer.status().message());
  const Status status = (*replayer)->Run(stopper.token());
  if (!args.quiet) PrintSummary((*replayer)->summary());
  if (!status.ok()) return Fail(1, status.message());
  if ((*replayer)->summary().interrupted) {
    std::fprintf(stderr, "towerstream replay: interrupted; run again with --resume to continue\n");
    return 128 + stopper.signal();
  }
  return 0;
}

}  // namespace

void AddReplayCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<ReplayArgs>();
  CLI::App* cmd = app.add_subcommand(
      "replay",
      "Stream the H&M CSV files of a folder into Kafka: articles to hm.articles and customers to "
      "hm.customers (compacted, keyed by id), then transactions in t_dat order to "
      "hm.transactions (keyed by customer_id, murmur2-partitioned like Kafka's clients). "
      "Creates missing topics (also hm.examples and hm.dlq). Every message carries headers "
      "source.file, source.line and source.fingerprint (the file's size and an XXH3 of 64 "
      "sampled 64 KiB blocks); transactions carry an event_id stable per source row.");
  cmd->footer(
      "Transactions must be sorted by t_dat (Kaggle's file and `towerstream generate`'s are); a "
      "row earlier than the previous one fails the run with its file:line. Bad CSV rows are "
      "reported, counted and not sent.\n"
      "--resume skips, per topic partition, every row whose line is <= the source.line of the "
      "partition's last message: after a kill, it continues without duplicates or gaps. "
      "Resume with the same files, filters and --topic-prefix: a file that changed since its "
      "rows went in (another size or sampled content than the source.fingerprint of a "
      "partition's last message) is refused, naming the file and what changed; topics written "
      "by an older replay without that header are resumed with a warning.\n"
      "Exit status: 0 done, 1 failed, 2 bad usage, 128+signal when interrupted by SIGINT or "
      "SIGTERM (what was produced is delivered first; a second signal exits at once).\n"
      "Examples:\n"
      "  towerstream replay --data data/small --kafka bootstrap.servers=127.0.0.1:9092\n"
      "  towerstream replay --data data/full --kafka bootstrap.servers=127.0.0.1:9092 "
      "--speedup 86400   # a day per second\n"
      "  towerstream replay --data data/full --kafka bootstrap.servers=127.0.0.1:9092 --resume");
  cmd->add_option("--data", args->options.data_dir,
                  "Folder with the CSV files (found by their H&M header, any name)")
      ->required()
      ->type_name("DIR");
  AddKafkaFlags(cmd, &args->kafka);
  cmd->add_option("--partitions", args->options.partitions,
                  "Partitions of created topics; hm.transactions and hm.examples must have "
                  "exactly this many if they exist")
      ->capture_default_str()
      ->type_name("N");
  cmd->add_option("--replication-factor", args->options.replication_factor,
                  "Replicas of created topics (1 on a single broker)")
      ->capture_default_str()
      ->type_name("N");
  cmd->add_option("--topic-prefix", args->options.topic_prefix,
                  "Put in front of every topic name (hm.articles -> PREFIXhm.articles), to keep "
                  "separate runs apart on one broker; empty by default")
      ->type_name("PREFIX");
  auto* rate = cmd->add_option("--rate", args->options.rate,
                               "At most this many transactions per second, evenly spaced "
                               "(default: as fast as possible)")
                   ->type_name("EVENTS_PER_S")
                   ->check(Positive());
  cmd->add_option("--speedup", args->options.speedup,
                  "Play X seconds of event time per wall second: each day's transactions are "
                  "spread evenly over 86400/X seconds (86400: a day per second)")
      ->type_name("X")
      ->check(Positive())
      ->excludes(rate);
  cmd->add_option("--from", args->from, "Only transactions with t_dat >= DATE (inclusive)")
      ->type_name("DATE");
  cmd->add_option("--until", args->until,
                  "Only transactions with t_dat < DATE (exclusive; reading stops there)")
      ->type_name("DATE");
  cmd->add_flag("--resume", args->options.resume,
                "Continue an interrupted replay: skip rows already in the topics");
  auto* entities =
      cmd->add_flag("--entities-only", args->entities_only, "Send articles and customers only");
  cmd->add_flag("--transactions-only", args->transactions_only, "Send transactions only")
      ->excludes(entities);
  AddMetricsAddressFlag(cmd, &args->metrics_address);
  cmd->add_flag("--quiet,-q", args->quiet, "No progress bars and no summary (errors still print)");
  cmd->callback([args, exit_code] { *exit_code = RunReplay(*args); });
}

}  // namespace towerstream::cli
