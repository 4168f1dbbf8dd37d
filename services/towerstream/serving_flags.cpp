// The snapshot and history-source flags of `recommend` and `serve`.
#include "services/towerstream/serving_flags.h"

#include <chrono>
#include <cstdio>

#include "common/base/date.h"
#include "services/towerstream/cli_support.h"

namespace towerstream::cli {

Status QuerySourceFlags::Check() const {
  if (FromKafka() && !data.empty()) {
    return Status::InvalidArgument(
        "--data and --kafka name two sources of customer histories: give one (--data DIR: the "
        "H&M files as they are; --kafka: the pipeline's topics, followed live)");
  }
  if (!FromKafka() && data.empty()) {
    return Status::InvalidArgument(
        "where do customer histories come from? Give --data DIR (the H&M files) or --kafka "
        "bootstrap.servers=HOST:PORT (the pipeline's topics, followed live)");
  }
  if (FromKafka() && !as_of.empty()) {
    return Status::InvalidArgument(
        "--as-of applies to --data only: histories from --kafka hold every purchase the topics "
        "hold");
  }
  if (FromKafka()) {
    // Bad --kafka flags are usage errors, found before a snapshot is loaded.
    TS_ASSIGN_OR_RETURN(const kafka::KafkaConfig config, kafka.ToConfig());
    Status servers = config.RequireBootstrapServers("--kafka");
    if (!servers.ok()) return Status::InvalidArgument(servers.message());
  }
  return Status::Ok();
}

void AddQuerySourceFlags(CLI::App* cmd, QuerySourceFlags* flags, std::string_view snapshot_help) {
  cmd->add_option("--snapshot", flags->snapshot, std::string(snapshot_help))
      ->required()
      ->check(CLI::ExistingPath)
      ->type_name("PATH");
  cmd->add_option("--data", flags->data,
                  "Folder with the H&M CSV files: customer features and purchase histories "
                  "read once (give this or --kafka)")
      ->check(CLI::ExistingDirectory)
      ->type_name("DIR");
  cmd->add_option("--as-of", flags->as_of,
                  "With --data: use only purchases before this day (default: all of them)")
      ->type_name("YYYY-MM-DD");
  cmd->add_option("--kafka", flags->kafka.kafka,
                  "Take customer features and histories from the pipeline's topics instead of "
                  "--data, followed live: librdkafka property KEY=VALUE (repeatable), e.g. "
                  "--kafka bootstrap.servers=127.0.0.1:9092")
      ->type_name("KEY=VALUE");
  cmd->add_option("--kafka-config", flags->kafka.kafka_config,
                  "Java-style properties file of librdkafka settings (repeatable; as --kafka)")
      ->type_name("FILE");
  cmd->add_option("--topic-prefix", flags->topic_prefix,
                  "With --kafka: prefix of the topic names, as given to replay and ingest")
      ->type_name("PREFIX");
  cmd->add_option("--catch-up-timeout", flags->catch_up_seconds,
                  "With --kafka: seconds to read what the topics hold at start before giving up")
      ->capture_default_str()
      ->check(Positive());
}

Result<serving::CustomerHistoryOptions> HistoryOptionsFrom(const QuerySourceFlags& flags) {
  serving::CustomerHistoryOptions options;
  options.data_dir = flags.data;
  if (!flags.as_of.empty()) {
    Result<Date> as_of = Date::Parse(flags.as_of);
    if (!as_of.ok()) return Status::InvalidArgument("--as-of: " + as_of.status().message());
    options.as_of = *as_of;
  }
  return options;
}

Result<std::unique_ptr<serving::LiveHistories>> StartLiveHistories(const QuerySourceFlags& flags,
                                                                   std::string_view command,
                                                                   size_t history_length,
                                                                   std::stop_token stop) {
  serving::LiveHistoryOptions options;
  Result<kafka::KafkaConfig> config = flags.kafka.ToConfig();
  if (!config.ok()) return Status::InvalidArgument(config.status().message());
  options.kafka = std::move(config).value();
  options.topic_prefix = flags.topic_prefix;
  options.client = std::string(command);
  options.history_length = history_length;
  const std::string name(command);
  std::fprintf(stderr, "towerstream %s: reading customer histories from %shm.transactions at %s\n",
               name.c_str(), flags.topic_prefix.c_str(),
               options.kafka.Get("bootstrap.servers").value_or("?").c_str());
  const auto started = std::chrono::steady_clock::now();
  TS_ASSIGN_OR_RETURN(std::unique_ptr<serving::LiveHistories> live,
                      serving::LiveHistories::Start(options));
  TS_RETURN_IF_ERROR(live->WaitUntilCaughtUp(
      std::chrono::milliseconds(static_cast<int64_t>(flags.catch_up_seconds * 1000)), stop,
      [&](const serving::HistoryFreshness& f) {
        std::fprintf(stderr,
                     "towerstream %s: catching up: %lld purchases applied (through %s), %lld "
                     "messages to go\n",
                     name.c_str(), static_cast<long long>(f.transactions),
                     f.newest_purchase ? f.newest_purchase->ToString().c_str() : "none yet",
                     static_cast<long long>(f.lag.value_or(-1)));
      }));
  const serving::HistoryFreshness f = live->Freshness();
  std::fprintf(stderr,
               "towerstream %s: histories caught up in %.1f s: %lld purchases through %s; "
               "following the topics from here\n",
               name.c_str(),
               std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
               static_cast<long long>(f.transactions),
               f.newest_purchase ? f.newest_purchase->ToString().c_str() : "(none yet)");
  return live;
}

}  // namespace towerstream::cli
