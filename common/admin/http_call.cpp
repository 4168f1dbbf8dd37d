// HttpCall: one blocking HTTP/1.1 request over Boost.Beast, bounded by a single deadline.
#include <chrono>
#include <exception>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

#include "common/admin/address.h"
#include "common/admin/admin_server.h"

namespace towerstream::admin {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;

// Admin answers are small JSON documents; this only stops a wrong port from filling memory.
constexpr std::uint64_t kMaxResponseBody = 16 << 20;

bool IsToken(std::string_view method) {
  if (method.empty()) return false;
  for (const char c : method) {
    if (c <= 0x20 || c >= 0x7f || c == '(' || c == ')' || c == '"' || c == '/' || c == ':' ||
        c == '[' || c == ']' || c == '{' || c == '}' || c == '<' || c == '>' || c == '@' ||
        c == ',' || c == ';' || c == '=' || c == '?' || c == '\\') {
      return false;
    }
  }
  return true;
}

}  // namespace

Result<AdminResponse> HttpCall(std::string_view address, std::string_view method,
                               std::string_view target, std::string_view body,
                               std::string_view token, std::chrono::milliseconds timeout) {
  TS_ASSIGN_OR_RETURN(internal::HostPort host_port, internal::ParseAddress(address));
  const std::string call =
      std::string(method) + " http://" + std::string(address) + std::string(target);
  if (host_port.port == 0) return Status::InvalidArgument(call + ": port 0 cannot be called");
  if (!IsToken(method)) return Status::InvalidArgument(call + ": malformed HTTP method");
  if (target.empty() || target.front() != '/' ||
      target.find_first_of(" \r\n") != std::string_view::npos) {
    return Status::InvalidArgument(call + ": the target must start with '/' and have no spaces");
  }
  if (token.find_first_of("\r\n") != std::string_view::npos) {
    return Status::InvalidArgument(call + ": the token must not contain line breaks");
  }

  asio::io_context io;
  ErrorCode error;
  tcp::resolver resolver(io);
  const tcp::resolver::results_type endpoints =
      resolver.resolve(std::string(internal::BareHost(host_port.host)),
                       std::to_string(host_port.port), tcp::resolver::numeric_service, error);
  if (error) {
    return Status::Unavailable(call + ": cannot resolve '" + host_port.host +
                               "': " + error.message());
  }

  http::request<http::string_body> request;
  try {  // Beast throws on a request it cannot frame (e.g. a body on TRACE)
    const http::verb verb = http::string_to_verb(beast::string_view(method.data(), method.size()));
    if (verb == http::verb::unknown) {
      request.method_string(beast::string_view(method.data(), method.size()));
    } else {
      request.method(verb);
    }
    request.target(beast::string_view(target.data(), target.size()));
    request.version(11);
    request.set(http::field::host, beast::string_view(address.data(), address.size()));
    request.set(http::field::user_agent, "towerstream");
    if (!token.empty()) request.set(http::field::authorization, "Bearer " + std::string(token));
    if (!body.empty()) request.set(http::field::content_type, "application/json");
    request.body() = std::string(body);
    request.keep_alive(false);
    request.prepare_payload();
  } catch (const std::exception& e) {
    return Status::InvalidArgument(call + ": " + e.what());
  }

  http::response_parser<http::string_body> parser;
  parser.body_limit(kMaxResponseBody);
  if (request.method() == http::verb::head) parser.skip(true);
  beast::flat_buffer buffer;
  beast::tcp_stream stream(io);
  // One deadline for the whole exchange: set before each step, it is what remains of it.
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const char* step = "connect";
  ErrorCode result;
  stream.expires_at(deadline);
  stream.async_connect(endpoints, [&](const ErrorCode& connect_error, const tcp::endpoint&) {
    if (connect_error) {
      result = connect_error;
      return;
    }
    step = "send the request";
    stream.expires_at(deadline);
    http::async_write(stream, request, [&](const ErrorCode& write_error, size_t) {
      if (write_error == beast::error::timeout) {
        result = write_error;
        return;
      }
      // Even when the write failed, a response may be waiting: a server that refuses a body
      // (413, 401) answers and closes before taking all of it.
      step = write_error ? "send the request" : "read the response";
      stream.expires_at(deadline);
      http::async_read(stream, buffer, parser,
                       [&, write_error](const ErrorCode& read_error, size_t) {
                         result = read_error && write_error ? write_error : read_error;
                       });
    });
  });
  io.run();

  if (result == beast::error::timeout) {
    return Status::DeadlineExceeded(call + ": no response within " +
                                    std::to_string(timeout.count()) + " ms (while trying to " +
                                    step + ")");
  }
  if (result) {
    return Status::Unavailable(call + ": cannot " + std::string(step) + ": " + result.message());
  }
  http::response<http::string_body>& message = parser.get();
  AdminResponse response;
  response.status = static_cast<int>(message.result_int());
  const beast::string_view content_type = message[http::field::content_type];
  response.content_type.assign(content_type.data(), content_type.size());
  response.body = std::move(message.body());
  return response;
}

}  // namespace towerstream::admin
