// HOST:PORT parsing and the loopback test behind the admin API's token rule (internal to ts_admin).
#pragma once

#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream::admin::internal {

struct HostPort {
  std::string host;  // as written: an IPv6 host keeps its brackets ("[::1]")
  int port = 0;
};

// Splits "HOST:PORT" (IPv6 as "[::1]:PORT"); errors name the address and what is wrong with it.
Result<HostPort> ParseAddress(std::string_view address);

// The host without IPv6 brackets, as the resolver wants it.
std::string_view BareHost(std::string_view host);

// True for 127.0.0.0/8, ::1 (also IPv4-mapped loopback) and "localhost": hosts whose sockets
// other machines cannot reach.
bool IsLoopbackHost(std::string_view host);

}  // namespace towerstream::admin::internal
