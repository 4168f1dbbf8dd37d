// Fuzzes the admin HTTP server (common/admin, over Boost.Beast) through real sockets: each input
// is written as raw bytes to a fresh connection of two servers started once per process (one
// open on loopback, one with a bearer token and small limits), the sending side is closed, and
// the fuzzer reads until the server closes. A crash, a sanitizer report, an answer that is not
// HTTP, or a connection left open (a hang) is a finding.
//
// The handler answers the way the services' handlers do (routes, query strings, JSON errors
// that quote the path) and exercises every way a Reply can go: at once, later from another
// thread, dropped unanswered (503), a handler that throws (500), statuses out of range.
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

#include <boost/asio/post.hpp>
#include <boost/asio/thread_pool.hpp>

#include "common/admin/admin_server.h"
#include "common/admin/query_string.h"
#include "fuzz/fuzz_support.h"

namespace towerstream::fuzz {
namespace {

boost::asio::thread_pool& Workers() {
  static auto* const workers = new boost::asio::thread_pool(1);  // lives until exit
  return *workers;
}

void Handle(const admin::AdminRequest& request, admin::Reply reply) {
  Result<std::map<std::string, std::string>> query = admin::ParseQuery(request.query);
  if (!query.ok()) return reply(admin::JsonError(400, query.status().message()));
  if (request.path == "/healthz") return reply({200, "application/json", R"({"ok":true})"});
  if (request.path == "/echo") return reply({200, "text/plain", request.body});
  if (request.path == "/later") {
    boost::asio::post(Workers(), [reply = std::move(reply), body = request.body]() mutable {
      reply({202, "application/json", body});
    });
    return;
  }
  if (request.path == "/drop") return;  // the Reply's destructor answers 503
  if (request.path == "/throw") throw std::runtime_error("handler failure on purpose");
  if (request.path == "/status") {
    // Any number, including ones no HTTP status is; a content type from a fixed few.
    int status = 200;
    if (const auto it = query->find("code"); it != query->end()) {
      std::from_chars(it->second.data(), it->second.data() + it->second.size(), status);
    }
    const auto type = query->find("type");
    const std::string content_type = type == query->end()     ? "application/json"
                                     : type->second == "text" ? "text/plain"
                                                              : "";
    return reply({status, content_type, request.body});
  }
  reply(admin::JsonError(404, "no such endpoint: " + request.method + " " + request.path));
}

admin::AdminServer& StartServer(admin::AdminServerOptions options) {
  options.address = "127.0.0.1:0";
  options.read_timeout = std::chrono::milliseconds(2000);
  Result<std::unique_ptr<admin::AdminServer>> server = admin::AdminServer::Start(options, &Handle);
  Check(server.ok(), "cannot start the admin server: " + server.status().ToString());
  return *server->release();  // serves until the process exits
}

}  // namespace
}  // namespace towerstream::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream;
  static admin::AdminServer& open = fuzz::StartServer({});
  static admin::AdminServer& guarded = []() -> admin::AdminServer& {
    admin::AdminServerOptions options;
    options.token = "fuzz-token";
    options.max_header_bytes = 256;
    options.max_body_bytes = 64;
    options.max_connections = 2;
    return fuzz::StartServer(options);
  }();
  const std::string_view request = fuzz::AsText(data, size);
  fuzz::HttpExchange(open.port(), request);
  fuzz::HttpExchange(guarded.port(), request);
  return 0;
}
