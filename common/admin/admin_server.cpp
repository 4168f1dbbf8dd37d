// AdminServer over Boost.Beast: one io thread, one Session per connection, Replies posted back to
// the io thread through a ReplyGate that outlives the server.
#include "common/admin/admin_server.h"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <limits>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http.hpp>

#include "common/admin/address.h"

namespace towerstream::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using ErrorCode = boost::system::error_code;
using Clock = std::chrono::steady_clock;

namespace {

// Room in the read buffer beyond the header limit, so that the parser (not the buffer) is what
// reports an oversized header, as 431.
constexpr size_t kBufferSlack = 1024;
// After an error response the server reads and discards what the client still sends, for at most
// this long and this much: closing with unread data makes the kernel send RST, which can destroy
// the response before the client reads it.
constexpr std::chrono::milliseconds kMaxLinger{1000};
constexpr size_t kMaxDrainBytes = 1 << 20;
// How long the destructor lets responses in flight finish before it drops the connections.
constexpr std::chrono::milliseconds kShutdownGrace{1000};
// A failed accept (EMFILE, ENOBUFS) is retried after this pause instead of in a busy loop.
constexpr std::chrono::milliseconds kAcceptRetry{100};

std::string_view ToStd(beast::string_view s) { return {s.data(), s.size()}; }

std::string JsonEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size() + 2);
  for (const char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

// Compares in time that depends on the lengths only, so that response timing does not reveal how
// much of a guessed token was right.
bool ConstantTimeEquals(std::string_view given, std::string_view expected) {
  unsigned char difference = given.size() == expected.size() ? 0 : 1;
  for (size_t i = 0; i < expected.size(); ++i) {
    const char g = i < given.size() ? given[i] : '\0';
    difference |= static_cast<unsigned char>(g ^ expected[i]);
  }
  return difference == 0;
}

bool IsHttpError(const ErrorCode& error) {
  return error.category() == http::make_error_code(http::error::end_of_stream).category();
}

}  // namespace

AdminResponse JsonError(int status, std::string_view message) {
  AdminResponse response;
  response.status = status;
  response.body = "{\"error\":\"" + JsonEscape(message) + "\"}";
  return response;
}

AdminResponse InternalError(std::string_view component, std::string_view detail) {
  // Random rather than counted: ids from several servers and restarts never repeat in one log.
  std::random_device random;
  const uint64_t id = (static_cast<uint64_t>(random()) << 32) | random();
  char request_id[17];
  std::snprintf(request_id, sizeof(request_id), "%016llx", static_cast<unsigned long long>(id));
  std::fprintf(stderr, "towerstream %.*s: internal error %s: %.*s\n",
               static_cast<int>(component.size()), component.data(), request_id,
               static_cast<int>(detail.size()), detail.data());
  AdminResponse response;
  response.status = 500;
  response.body =
      std::string("{\"error\":\"internal error\",\"request_id\":\"") + request_id + "\"}";
  return response;
}

