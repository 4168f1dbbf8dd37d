// `towerstream ingest`: hm.transactions -> hm.examples exactly once, over the feature store.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "common/ingest/ingest_metrics.h"
#include "common/ingest/ingester.h"
#include "common/kafka/kafka_config.h"
#include "common/metrics/metrics_server.h"
#include "services/towerstream/cli_support.h"
#include "services/towerstream/commands.h"
#include "services/towerstream/service_flags.h"
#include "services/towerstream/signal_stopper.h"

namespace towerstream::cli {
namespace {

struct IngestArgs {
  ingest::IngestOptions options;
  KafkaFlags kafka;
  std::string state;
  int history_length = events::kDefaultRecentArticles;
  int64_t max_batch_delay_ms = 100;
  int64_t park_timeout_ms = 60'000;
  std::string on_missing_entity = "cold";
  int64_t cache_entries = -1;
  bool no_fsync = false;
  std::string metrics_address = std::string(metrics::kIngestAddress);
};

int Fail(int code, const std::string& message) { return cli::Fail("ingest", code, message); }

int RunIngest(IngestArgs& args) {
  ingest::IngestOptions& options = args.options;
  Result<kafka::KafkaConfig> kafka = args.kafka.ToConfig();
  if (!kafka.ok()) return Fail(2, kafka.status().message());
  options.kafka = std::move(kafka).value();
  options.store.path = args.state;
  options.store.history_length = args.history_length;
  options.store.sync_writes = !args.no_fsync;
  if (args.cache_entries >= 0) {
    const auto entries = static_cast<size_t>(args.cache_entries);
    options.store.article_cache_entries = entries;
    options.store.customer_cache_entries = entries;
    options.store.history_cache_entries = entries;
  }
  options.enrich.history_length = args.history_length;
  options.enrich.park_timeout = std::chrono::milliseconds(args.park_timeout_ms);
  Result<ingest::MissingEntityPolicy> policy =
      ingest::ParseMissingEntityPolicy(args.on_missing_entity);
  if (!policy.ok()) return Fail(2, "--on-missing-entity: " + policy.status().message());
  options.enrich.on_missing_entity = *policy;
  options.max_batch_delay = std::chrono::milliseconds(args.max_batch_delay_ms);
  if (Status s = options.Validate(); !s.ok()) return Fail(2, s.message());

  // Before any thread exists (librdkafka's, the HTTP server's): they inherit the blocked mask.
  SignalStopper stopper("ingest", "finishing the micro-batch in hand, committing and leaving");
  auto registry = std::make_shared<prometheus::Registry>();
  Result<std::unique_ptr<metrics::MetricsServer>> server =
      StartServiceMetrics("ingest", args.metrics_address, ingest::kServiceName, registry);
  if (!server.ok()) return Fail(1, server.status().message());
  Result<std::unique_ptr<ingest::Ingester>> ingester = ingest::Ingester::Create(options, *registry);
  if (!ingester.ok()) return Fail(1, ingester.status().message());
  const Status status = (*ingester)->Run(stopper.token());
  if (!status.ok() && status.message().find("No space left") != std::string::npos) {
    return Fail(1, status.message() + "\n  the disk of --state " + args.state +
                       " is full: free space and restart with the same flags; ingest continues "
                       "where it stopped (the micro-batch in hand was not committed and is read "
                       "again)");
  }
  if (!status.ok()) return Fail(1, status.message());
  return 0;
}

}  // namespace

void AddIngestCommand(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<IngestArgs>();
  CLI::App* cmd = app.add_subcommand(
      "ingest",
      "Turn every transaction on hm.transactions into one training example on hm.examples "
      "(the customer's features at that time, the last N articles they bought before it, the "
      "article's features), exactly once, keeping articles and customers from hm.articles and "
      "hm.customers in a local RocksDB feature store. Undecodable or invalid events go to "
      "hm.dlq with their reason. Consumers of hm.examples must read with "
      "isolation.level=read_committed.");
  cmd->footer(
      "Each micro-batch is one Kafka transaction carrying the consumed offsets, after a synced "
      "RocksDB write whose keys make re-processing idempotent: kill it at any moment and "
      "restart it with the same --state, --group and --instance, and every transaction still "
      "ends as exactly one example or dead letter.\n"
      "--on-missing-entity: cold (default) enriches a purchase of an unknown article or "
      "customer with empty features and article_known/customer_known=false; park holds it "
      "(on the topic hm.ingest.parked) until the entity arrives or --park-timeout-ms passes, "
      "then emits it; dlq dead-letters purchases of unknown articles (reason unknown_article).\n"
      "Exit status: 0 stopped by SIGINT/SIGTERM after committing, 1 failed, 2 bad usage.\n"
      "Examples:\n"
      "  towerstream ingest --kafka bootstrap.servers=127.0.0.1:9092 --state state/ingest\n"
      "  towerstream ingest --kafka bootstrap.servers=127.0.0.1:9092 --state state/ingest "
      "--on-missing-entity park --park-timeout-ms 30000");
  AddKafkaFlags(cmd, &args->kafka);
  cmd->add_option("--state", args->state, "Folder of the RocksDB feature store (created)")
      ->required()
      ->type_name("DIR");
  cmd->add_option("--group", args->options.group, "Consumer group of hm.transactions")
      ->capture_default_str();
  cmd->add_option("--instance", args->options.instance,
                  "This instance's name in the group (transactional id, static membership); "
                  "stable across restarts, one --state per instance")
      ->capture_default_str();
  cmd->add_option("--topic-prefix", args->options.topic_prefix,
                  "Put in front of every topic name, the group and the transactional id")
      ->type_name("PREFIX");
  cmd->add_option("--partitions", args->options.partitions,
                  "Partitions of hm.transactions if ingest has to create it")
      ->capture_default_str()
      ->type_name("N");
  cmd->add_option("--history-length", args->history_length,
                  "Purchases before each transaction put in its example (N)")
      ->capture_default_str()
      ->check(InRange(1, 1000))
      ->type_name("N");
  cmd->add_option("--batch-size", args->options.batch_size,
                  "Most transactions per micro-batch (one Kafka transaction, one RocksDB write)")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("N");
  cmd->add_option("--max-batch-delay-ms", args->max_batch_delay_ms,
                  "Longest a micro-batch waits to fill up")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("MS");
  cmd->add_option("--on-missing-entity", args->on_missing_entity,
                  "What to do with a purchase of an unknown article or customer: cold, park, dlq")
      ->capture_default_str()
      ->check(CLI::IsMember({"cold", "park", "dlq"}));
  cmd->add_option("--park-timeout-ms", args->park_timeout_ms,
                  "With park: how long a purchase waits for its entity before it is emitted cold")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("MS");
  cmd->add_option("--cache-entries", args->cache_entries,
                  "Entries of each feature-store cache (articles, customers, histories); "
                  "default 200000 articles and 1500000 customers and histories (all of H&M's)")
      ->check(NonNegative())
      ->type_name("N");
  cmd->add_flag("--no-fsync", args->no_fsync,
                "Do not fsync RocksDB writes (faster; a power loss, unlike a crash, may then "
                "lose state that Kafka already committed)");
  AddMetricsAddressFlag(cmd, &args->metrics_address);
  cmd->callback([args, exit_code] { *exit_code = RunIngest(*args); });
}

}  // namespace towerstream::cli
