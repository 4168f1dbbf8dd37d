// What the member and the round share inside ts_distributed (built with USE_C10D_GLOO): the
// round's state around its c10d process group, address parsing and exception messages.
#pragma once

#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>

#include <chrono>
#include <exception>
#include <mutex>
#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/distributed/group.h"
#include "common/model/step_exchange.h"

namespace towerstream::distributed::internal {

struct RoundState {
  int rank = 0;
  int world_size = 1;
  int round = 0;
  // Reset once the round is broken: that closes its connections, so that ranks still blocked in
  // a collective with this one fail now rather than after their timeout. Used by the thread
  // calling the collectives only.
  c10::intrusive_ptr<c10d::ProcessGroupGloo> group;

  mutable std::mutex mu;       // guards what follows: stats() and error() read from any thread
  model::ExchangeStats stats;  // guarded by mu
  Status error;                // guarded by mu; OK while the round works
};

struct HostPort {
  std::string host;  // without IPv6 brackets, as c10d and the resolver want it
  int port = 0;
};

// Splits "HOST:PORT" (IPv6 as "[::1]:PORT", port 1..65535); errors name `field` and the value.
Result<HostPort> ParseHostPort(std::string_view field, std::string_view address);

// The message of an exception from c10d or Gloo on one line, without c10's backtrace or Gloo's
// "[file.cc:123] " source location: "Connection closed by peer [127.0.0.1]:9941".
std::string DescribeException(const std::exception& e);

}  // namespace towerstream::distributed::internal
