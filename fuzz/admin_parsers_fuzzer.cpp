// Fuzzes the admin API's small parsers (common/admin): query strings, HOST:PORT addresses and the
// options check that decides whether an address needs a token. Each input is used as a query
// string, as an address, and as a value that must survive query encoding.
#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common/admin/address.h"
#include "common/admin/admin_server.h"
#include "common/admin/query_string.h"
#include "fuzz/fuzz_support.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream;
  using towerstream::fuzz::Check;
  const std::string_view text = fuzz::AsText(data, size);

  // A query string: parsed or rejected; a parsed one re-encoded parses to the same map.
  Result<std::map<std::string, std::string>> query = admin::ParseQuery(text);
  if (query.ok()) {
    std::string encoded;
    for (const auto& [name, value] : *query) {
      if (!encoded.empty()) encoded += '&';
      encoded += admin::EncodeQueryValue(name) + "=" + admin::EncodeQueryValue(value);
    }
    Result<std::map<std::string, std::string>> again = admin::ParseQuery(encoded);
    Check(again.ok() && *again == *query, "a parsed query changed through encoding: " + encoded);
  } else {
    Check(query.status().code() == StatusCode::kInvalidArgument, "a bad query is not invalid");
  }

  // Any bytes as one value: encoding keeps only unreserved characters and decodes back.
  const std::string value = admin::EncodeQueryValue(text);
  for (const char c : value) {
    Check(c != '&' && c != '=' && c != '+' && c != ' ' && c != '#' && c != '?',
          "an encoded value holds a reserved character");
  }
  Result<std::map<std::string, std::string>> single = admin::ParseQuery("v=" + value);
  Check(single.ok() && single->size() == 1 && single->at("v") == text,
        "a value does not survive query encoding");

  // An address: a parsed one prints back to itself, and the loopback test agrees with the
  // options check.
  Result<admin::internal::HostPort> address = admin::internal::ParseAddress(text);
  if (address.ok()) {
    Check(address->port >= 0 && address->port <= 65535, "port out of range");
    Check(!address->host.empty(), "empty host accepted");
    Result<admin::internal::HostPort> again =
        admin::internal::ParseAddress(address->host + ":" + std::to_string(address->port));
    Check(again.ok() && again->host == address->host && again->port == address->port,
          "an address does not print back to itself");
    admin::AdminServerOptions options;
    options.address = std::string(text);
    const bool loopback = admin::internal::IsLoopbackHost(address->host);
    Check(options.Validate().ok() == loopback,
          "without a token, Validate() must accept exactly the loopback hosts");
    options.token = "token";
    Check(options.Validate().ok(), "with a token, any parsed address is valid");
  }
  return 0;
}
