// GroupOptions::Validate, HOST:PORT parsing and the one-line form of c10d's exceptions.
#include <c10/util/Exception.h>

#include <charconv>
#include <string>

#include "common/distributed/group.h"
#include "common/distributed/internal.h"

namespace towerstream::distributed {

Status GroupOptions::Validate() const {
  if (world_size < 1) {
    return Status::InvalidArgument("group options: world_size " + std::to_string(world_size) +
                                   " must be at least 1");
  }
  if (rank < 0 || rank >= world_size) {
    return Status::InvalidArgument("group options: rank " + std::to_string(rank) +
                                   " must be in 0.." + std::to_string(world_size - 1) +
                                   " (world_size " + std::to_string(world_size) + ")");
  }
  TS_RETURN_IF_ERROR(internal::ParseHostPort("rendezvous", rendezvous).status());
  if (bind_address.empty()) {
    return Status::InvalidArgument(
        "group options: bind_address is empty; expected the address this rank's Gloo transport "
        "listens on, e.g. 127.0.0.1");
  }
  if (collective_timeout.count() <= 0) {
    return Status::InvalidArgument("group options: collective_timeout " +
                                   std::to_string(collective_timeout.count()) +
                                   " ms must be positive");
  }
  if (rendezvous_timeout.count() <= 0) {
    return Status::InvalidArgument("group options: rendezvous_timeout " +
                                   std::to_string(rendezvous_timeout.count()) +
                                   " ms must be positive");
  }
  return Status::Ok();
}

namespace internal {

Result<HostPort> ParseHostPort(std::string_view field, std::string_view address) {
  const std::string quoted =
      "group options: " + std::string(field) + " '" + std::string(address) + "'";
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::InvalidArgument(quoted + ": expected HOST:PORT, e.g. 127.0.0.1:29400");
  }
  std::string_view host = address.substr(0, colon);
  const bool bracketed = host.front() == '[';
  if (bracketed != (host.back() == ']') || (bracketed && host.size() < 3)) {
    return Status::InvalidArgument(quoted + ": unbalanced brackets around the IPv6 host");
  }
  if (bracketed) {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    // "::1:29400" is ambiguous: the port could be part of the address.
    return Status::InvalidArgument(quoted + ": an IPv6 host needs brackets, e.g. [::1]:29400");
  }
  HostPort result;
  result.host = std::string(host);
  const std::string_view port = address.substr(colon + 1);
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), result.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || result.port < 1 ||
      result.port > 65535) {
    return Status::InvalidArgument(quoted + ": port '" + std::string(port) +
                                   "' is not a number in 1..65535");
  }
  return result;
}

std::string DescribeException(const std::exception& e) {
  // c10::Error::what() appends a backtrace of many lines; the message alone is what matters.
  const auto* c10_error = dynamic_cast<const c10::Error*>(&e);
  std::string message = c10_error != nullptr ? c10_error->what_without_backtrace() : e.what();
  // Gloo's exceptions start with where they were thrown: "[../gloo/transport/tcp/pair.cc:598] ".
  if (!message.empty() && message.front() == '[') {
    const size_t close = message.find("] ");
    const std::string_view where = std::string_view(message).substr(0, close);
    if (close != std::string::npos && (where.find(".cc:") != std::string_view::npos ||
                                       where.find(".h:") != std::string_view::npos)) {
      message.erase(0, close + 2);
    }
  }
  const size_t newline = message.find('\n');
  if (newline != std::string::npos) message.resize(newline);
  return message.empty() ? "unknown error" : message;
}

}  // namespace internal
}  // namespace towerstream::distributed
