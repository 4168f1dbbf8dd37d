// The flags `recommend` and `serve` share: the snapshot to answer from, and where customers'
// features and purchase histories come from (--data, --as-of).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/serving/customer_histories.h"

namespace towerstream::cli {

struct QuerySourceFlags {
  std::string snapshot;
  std::string data;
  std::string as_of;
};

// Adds --snapshot (described by `snapshot_help`), --data and --as-of to `cmd`.
void AddQuerySourceFlags(CLI::App* cmd, QuerySourceFlags* flags, std::string_view snapshot_help);

// The histories' options the flags describe; InvalidArgument naming --as-of if it is no date.
Result<serving::CustomerHistoryOptions> HistoryOptionsFrom(const QuerySourceFlags& flags);

}  // namespace towerstream::cli
