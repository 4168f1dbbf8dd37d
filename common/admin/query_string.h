// URL query strings (application/x-www-form-urlencoded), for the HTTP servers and clients built
// on ts_admin: parsing what a request carries, encoding what a request sends.
#pragma once

#include <map>
#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream::admin {

// '&'-separated name=value pairs, '+' for space, %XX escapes; a repeated name keeps its last
// value. InvalidArgument on a malformed escape.
Result<std::map<std::string, std::string>> ParseQuery(std::string_view query);

// Percent-encodes `text` for a query name or value (RFC 3986 unreserved characters stay).
std::string EncodeQueryValue(std::string_view text);

}  // namespace towerstream::admin
