// The admin HTTP/1.1 endpoint of a service (`POST /snapshot`, `GET /healthz`, `GET /status` on
// the trainer) and the blocking client the CLI uses to call it.
//
// An AdminServer owns one io thread that accepts connections and reads requests asynchronously,
// so a slow or idle client never holds up the others. It knows no routes: every well-formed,
// authorised request goes to the Handler, which runs on that io thread and must not block; it
// answers through a Reply, from any thread, now or later. Neither copyable nor movable; the
// destructor closes every connection and joins the thread (so it must not run inside the
// handler), and Replies answered afterwards are dropped. Every error response the server sends
// itself closes the connection.
#pragma once

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream::admin {

// Default --admin-address of the trainer: loopback, so that no token is needed on one machine.
inline constexpr std::string_view kTrainerAdminAddress = "127.0.0.1:9404";

struct AdminServerOptions {
  // HOST:PORT to listen on (IPv6 as [::1]:PORT); port 0 picks a free port (tests), read it back
  // with port(). A HOST other than loopback (127.0.0.0/8, ::1, localhost) requires `token`.
  std::string address = std::string(kTrainerAdminAddress);
  // Bearer token every request must carry (`Authorization: Bearer <token>`); empty disables the
  // check, which Validate() allows on loopback only: the admin API can trigger snapshots.
  std::string token;
  // Whether a HOST beyond loopback needs a token (above). Read-only endpoints such as a
  // Prometheus /metrics page turn it off: scrapers rarely send tokens.
  bool require_token_beyond_loopback = true;
  // Request line plus header fields; more is answered 431. 8 KiB is what most servers allow.
  size_t max_header_bytes = 8 * 1024;
  // Request body; a larger Content-Length is answered 413 before a byte of the body is read.
  size_t max_body_bytes = 64 * 1024;
  // Time allowed to receive a whole request (counted from when the server starts waiting for it,
  // so an idle keep-alive connection is closed after it too) and to send each response. A request
  // cut short by it is answered 408; a connection that sent nothing is just closed.
  std::chrono::milliseconds read_timeout{10'000};
  // Time allowed for the request line and header fields, counted like read_timeout: a client
  // that has started a request must finish its header within it (408 otherwise), so that slow
  // senders hold a connection slot for this long, not for read_timeout. A connection that has
  // sent nothing yet may stay idle up to read_timeout. Capped by read_timeout.
  std::chrono::milliseconds header_timeout{2'000};
  // Connections served at once; further ones are answered 503 and closed. Bounds the memory and
  // file descriptors a misbehaving client can take.
  int max_connections = 32;
  // Connections served at once for one client address (at most max_connections); further ones
  // from that address are answered 503, so a few clients cannot take every slot.
  int max_connections_per_client = 16;

  Status Validate() const;
};

struct AdminRequest {
  std::string method;  // as sent: "GET", "POST", ...
  std::string path;    // the target up to '?', e.g. "/snapshot" (not percent-decoded)
  std::string query;   // after '?', without it; empty when there is none
  std::string body;
};

struct AdminResponse {
  int status = 200;  // 200..599; anything else is sent as 500. 204 and 304 go without a body.
  std::string content_type = "application/json";  // empty: no Content-Type header
  std::string body;
};

// A response with body {"error":"<message>"}, the shape of every error the server sends itself;
// handlers use it for theirs (404 for an unknown path, 409 for a snapshot already running).
AdminResponse JsonError(int status, std::string_view message);

// A 500 for what went wrong inside the server: the client gets only
// {"error":"internal error","request_id":"<16 hex>"}, never an exception's text (LibTorch's
// carry stack frames and paths); the detail goes to stderr as "towerstream <component>: internal
// error <request_id>: <detail>", so that an operator can match the two.
AdminResponse InternalError(std::string_view component, std::string_view detail);

// The one answer owed to one request. Move-only, so exactly one owner owes the client a response.
// Calling it sends `response`, from any thread; later calls do nothing. Destroying it unanswered
// sends 503, so a client is never left waiting on a request that was dropped (e.g. a trainer
// shutting down with a snapshot request queued). Not safe to call from two threads at once.
class Reply {
 public:
  // `deliver` gets the response once. The server makes these; a test of a handler can make one
  // that records the response, without any HTTP.
  explicit Reply(std::function<void(AdminResponse)> deliver);
  ~Reply();
  Reply(Reply&& other) noexcept;
  Reply& operator=(Reply&& other) noexcept;  // answers the replaced Reply with 503 first
  Reply(const Reply&) = delete;
  Reply& operator=(const Reply&) = delete;

  void operator()(AdminResponse response);
  // False once called or moved from.
  bool pending() const { return static_cast<bool>(deliver_); }

 private:
  std::function<void(AdminResponse)> deliver_;
};

// Runs on the server's io thread for each request; must not block. `request` is valid only
// during the call: copy what a later reply needs.
using Handler = std::function<void(const AdminRequest& request, Reply reply)>;

namespace internal {
class ServerCore;
}

class AdminServer {
 public:
  // Binds options.address and starts the io thread. Fails with InvalidArgument on bad options
  // or a null handler, and with Unavailable naming the address when it cannot listen there.
  static Result<std::unique_ptr<AdminServer>> Start(const AdminServerOptions& options,
                                                    Handler handler);

  // Stops accepting, answers requests still waiting for their Reply with 503, closes every
  // connection (waiting at most ~1 s for responses in flight) and joins the io thread.
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  // The port actually bound (the chosen one when the address said port 0).
  int port() const { return port_; }
  // "HOST:PORT" with the bound port, for log lines and for HttpCall.
  const std::string& address() const { return address_; }

 private:
  explicit AdminServer(std::unique_ptr<internal::ServerCore> core);

  std::unique_ptr<internal::ServerCore> core_;
  std::string address_;
  int port_ = 0;
};

// One blocking HTTP/1.1 request to HOST:PORT (the CLI's `towerstream snapshot --trainer`, tests),
// on its own connection. `target` is path and query ("/status?verbose=1"); a non-empty body is
// sent as application/json; a non-empty token as `Authorization: Bearer`. Any HTTP status is a
// successful call: check response.status. Errors: InvalidArgument (bad address, method or
// target), Unavailable (cannot connect, connection broken, malformed response),
// DeadlineExceeded (no full response within `timeout`; name resolution is not covered by it,
// which only matters for host names that need DNS).
Result<AdminResponse> HttpCall(std::string_view address, std::string_view method,
                               std::string_view target, std::string_view body = {},
                               std::string_view token = {},
                               std::chrono::milliseconds timeout = std::chrono::seconds(30));

}  // namespace towerstream::admin
