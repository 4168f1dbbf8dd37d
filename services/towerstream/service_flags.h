// Flags and start-up steps that the long-running subcommands share: librdkafka settings
// (--kafka, --kafka-config) and the Prometheus endpoint (--metrics-address).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <prometheus/registry.h>

#include "common/base/status.h"
#include "common/kafka/kafka_config.h"
#include "common/metrics/metrics_server.h"

namespace towerstream::cli {

struct KafkaFlags {
  std::vector<std::string> kafka;         // --kafka KEY=VALUE, in order
  std::vector<std::string> kafka_config;  // --kafka-config FILE, in order

  // Files first, then flags (flags win); errors name the file and line or the flag.
  Result<kafka::KafkaConfig> ToConfig() const {
    return kafka::KafkaConfigFromFlags(kafka_config, kafka);
  }
};

void AddKafkaFlags(CLI::App* cmd, KafkaFlags* flags);

// --metrics-address with `*address` as its default ('' disables the endpoint).
void AddMetricsAddressFlag(CLI::App* cmd, std::string* address);

// Starts the endpoint of `service` on `address` (none for ''), and prints where it listens
// unless `quiet`. Errors name the address.
Result<std::unique_ptr<metrics::MetricsServer>> StartServiceMetrics(
    std::string_view command, std::string_view address, std::string_view service,
    std::shared_ptr<prometheus::Registry> registry, bool quiet = false);

}  // namespace towerstream::cli