Status AdminServerOptions::Validate() const {
  TS_ASSIGN_OR_RETURN(internal::HostPort host_port, internal::ParseAddress(address));
  if (token.empty() && require_token_beyond_loopback && !internal::IsLoopbackHost(host_port.host)) {
    return Status::InvalidArgument(
        "admin address '" + address +
        "' is not a loopback address: --admin-token is required to expose the admin API "
        "(it can trigger snapshots) beyond this machine");
  }
  for (const char c : token) {
    if (c <= 0x20 || c >= 0x7f) {
      return Status::InvalidArgument(
          "admin token: only visible ASCII characters are allowed (no spaces or control "
          "characters), since it travels in an HTTP header");
    }
  }
  if (max_header_bytes < 256 || max_header_bytes > (1u << 20)) {
    return Status::InvalidArgument("admin server: max_header_bytes must be in 256..1048576, got " +
                                   std::to_string(max_header_bytes));
  }
  if (read_timeout.count() <= 0) {
    return Status::InvalidArgument("admin server: read_timeout must be positive, got " +
                                   std::to_string(read_timeout.count()) + " ms");
  }
  if (header_timeout.count() <= 0) {
    return Status::InvalidArgument("admin server: header_timeout must be positive, got " +
                                   std::to_string(header_timeout.count()) + " ms");
  }
  if (max_connections < 1) {
    return Status::InvalidArgument("admin server: max_connections must be >= 1, got " +
                                   std::to_string(max_connections));
  }
  if (max_connections_per_client < 1) {
    return Status::InvalidArgument("admin server: max_connections_per_client must be >= 1, got " +
                                   std::to_string(max_connections_per_client));
  }
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Reply

Reply::Reply(std::function<void(AdminResponse)> deliver) : deliver_(std::move(deliver)) {}

Reply::~Reply() {
  if (deliver_) {
    deliver_(JsonError(503, "the request was dropped without an answer"));
  }
}

Reply::Reply(Reply&& other) noexcept : deliver_(std::move(other.deliver_)) {
  other.deliver_ = nullptr;
}

Reply& Reply::operator=(Reply&& other) noexcept {
  if (this != &other) {
    if (deliver_) deliver_(JsonError(503, "the request was dropped without an answer"));
    deliver_ = std::move(other.deliver_);
    other.deliver_ = nullptr;
  }
  return *this;
}

void Reply::operator()(AdminResponse response) {
  if (!deliver_) return;
  // Cleared before the call so that a deliver that throws still counts as the one answer.
  std::function<void(AdminResponse)> deliver = std::move(deliver_);
  deliver_ = nullptr;
  deliver(std::move(response));
}

// ---------------------------------------------------------------------------------------------
// Server internals

namespace internal {

// Where Replies send their responses: a door into the io_context that ~AdminServer shuts before
// the io_context goes away. Replies hold it by shared_ptr, so one answered after the server is
// gone finds the door shut instead of a freed io_context. Thread-safe.
class ReplyGate {
 public:
  explicit ReplyGate(asio::io_context& io) : io_(&io) {}

  template <typename Task>
  void Post(Task&& task) {
    std::lock_guard<std::mutex> lock(mu_);
    if (io_ != nullptr) asio::post(*io_, std::forward<Task>(task));
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    io_ = nullptr;
  }

 private:
  std::mutex mu_;
  asio::io_context* io_;  // Guarded by mu_; null once closed.
};

class Session;

// Everything the io thread works on. Apart from construction, Listen() and Stop(), every member
// is touched only on the io thread (Stop() touches them after joining it).
namespace {

// A complete HTTP 503 for a connection beyond every limit, sent without a session.
std::string BusyResponse(int max_connections) {
  const std::string body = JsonError(503, "too many connections (max_connections is " +
                                              std::to_string(max_connections) + ")")
                               .body;
  return "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
         "Cache-Control: no-store\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

}  // namespace

class ServerCore {
 public:
  ServerCore(const AdminServerOptions& options, Handler handler)
      : options_(options),
        handler_(std::move(handler)),
        io_(1),
        work_(asio::make_work_guard(io_)),
        acceptor_(io_),
        accept_retry_(io_),
        shutdown_timer_(io_),
        gate_(std::make_shared<ReplyGate>(io_)),
        busy_response_(BusyResponse(options.max_connections)) {}

  ~ServerCore() { Stop(); }

  // Binds and listens; returns the bound port.
  Result<int> Listen(const HostPort& host_port);
  void Run();
  void Stop();

  const AdminServerOptions& options() const { return options_; }
  // The header timeout in force: header_timeout, capped by read_timeout.
  std::chrono::milliseconds header_timeout() const {
    return std::min(options_.header_timeout, options_.read_timeout);
  }
  bool stopping() const { return stopping_; }
  asio::io_context& io() { return io_; }
  void CallHandler(const AdminRequest& request, Reply reply) {
    handler_(request, std::move(reply));
  }
  // The deliver function of the Reply for request `request_id` of `session`.
  std::function<void(AdminResponse)> MakeDeliver(std::weak_ptr<Session> session,
                                                 uint64_t request_id);
  void Remove(Session* session);

 private:
  void Accept();
  void OnAccept(const ErrorCode& error, tcp::socket socket);
  void BeginShutdown();

  const AdminServerOptions options_;
  Handler handler_;
  asio::io_context io_;
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_;
  asio::steady_timer shutdown_timer_;
  std::shared_ptr<ReplyGate> gate_;
  // The live connections; a Session removes itself when it closes.
  std::unordered_map<Session*, std::shared_ptr<Session>> sessions_;
  int active_sessions_ = 0;     // counted against max_connections
  int rejecting_sessions_ = 0;  // being answered 503
  // Active sessions by client address, counted against max_connections_per_client.
  std::unordered_map<std::string, int> sessions_per_client_;
  // The whole 503 a connection gets when even the refusing sessions are at their limit.
  const std::string busy_response_;
  bool stopping_ = false;
  std::thread thread_;
};

// One connection: reads requests one at a time (no pipelining: the next request is read after
// the previous response is written), hands them to the handler, writes the responses. Owned by
// ServerCore::sessions_ and by its pending completion handlers; io thread only.
class Session : public std::enable_shared_from_this<Session> {
 public:
  // `rejection`: why the connection is refused with a 503; empty for one that is served.
  Session(ServerCore& server, tcp::socket socket, std::string client, std::string rejection)
      : server_(server),
        socket_(std::move(socket)),
        timer_(server.io()),
        buffer_(server.options().max_header_bytes + kBufferSlack),
        client_(std::move(client)),
        rejection_(std::move(rejection)) {}

  bool rejected() const { return !rejection_.empty(); }
  const std::string& client() const { return client_; }

  void Start() {
    if (rejected()) return SendError(503, rejection_);
    ReadHeader();
  }

  void OnReply(uint64_t request_id, AdminResponse response) {
    // Stale: the connection closed, or the server answered already (handler exception, shutdown).
    if (state_ != State::kAwaitingReply || request_id != request_id_) return;
    if (response.status < 200 || response.status > 599) {
      response = JsonError(
          500, "the handler answered with invalid HTTP status " + std::to_string(response.status));
    }
    if (response.status == 204 || response.status == 304) {
      // HTTP forbids a body on these (Beast would throw).
      response.body.clear();
      response.content_type.clear();
    }
    Send(response, keep_alive_ && !server_.stopping());
  }

  // The server is stopping: answer a request still waiting for its Reply, drop idle readers.
  void Shutdown() {
    switch (state_) {
      case State::kAwaitingReply:
        OnReply(request_id_, JsonError(503, "the admin server is shutting down"));
        break;
      case State::kReading:
        Close();
        break;
      case State::kWriting:  // OnWrite closes
      case State::kClosing:
      case State::kClosed:
        break;
    }
  }

 private:
  enum class State { kReading, kAwaitingReply, kWriting, kClosing, kClosed };

  void ReadHeader() {
    state_ = State::kReading;
    timed_out_ = false;
    head_request_ = false;
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.options().max_header_bytes));
    // No limit yet: OnHeader checks Content-Length itself, after the token, so that a client
    // without the token learns nothing about the limits.
    // (Not boost::none: Beast 1.74 compares Content-Length against an empty optional and always
    // finds it larger.)
    parser_->body_limit(std::numeric_limits<std::uint64_t>::max());
    read_started_ = Clock::now();
    reading_header_ = true;
    idle_at_last_check_ = false;
    header_extended_ = false;
    ArmTimer(server_.header_timeout());
    http::async_read_header(
        socket_, buffer_, *parser_,
        [self = shared_from_this()](const ErrorCode& error, size_t) { self->OnHeader(error); });
  }

  void OnHeader(ErrorCode error) {
    if (state_ == State::kClosed) return;
    // The header may have completed just as the timer fired; the body would then be read with no
    // deadline.
    if (!error && timed_out_) error = asio::error::operation_aborted;
    if (error) return OnReadError(error);
    reading_header_ = false;
    ArmTimer(RemainingReadTime());  // the body gets what is left of read_timeout
    const http::request<http::string_body>& request = parser_->get();
    request_version_ = request.version();
    keep_alive_ = request.keep_alive();
    const std::string_view target = ToStd(request.target());
    if (target.empty() || target.front() != '/') {
      return SendError(400, "request target '" + std::string(target) + "' must start with '/'");
    }
    if (const auto coding = request.find(http::field::transfer_encoding); coding != request.end()) {
      // Beast frames a request whose codings do not end in chunked as having no body, which
      // would leave the body to be read as the next request (RFC 9112 §6.3: 400 and close).
      if (!parser_->chunked()) {
        return SendError(400, "Transfer-Encoding '" + std::string(ToStd(coding->value())) +
                                  "' does not end in chunked");
      }
      if (!beast::iequals(coding->value(), beast::string_view("chunked"))) {
        return SendError(501, "Transfer-Encoding '" + std::string(ToStd(coding->value())) +
                                  "' is not supported; only chunked is");
      }
    }
    if (std::string unauthorised = CheckToken(request); !unauthorised.empty()) {
      return SendError(401, unauthorised);
    }
    const size_t max_body = server_.options().max_body_bytes;
    if (const boost::optional<std::uint64_t> length = parser_->content_length();
        length && *length > max_body) {
      return SendError(413, "request body of " + std::to_string(*length) +
                                " bytes is larger than the limit of " + std::to_string(max_body));
    }
    parser_->body_limit(max_body);  // still needed for chunked bodies
    if (parser_->is_done()) return Dispatch();
    if (request.version() == 11 &&
        beast::iequals(request[http::field::expect], beast::string_view("100-continue"))) {
      // The client waits for this before it sends the body (curl does for bodies over 1 KiB).
      continue_.emplace(http::status::continue_, 11);
      http::async_write(socket_, *continue_,
                        [self = shared_from_this()](const ErrorCode& error, size_t) {
                          if (self->state_ == State::kClosed) return;
                          if (error) return self->OnReadError(error);
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    http::async_read(socket_, buffer_, *parser_,
                     [self = shared_from_this()](const ErrorCode& error, size_t) {
                       if (self->state_ == State::kClosed) return;
                       // A body that completed as the timer fired is still a whole request.
                       if (error) return self->OnReadError(error);
                       self->Dispatch();
                     });
  }

  void OnReadError(const ErrorCode& error) {
    if (server_.stopping()) return Close();
    if (timed_out_) {
      if (!ReceivedSome()) return Close();  // an idle connection: nobody to answer
      if (reading_header_) {
        return SendError(408,
                         "request header not received in full within the header timeout "
                         "of " +
                             std::to_string(server_.header_timeout().count()) + " ms");
      }
      return SendError(408, "request not received in full within the read timeout of " +
                                std::to_string(server_.options().read_timeout.count()) + " ms");
    }
    if (error == http::error::end_of_stream) return Close();  // closed between requests
    if (error == http::error::header_limit || error == http::error::buffer_overflow) {
      return SendError(431, "request header larger than the limit of " +
                                std::to_string(server_.options().max_header_bytes) + " bytes");
    }
    if (error == http::error::body_limit) {
      return SendError(413, "request body larger than the limit of " +
                                std::to_string(server_.options().max_body_bytes) + " bytes");
    }
    if (IsHttpError(error)) return SendError(400, "malformed request: " + error.message());
    Close();  // the network failed (reset, broken pipe): nobody to answer
  }

  // Empty when the request may pass; otherwise what is wrong with its credentials.
  std::string CheckToken(const http::request<http::string_body>& request) const {
    const std::string& token = server_.options().token;
    if (token.empty()) return {};
    const auto field = request.find(http::field::authorization);
    if (field == request.end()) return "missing Authorization: Bearer <token> header";
    std::string_view value = ToStd(field->value());
    constexpr std::string_view kScheme = "Bearer ";
    if (value.size() < kScheme.size() ||
        !beast::iequals(beast::string_view(value.data(), kScheme.size()),
                        beast::string_view(kScheme.data(), kScheme.size()))) {
      return "Authorization header must use the Bearer scheme";
    }
    value.remove_prefix(kScheme.size());
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    if (!ConstantTimeEquals(value, token)) return "invalid bearer token";
    return {};
  }

  void Dispatch() {
    DisarmTimer();
    state_ = State::kAwaitingReply;
    ++request_id_;
    http::request<http::string_body> message = parser_->release();
    parser_.reset();
    AdminRequest request;
    request.method = std::string(ToStd(message.method_string()));
    head_request_ = message.method() == http::verb::head;
    const std::string_view target = ToStd(message.target());
    const size_t question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos)
      request.query = std::string(target.substr(question + 1));
    request.body = std::move(message.body());
    try {
      server_.CallHandler(request, Reply(server_.MakeDeliver(weak_from_this(), request_id_)));
    } catch (const std::exception& e) {
      // The handler broke its contract; answer now. The Reply it dropped posted a 503 that
      // arrives after this and is ignored.
      OnReply(request_id_, InternalError("http", std::string("the handler failed: ") + e.what()));
    }
  }

  void SendError(int status, const std::string& message) {
    AdminResponse response = JsonError(status, message);
    Send(response, /*keep_alive=*/false, /*www_authenticate=*/status == 401);
  }

  void Send(const AdminResponse& response, bool keep_alive, bool www_authenticate = false) {
    state_ = State::kWriting;
    response_.emplace();
    response_->version(request_version_);
    response_->result(static_cast<unsigned>(response.status));
    if (!response.content_type.empty()) {
      response_->set(http::field::content_type, response.content_type);
    }
    if (www_authenticate) response_->set(http::field::www_authenticate, "Bearer");
    response_->set(http::field::cache_control, "no-store");
    response_->body() = response.body;
    response_->keep_alive(keep_alive);
    response_->prepare_payload();
    // A response to HEAD keeps the Content-Length of the body it does not carry.
    if (head_request_) response_->body().clear();
    ArmTimer(server_.options().read_timeout);
    http::async_write(socket_, *response_,
                      [self = shared_from_this(), keep_alive](const ErrorCode& error, size_t) {
                        self->OnWrite(error, keep_alive);
                      });
  }

  void OnWrite(const ErrorCode& error, bool keep_alive) {
    if (state_ == State::kClosed) return;
    DisarmTimer();
    response_.reset();
    // Stopping: the request was read in full, so a plain close sends FIN, not RST; lingering
    // would hold up the destructor for a client that keeps its end open.
    if (error || server_.stopping()) return Close();
    if (!keep_alive) return LingerAndClose();
    ReadHeader();
  }

  // Half-closes, then discards what the client still sends until it closes too (or the linger
  // time or byte budget runs out), so that the response is not lost to a RST.
  void LingerAndClose() {
    state_ = State::kClosing;
    ErrorCode ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
    ArmTimer(std::min(kMaxLinger, server_.options().read_timeout));
    Drain();
  }

  void Drain() {
    socket_.async_read_some(asio::buffer(drain_),
                            [self = shared_from_this()](const ErrorCode& error, size_t bytes) {
                              if (self->state_ == State::kClosed) return;
                              self->drained_ += bytes;
                              if (error || self->drained_ > kMaxDrainBytes) return self->Close();
                              self->Drain();
                            });
  }

  void Close() {
    if (state_ == State::kClosed) return;
    state_ = State::kClosed;
    DisarmTimer();
    ErrorCode ignored;
    socket_.shutdown(tcp::socket::shutdown_both, ignored);
    socket_.close(ignored);
    server_.Remove(this);  // callers hold a shared_ptr to this, so it survives the call
  }

  // One timer per connection bounds the current read, write or linger; the generation tells a
  // stale expiry (one already queued when the timer was re-armed) from the current one.
  void ArmTimer(std::chrono::milliseconds timeout) {
    const uint64_t generation = ++timer_generation_;
    timer_.expires_after(timeout);
    timer_.async_wait([self = shared_from_this(), generation](const ErrorCode& error) {
      if (error || generation != self->timer_generation_) return;
      self->OnTimeout();
    });
  }

  void DisarmTimer() {
    ++timer_generation_;
    timer_.cancel();
  }

  bool ReceivedSome() const { return parser_->got_some() || buffer_.size() > 0; }

  std::chrono::milliseconds RemainingReadTime() const {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        read_started_ + server_.options().read_timeout - Clock::now());
    return std::max(left, std::chrono::milliseconds(1));
  }

  void OnTimeout() {
    switch (state_) {
      case State::kReading: {
        // Idle is not slow: a connection may wait for its (next) request up to read_timeout,
        // checked every header_timeout. A header that began after the previous check gets one
        // more header_timeout (still within read_timeout); one that began before is too slow.
        if (reading_header_ && Clock::now() < read_started_ + server_.options().read_timeout) {
          const bool received = ReceivedSome();
          if (!received || (idle_at_last_check_ && !header_extended_)) {
            header_extended_ = received;
            idle_at_last_check_ = !received;
            ArmTimer(std::min(server_.header_timeout(), RemainingReadTime()));
            break;
          }
        }
        // Cancelling (not closing) keeps the socket open for the 408.
        timed_out_ = true;
        ErrorCode ignored;
        socket_.cancel(ignored);
        break;
      }
      case State::kWriting:  // the client does not read its response
      case State::kClosing:
        Close();
        break;
      case State::kAwaitingReply:
      case State::kClosed:
        break;
    }
  }

  ServerCore& server_;
  tcp::socket socket_;
  asio::steady_timer timer_;
  uint64_t timer_generation_ = 0;
  bool timed_out_ = false;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::optional<http::response<http::empty_body>> continue_;
  std::optional<http::response<http::string_body>> response_;  // alive while being written
  std::array<char, 4096> drain_{};
  size_t drained_ = 0;
  State state_ = State::kReading;
  uint64_t request_id_ = 0;  // of the request being answered; tells stale Replies apart
  unsigned request_version_ = 11;
  bool keep_alive_ = false;
  bool head_request_ = false;
  bool reading_header_ = false;
  bool idle_at_last_check_ = false;  // nothing had arrived at the last header_timeout check
  bool header_extended_ = false;     // the header got its one more header_timeout
  Clock::time_point read_started_;
  const std::string client_;
  const std::string rejection_;
};

Result<int> ServerCore::Listen(const HostPort& host_port) {
  const std::string where = "admin server: cannot listen on " + options_.address;
  ErrorCode error;
  tcp::resolver resolver(io_);
  const tcp::resolver::results_type endpoints =
      resolver.resolve(std::string(BareHost(host_port.host)), std::to_string(host_port.port),
                       tcp::resolver::passive | tcp::resolver::numeric_service, error);
  if (error || endpoints.empty()) {
    return Status::Unavailable(where + ": cannot resolve host '" + host_port.host +
                               "': " + (error ? error.message() : "no address"));
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();
  acceptor_.open(endpoint.protocol(), error);
  if (!error) acceptor_.set_option(asio::socket_base::reuse_address(true), error);
  if (!error) acceptor_.bind(endpoint, error);
  if (!error) acceptor_.listen(asio::socket_base::max_listen_connections, error);
  if (error) return Status::Unavailable(where + ": " + error.message());
  const tcp::endpoint bound = acceptor_.local_endpoint(error);
  if (error) return Status::Unavailable(where + ": local_endpoint: " + error.message());
  return static_cast<int>(bound.port());
}

void ServerCore::Run() {
  Accept();
  thread_ = std::thread([this] { io_.run(); });
  pthread_setname_np(thread_.native_handle(), "ts-admin");
}

void ServerCore::Stop() {
  if (!thread_.joinable()) return;
  asio::post(io_, [this] { BeginShutdown(); });
  thread_.join();
  gate_->Close();
  // Sessions still referenced by handlers queued in io_ go when io_ destroys those handlers
  // (Asio's documented shutdown order); the rest go now, while io_ is alive.
  sessions_.clear();
}

void ServerCore::Accept() {
  acceptor_.async_accept(
      [this](const ErrorCode& error, tcp::socket socket) { OnAccept(error, std::move(socket)); });
}

void ServerCore::OnAccept(const ErrorCode& error, tcp::socket socket) {
  if (stopping_ || error == asio::error::operation_aborted) return;
  if (error) {
    accept_retry_.expires_after(kAcceptRetry);
    accept_retry_.async_wait([this](const ErrorCode& wait_error) {
      if (!wait_error && !stopping_) Accept();
    });
    return;
  }
  ErrorCode no_peer;
  const tcp::endpoint peer = socket.remote_endpoint(no_peer);
  std::string client = no_peer ? std::string() : peer.address().to_string();
  std::string rejection;
  if (active_sessions_ >= options_.max_connections) {
    rejection = "too many connections (max_connections is " +
                std::to_string(options_.max_connections) + ")";
  } else if (const auto found = sessions_per_client_.find(client);
             found != sessions_per_client_.end() &&
             found->second >= options_.max_connections_per_client) {
    rejection = "too many connections from " + client + " (max_connections_per_client is " +
                std::to_string(options_.max_connections_per_client) + ")";
  }
  const bool rejected = !rejection.empty();
  if (rejected && rejecting_sessions_ >= options_.max_connections) {
    // A flood: sessions for the 503s would pile up. The answer goes out from a fixed buffer
    // instead, in one non-blocking write the kernel's send buffer takes at once.
    ErrorCode ignored;
    socket.non_blocking(true, ignored);
    socket.write_some(asio::buffer(busy_response_), ignored);
    socket.shutdown(tcp::socket::shutdown_send, ignored);
    // What the client sent already is read and dropped: closing over unread data would reset
    // the connection, and the client could lose the answer with it.
    std::array<char, 4096> discard;
    while (socket.read_some(asio::buffer(discard), ignored) > 0) {
    }
    socket.close(ignored);
  } else {
    if (!rejected) ++sessions_per_client_[client];
    auto session = std::make_shared<Session>(*this, std::move(socket), std::move(client),
                                             std::move(rejection));
    sessions_.emplace(session.get(), session);
    ++(rejected ? rejecting_sessions_ : active_sessions_);
    session->Start();
  }
  Accept();
}

void ServerCore::Remove(Session* session) {
  const auto found = sessions_.find(session);
  if (found == sessions_.end()) return;
  if (session->rejected()) {
    --rejecting_sessions_;
  } else {
    --active_sessions_;
    const auto client = sessions_per_client_.find(session->client());
    if (client != sessions_per_client_.end() && --client->second == 0) {
      sessions_per_client_.erase(client);
    }
  }
  sessions_.erase(found);
  if (stopping_ && sessions_.empty()) shutdown_timer_.cancel();
}

void ServerCore::BeginShutdown() {
  stopping_ = true;
  ErrorCode ignored;
  acceptor_.close(ignored);
  accept_retry_.cancel();
  work_.reset();
  // Copied: sessions remove themselves from sessions_ as they close.
  std::vector<std::shared_ptr<Session>> sessions;
  sessions.reserve(sessions_.size());
  for (const auto& [raw, session] : sessions_) sessions.push_back(session);
  for (const std::shared_ptr<Session>& session : sessions) session->Shutdown();
  if (!sessions_.empty()) {
    // Responses still in flight get this long; then run() is stopped with them unfinished.
    shutdown_timer_.expires_after(kShutdownGrace);
    shutdown_timer_.async_wait([this](const ErrorCode& error) {
      if (!error) io_.stop();
    });
  }
}

std::function<void(AdminResponse)> ServerCore::MakeDeliver(std::weak_ptr<Session> session,
                                                           uint64_t request_id) {
  // Runs on the replier's thread: it only posts. The weak_ptr is locked on the io thread, so a
  // Session is never kept alive, or destroyed, by another thread.
  return [gate = gate_, session = std::move(session), request_id](AdminResponse response) {
    gate->Post([session, request_id, response = std::move(response)]() mutable {
      if (const std::shared_ptr<Session> live = session.lock()) {
        live->OnReply(request_id, std::move(response));
      }
    });
  };
}

}  // namespace internal

// ---------------------------------------------------------------------------------------------
// AdminServer

AdminServer::AdminServer(std::unique_ptr<internal::ServerCore> core) : core_(std::move(core)) {}

AdminServer::~AdminServer() { core_->Stop(); }

Result<std::unique_ptr<AdminServer>> AdminServer::Start(const AdminServerOptions& options,
                                                        Handler handler) {
  TS_RETURN_IF_ERROR(options.Validate());
  if (!handler) return Status::InvalidArgument("admin server: null handler");
  TS_ASSIGN_OR_RETURN(internal::HostPort host_port, internal::ParseAddress(options.address));
  auto core = std::make_unique<internal::ServerCore>(options, std::move(handler));
  TS_ASSIGN_OR_RETURN(const int port, core->Listen(host_port));
  std::unique_ptr<AdminServer> server(new AdminServer(std::move(core)));
  server->port_ = port;
  server->address_ = host_port.host + ":" + std::to_string(port);
  server->core_->Run();
  return server;
}

}  // namespace towerstream::admin
