// The flags `recommend` and `serve` share: the snapshot to answer from, and where customers'
// features and purchase histories come from: the H&M files (--data, --as-of) or the pipeline's
// topics (--kafka: histories that follow the stream).
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <stop_token>
#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/serving/customer_histories.h"
#include "common/serving/live_histories.h"
#include "services/towerstream/service_flags.h"

namespace towerstream::cli {

struct QuerySourceFlags {
  std::string snapshot;
  std::string data;
  std::string as_of;
  KafkaFlags kafka;
  std::string topic_prefix;
  double catch_up_seconds = 1800;

  // Whether the histories come from the topics (--kafka or --kafka-config given).
  bool FromKafka() const { return !kafka.kafka.empty() || !kafka.kafka_config.empty(); }
  // InvalidArgument (a usage error) unless exactly one source is named, and --as-of only with
  // --data.
  Status Check() const;
};

// Adds --snapshot (described by `snapshot_help`), --data, --as-of, --kafka, --kafka-config,
// --topic-prefix and --catch-up-timeout to `cmd`.
void AddQuerySourceFlags(CLI::App* cmd, QuerySourceFlags* flags, std::string_view snapshot_help);

// The histories' options the flags describe; InvalidArgument naming --as-of if it is no date.
Result<serving::CustomerHistoryOptions> HistoryOptionsFrom(const QuerySourceFlags& flags);

// Starts histories that follow the flags' topics and waits until they hold everything the
// topics held at start, printing progress as `towerstream COMMAND: ...` every few seconds.
// Errors name the broker or topic; InvalidArgument for bad --kafka flags.
Result<std::unique_ptr<serving::LiveHistories>> StartLiveHistories(const QuerySourceFlags& flags,
                                                                   std::string_view command,
                                                                   size_t history_length,
                                                                   std::stop_token stop = {});

}  // namespace towerstream::cli
