// HOST:PORT parsing and loopback detection for the admin server and client.
#include "common/admin/address.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <string>

#include <boost/asio/ip/address.hpp>

namespace towerstream::admin::internal {

Result<HostPort> ParseAddress(std::string_view address) {
  const std::string quoted = "admin address '" + std::string(address) + "'";
  const size_t colon = address.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Status::InvalidArgument(quoted + ": expected HOST:PORT, e.g. 127.0.0.1:9404");
  }
  HostPort result;
  result.host = std::string(address.substr(0, colon));
  const bool bracketed = result.host.front() == '[';
  if (bracketed != (result.host.back() == ']') || (bracketed && result.host.size() < 3)) {
    return Status::InvalidArgument(quoted + ": unbalanced brackets around the IPv6 host");
  }
  if (!bracketed && result.host.find(':') != std::string::npos) {
    // "::1:9404" is ambiguous: the port could be part of the address.
    return Status::InvalidArgument(quoted + ": an IPv6 host needs brackets, e.g. [::1]:9404");
  }
  const std::string_view port = address.substr(colon + 1);
  const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), result.port);
  if (port.empty() || error != std::errc() || end != port.data() + port.size() || result.port < 0 ||
      result.port > 65535) {
    return Status::InvalidArgument(quoted + ": port '" + std::string(port) +
                                   "' is not a number in 0..65535");
  }
  return result;
}

std::string_view BareHost(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    return host.substr(1, host.size() - 2);
  }
  return host;
}

bool IsLoopbackHost(std::string_view host) {
  const std::string_view bare = BareHost(host);
  constexpr std::string_view kLocalhost = "localhost";
  if (bare.size() == kLocalhost.size() &&
      std::equal(bare.begin(), bare.end(), kLocalhost.begin(),
                 [](char a, char b) { return std::tolower(static_cast<unsigned char>(a)) == b; })) {
    return true;
  }
  boost::system::error_code error;
  const boost::asio::ip::address ip = boost::asio::ip::make_address(std::string(bare), error);
  if (error) return false;  // a host name: it may resolve to anything
  if (ip.is_v4()) return ip.to_v4().is_loopback();
  const boost::asio::ip::address_v6 v6 = ip.to_v6();
  if (v6.is_v4_mapped()) {
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).is_loopback();
  }
  return v6.is_loopback();
}

}  // namespace towerstream::admin::internal
