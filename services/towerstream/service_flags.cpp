// The shared Kafka and metrics flags of the service subcommands.
#include "services/towerstream/service_flags.h"

#include <cstdio>

namespace towerstream::cli {

void AddKafkaFlags(CLI::App* cmd, KafkaFlags* flags) {
  cmd->add_option("--kafka", flags->kafka,
                  "librdkafka property KEY=VALUE (repeatable), e.g. "
                  "bootstrap.servers=127.0.0.1:9092; overrides --kafka-config")
      ->type_name("KEY=VALUE");
  cmd->add_option("--kafka-config", flags->kafka_config,
                  "Java-style properties file of librdkafka settings (repeatable)")
      ->type_name("FILE");
}

void AddMetricsAddressFlag(CLI::App* cmd, std::string* address) {
  cmd->add_option("--metrics-address", *address,
                  "Serve Prometheus metrics on HOST:PORT (port 0: any free port, printed at "
                  "start; '' disables)")
      ->capture_default_str()
      ->type_name("ADDR");
}

Result<std::unique_ptr<metrics::MetricsServer>> StartServiceMetrics(
    std::string_view command, std::string_view address, std::string_view service,
    std::shared_ptr<prometheus::Registry> registry, bool quiet) {
  Result<std::unique_ptr<metrics::MetricsServer>> server =
      metrics::StartMetricsServer(address, service, std::move(registry));
  if (server.ok() && *server != nullptr && !quiet) {
    std::fprintf(stderr, "towerstream %.*s: metrics on http://%s/metrics\n",
                 static_cast<int>(command.size()), command.data(), (*server)->address().c_str());
  }
  return server;
}

}  // namespace towerstream::cli
