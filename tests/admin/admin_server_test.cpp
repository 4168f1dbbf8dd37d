// Tests of ts_admin: options, Reply, the server's HTTP behaviour (driven by a raw socket client
// independent of the code under test) and HttpCall, all on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/admin/admin_server.h"

namespace towerstream::admin {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// A blocking loopback TCP client speaking raw bytes, so tests can send what no HTTP library would.
class RawClient {
 public:
  // Connects to 127.0.0.1:`port` from `source` (another loopback address stands for another
  // client).
  explicit RawClient(int port, uint32_t source = INADDR_LOOPBACK) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in from{};
    from.sin_family = AF_INET;
    from.sin_addr.s_addr = htonl(source);
    if (fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&from), sizeof(from)) != 0) {
      ::close(fd_);
      fd_ = -1;
      return;
    }
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd_ >= 0 && ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }
  ~RawClient() { Close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // One response (header plus Content-Length bytes of body), or "" if none arrives in time.
  std::string ReadResponse(std::chrono::milliseconds timeout = 2s) {
    const auto deadline = Clock::now() + timeout;
    while (true) {
      const size_t header_end = pending_.find("\r\n\r\n");
      if (header_end != std::string::npos) {
        const size_t total = header_end + 4 + ContentLength(pending_.substr(0, header_end));
        if (pending_.size() >= total) {
          std::string response = pending_.substr(0, total);
          pending_.erase(0, total);
          return response;
        }
      }
      if (!ReceiveSome(deadline)) return "";
    }
  }

  // Everything received until the server closes the connection, or nullopt if it is still open
  // after `timeout`.
  std::optional<std::string> ReadUntilClosed(std::chrono::milliseconds timeout = 2s) {
    const auto deadline = Clock::now() + timeout;
    while (ReceiveSome(deadline)) {
    }
    if (!closed_) return std::nullopt;
    return std::exchange(pending_, {});
  }

 private:
  static size_t ContentLength(const std::string& header) {
    std::string lower = header;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const size_t field = lower.find("\r\ncontent-length:");
    return field == std::string::npos ? 0 : std::stoul(lower.substr(field + 17));
  }

  // False on timeout or once the peer has closed (then closed_ is set).
  bool ReceiveSome(Clock::time_point deadline) {
    if (fd_ < 0 || closed_) return false;
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) return false;
    pollfd poll_fd{.fd = fd_, .events = POLLIN, .revents = 0};
    if (::poll(&poll_fd, 1, static_cast<int>(left)) <= 0) return false;
    char buffer[8192];
    const ssize_t n = ::recv(fd_, buffer, sizeof(buffer), 0);
    if (n <= 0) {  // EOF or reset: closed either way
      closed_ = true;
      return false;
    }
    pending_.append(buffer, static_cast<size_t>(n));
    return true;
  }

  int fd_ = -1;
  bool closed_ = false;
  std::string pending_;  // received beyond the last response returned
};

int StatusOf(const std::string& response) {
  if (response.size() < 12 || response.compare(0, 5, "HTTP/") != 0) return -1;
  return std::stoi(response.substr(9, 3));
}

std::string BodyOf(const std::string& response) {
  const size_t header_end = response.find("\r\n\r\n");
  return header_end == std::string::npos ? "" : response.substr(header_end + 4);
}

bool HasHeader(const std::string& response, const std::string& line) {
  const size_t header_end = response.find("\r\n\r\n");
  if (header_end == std::string::npos) return false;
  return response.substr(0, header_end + 2).find("\r\n" + line + "\r\n") != std::string::npos;
}

// Designated initializers that skip fields trip -Wmissing-field-initializers.
AdminResponse WithStatus(int status) {
  AdminResponse response;
  response.status = status;
  return response;
}

AdminServerOptions LoopbackOptions() {
  AdminServerOptions options;
  options.address = "127.0.0.1:0";
  return options;
}

// Reply values a handler hands over, for a test thread to answer (or drop) later.
class ReplyBox {
 public:
  void Put(Reply reply) {
    std::lock_guard<std::mutex> lock(mu_);
    replies_.push_back(std::move(reply));
    cv_.notify_all();
  }
  // Waits (bounded) for the n-th reply to arrive; false if it did not.
  bool WaitFor(size_t n, std::chrono::milliseconds timeout = 2s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return replies_.size() >= n; });
  }
  Reply Take(size_t i) {
    std::lock_guard<std::mutex> lock(mu_);
    return std::move(replies_.at(i));
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Reply> replies_;
};

class AdminServerTest : public ::testing::Test {
 protected:
  void Start(const AdminServerOptions& options, Handler handler) {
    Result<std::unique_ptr<AdminServer>> server = AdminServer::Start(options, std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
  }
  // A server whose handler answers 200 with "METHOD PATH?QUERY BODY" and counts its calls.
  void StartEcho(const AdminServerOptions& options = LoopbackOptions()) {
    Start(options, [this](const AdminRequest& request, Reply reply) {
      ++handler_calls_;
      reply(AdminResponse{
          .status = 200,
          .content_type = "text/plain",
          .body = request.method + " " + request.path + "?" + request.query + " " + request.body});
    });
  }

  // Sends `request` on a fresh connection and returns the response.
  std::string RoundTrip(const std::string& request) {
    RawClient client(server_->port());
    EXPECT_TRUE(client.connected());
    EXPECT_TRUE(client.Send(request));
    return client.ReadResponse();
  }

  std::atomic<int> handler_calls_{0};
  std::unique_ptr<AdminServer> server_;
};

// --- Options -------------------------------------------------------------------------------------

TEST(AdminServerOptionsTest, AcceptsDefaults) {
  const Status status = AdminServerOptions().Validate();
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST(AdminServerOptionsTest, RequiresTokenForNonLoopbackHosts) {
  for (const std::string address : {"0.0.0.0:9404", "192.168.1.5:9404", "[::]:9404",
                                    "[2001:db8::1]:80", "trainer:9404", "128.0.0.1:9404"}) {
    AdminServerOptions options;
    options.address = address;
    const Status status = options.Validate();
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << address;
    EXPECT_NE(status.message().find("--admin-token is required"), std::string::npos)
        << address << ": " << status.message();
  }
}

TEST(AdminServerOptionsTest, AllowsLoopbackHostsWithoutToken) {
  for (const std::string address : {"127.0.0.1:0", "127.3.4.5:9404", "[::1]:9404", "localhost:9404",
                                    "LocalHost:1", "[::ffff:127.0.0.1]:1"}) {
    AdminServerOptions options;
    options.address = address;
    const Status status = options.Validate();
    EXPECT_TRUE(status.ok()) << address << ": " << status.ToString();
  }
}

TEST(AdminServerOptionsTest, AcceptsNonLoopbackHostWithToken) {
  AdminServerOptions options;
  options.address = "0.0.0.0:9404";
  options.token = "s3cret-token";
  const Status status = options.Validate();
  EXPECT_TRUE(status.ok()) << status.ToString();
}

TEST(AdminServerOptionsTest, RejectsMalformedAddresses) {
  for (const std::string address : {"", "9404", ":9404", "host:", "host:abc", "host:65536",
                                    "host:-1", "::1:9404", "[::1:9404", "[]:1"}) {
    AdminServerOptions options;
    options.address = address;
    options.token = "t";  // so that only the address can be wrong
    EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument) << "'" << address << "'";
  }
}

TEST(AdminServerOptionsTest, RejectsTokenThatCannotTravelInAHeader) {
  for (const std::string token : {"two words", "line\nbreak", "tab\t", "caf\xc3\xa9"}) {
    AdminServerOptions options;
    options.token = token;
    EXPECT_EQ(options.Validate().code(), StatusCode::kInvalidArgument) << "'" << token << "'";
  }
}

TEST(AdminServerOptionsTest, RejectsUnusableLimits) {
  AdminServerOptions options;
  options.read_timeout = 0ms;
  EXPECT_FALSE(options.Validate().ok());
  options = AdminServerOptions();
  options.max_connections = 0;
  EXPECT_FALSE(options.Validate().ok());
  options = AdminServerOptions();
  options.max_header_bytes = 16;
  EXPECT_FALSE(options.Validate().ok());
  options = AdminServerOptions();
  options.header_timeout = 0ms;
  EXPECT_FALSE(options.Validate().ok());
  options = AdminServerOptions();
  options.max_connections_per_client = 0;
  EXPECT_FALSE(options.Validate().ok());
}

// --- Reply ---------------------------------------------------------------------------------------

TEST(ReplyTest, DeliversOnlyTheFirstResponse) {
  std::vector<int> delivered;
  Reply reply([&](AdminResponse response) { delivered.push_back(response.status); });
  EXPECT_TRUE(reply.pending());
  reply(WithStatus(202));
  reply(WithStatus(500));
  EXPECT_FALSE(reply.pending());
  EXPECT_EQ(delivered, std::vector<int>{202});
}

TEST(ReplyTest, DroppedReplyDelivers503) {
  std::vector<AdminResponse> delivered;
  {
    Reply reply([&](AdminResponse response) { delivered.push_back(std::move(response)); });
  }
  ASSERT_EQ(delivered.size(), 1u);
  EXPECT_EQ(delivered[0].status, 503);
  EXPECT_EQ(delivered[0].body.rfind("{\"error\":\"", 0), 0u) << delivered[0].body;
}

TEST(ReplyTest, MovingHandsOverTheSingleAnswer) {
  int deliveries = 0;
  Reply first([&](AdminResponse) { ++deliveries; });
  Reply second(std::move(first));
  EXPECT_FALSE(first.pending());  // NOLINT(bugprone-use-after-move): checking the moved-from
  first(AdminResponse{});
  EXPECT_EQ(deliveries, 0);
  second(AdminResponse{});
  EXPECT_EQ(deliveries, 1);
}

TEST(JsonErrorTest, EscapesTheMessage) {
  const AdminResponse response = JsonError(400, "bad \"x\"\\\n\x01");
  EXPECT_EQ(response.status, 400);
  EXPECT_EQ(response.content_type, "application/json");
  EXPECT_EQ(response.body, R"({"error":"bad \"x\"\\\n\u0001"})");
}

// --- Server: start -------------------------------------------------------------------------------

TEST_F(AdminServerTest, ReportsTheEphemeralPortItBound) {
  StartEcho();
  EXPECT_GT(server_->port(), 0);
  EXPECT_EQ(server_->address(), "127.0.0.1:" + std::to_string(server_->port()));
}

TEST_F(AdminServerTest, StartFailsWithUnavailableWhenThePortIsTaken) {
  StartEcho();
  AdminServerOptions options;
  options.address = server_->address();
  Result<std::unique_ptr<AdminServer>> second =
      AdminServer::Start(options, [](const AdminRequest&, Reply) {});
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(second.status().message().find(server_->address()), std::string::npos)
      << second.status().message();
}

TEST_F(AdminServerTest, StartRejectsANullHandler) {
  Result<std::unique_ptr<AdminServer>> server = AdminServer::Start(LoopbackOptions(), nullptr);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), StatusCode::kInvalidArgument);
}

// --- Server: requests and replies
// -----------------------------------------------------------------

TEST_F(AdminServerTest, PassesMethodPathQueryAndBodyToTheHandler) {
  std::mutex mu;
  AdminRequest seen;
  Start(LoopbackOptions(), [&](const AdminRequest& request, Reply reply) {
    {
      std::lock_guard<std::mutex> lock(mu);
      seen = request;
    }
    reply(AdminResponse{});
  });
  Result<AdminResponse> response =
      HttpCall(server_->address(), "POST", "/snapshot?tag=a%20b&x=1", R"({"why":"test"})");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  std::lock_guard<std::mutex> lock(mu);
  EXPECT_EQ(seen.method, "POST");
  EXPECT_EQ(seen.path, "/snapshot");
  EXPECT_EQ(seen.query, "tag=a%20b&x=1");
  EXPECT_EQ(seen.body, R"({"why":"test"})");
}

TEST_F(AdminServerTest, SendsTheHandlersStatusContentTypeAndBody) {
  Start(LoopbackOptions(), [](const AdminRequest&, Reply reply) {
    reply(AdminResponse{.status = 202, .content_type = "text/plain", .body = "accepted"});
  });
  Result<AdminResponse> response = HttpCall(server_->address(), "GET", "/status");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 202);
  EXPECT_EQ(response->content_type, "text/plain");
  EXPECT_EQ(response->body, "accepted");
}

TEST_F(AdminServerTest, DeliversAReplyMadeLaterOnAnotherThread) {
  ReplyBox box;
  Start(LoopbackOptions(), [&](const AdminRequest&, Reply reply) { box.Put(std::move(reply)); });
  std::thread replier([&] {
    if (!box.WaitFor(1)) return;
    std::this_thread::sleep_for(200ms);
    box.Take(0)(AdminResponse{.status = 200, .content_type = "text/plain", .body = "late"});
  });
  const auto start = Clock::now();
  Result<AdminResponse> response = HttpCall(server_->address(), "POST", "/snapshot", "", "", 5s);
  const auto elapsed = Clock::now() - start;
  replier.join();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "late");
  EXPECT_GE(elapsed, 200ms);
}

TEST_F(AdminServerTest, AnswersADroppedReplyWith503) {
  Start(LoopbackOptions(), [](const AdminRequest&, Reply) {});
  Result<AdminResponse> response = HttpCall(server_->address(), "GET", "/healthz");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 503);
  EXPECT_EQ(response->body.rfind("{\"error\":\"", 0), 0u) << response->body;
}

TEST_F(AdminServerTest, AnswersAThrowingHandlerWith500WithoutItsDetail) {
  // LibTorch's exceptions carry stack frames and source paths: none of it reaches a client.
  Start(LoopbackOptions(), [](const AdminRequest&, Reply) {
    throw std::runtime_error("boom\nframe #0: c10::Error at /src/torch/csrc/x.cpp:12");
  });
  ::testing::internal::CaptureStderr();
  Result<AdminResponse> response = HttpCall(server_->address(), "GET", "/healthz");
  const std::string log = ::testing::internal::GetCapturedStderr();
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 500);
  const nlohmann::json body = nlohmann::json::parse(response->body);
  EXPECT_EQ(body.at("error"), "internal error");
  const std::string id = body.at("request_id");
  EXPECT_EQ(id.size(), 16u);
  EXPECT_EQ(response->body.find("boom"), std::string::npos) << response->body;
  EXPECT_EQ(response->body.find("frame"), std::string::npos) << response->body;
  // The server's log has the detail under the same id.
  EXPECT_NE(log.find("internal error " + id + ": the handler failed: boom"), std::string::npos)
      << log;
}

TEST(InternalErrorTest, GivesEachErrorItsOwnRequestId) {
  ::testing::internal::CaptureStderr();
  const AdminResponse a = InternalError("serve", "first");
  const AdminResponse b = InternalError("serve", "second");
  const std::string log = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(a.status, 500);
  EXPECT_NE(a.body, b.body);
  EXPECT_NE(log.find("towerstream serve: internal error "), std::string::npos) << log;
  EXPECT_EQ(a.body.find("first"), std::string::npos);
}

TEST_F(AdminServerTest, AnswersAnInvalidHandlerStatusWith500) {
  Start(LoopbackOptions(), [](const AdminRequest&, Reply reply) { reply(WithStatus(42)); });
  Result<AdminResponse> response = HttpCall(server_->address(), "GET", "/healthz");
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 500);
  EXPECT_NE(response->body.find("42"), std::string::npos) << response->body;
}

TEST_F(AdminServerTest, KeepsTheConnectionAliveForASecondRequest) {
  StartEcho();
  RawClient client(server_->port());
  ASSERT_TRUE(client.connected());
  for (const std::string path : {"/a", "/b"}) {
    ASSERT_TRUE(client.Send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\n"));
    const std::string response = client.ReadResponse();
    EXPECT_EQ(StatusOf(response), 200) << path << ": " << response;
    EXPECT_FALSE(HasHeader(response, "Connection: close")) << response;
    EXPECT_EQ(BodyOf(response), "GET " + path + "? ");
  }
  EXPECT_EQ(handler_calls_, 2);
}

TEST_F(AdminServerTest, HonoursConnectionClose) {
  StartEcho();
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200) << response;
  EXPECT_TRUE(HasHeader(response, "Connection: close")) << response;
  const std::optional<std::string> rest = client.ReadUntilClosed();
  ASSERT_TRUE(rest.has_value()) << "server kept the connection open";
  EXPECT_EQ(*rest, "");
}

TEST_F(AdminServerTest, SendsContinueBeforeReadingAnExpectedBody) {
  StartEcho();
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send(
      "POST /p HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n"));
  const std::string interim = client.ReadResponse();
  EXPECT_EQ(StatusOf(interim), 100) << interim;
  ASSERT_TRUE(client.Send("hello"));
  const std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 200) << response;
  EXPECT_EQ(BodyOf(response), "POST /p? hello");
}

TEST_F(AdminServerTest, AnswersHeadWithTheHeaderOnly) {
  StartEcho();
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("HEAD /x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
  const std::optional<std::string> response = client.ReadUntilClosed();
  ASSERT_TRUE(response.has_value()) << "server kept the connection open";
  EXPECT_EQ(StatusOf(*response), 200) << *response;
  EXPECT_TRUE(HasHeader(*response, "Content-Length: 9")) << *response;  // "HEAD /x? "
  EXPECT_EQ(BodyOf(*response), "") << *response;
}

// --- Server: malformed and oversized requests
// -----------------------------------------------------

TEST_F(AdminServerTest, AnswersGarbageWith400AndCloses) {
  StartEcho();
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1garbage\r\n\r\n", 20)));
  const std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 400) << response;
  EXPECT_EQ(BodyOf(response).rfind("{\"error\":\"malformed request", 0), 0u) << response;
  EXPECT_TRUE(client.ReadUntilClosed().has_value()) << "server kept the connection open";
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AnswersBadRequestLinesWith400) {
  StartEcho();
  for (const std::string request :
       {"GET /x HTTX/1.1\r\n\r\n", "GET\r\n\r\n", "GET  HTTP/1.1\r\n\r\n",
        "GET /x HTTP/1.1 extra\r\n\r\n", "G(T /x HTTP/1.1\r\n\r\n", "GET x HTTP/1.1\r\n\r\n",
        "GET /x HTTP/2.0\r\n\r\n", "GET /x HTTP/1.2\r\n\r\n"}) {
    const std::string response = RoundTrip(request);
    EXPECT_EQ(StatusOf(response), 400) << request << " -> " << response;
    EXPECT_EQ(BodyOf(response).rfind("{\"error\":\"", 0), 0u) << request << " -> " << response;
  }
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AnswersBadHeadersWith400) {
  StartEcho();
  for (const std::string header :
       {"No colon here", "Bad Name: x", "Content-Length: abc", "Content-Length: 1, 2",
        "Transfer-Encoding: gzip", "Transfer-Encoding: chunked, gzip",
        "Content-Length: 3\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 3"}) {
    const std::string request = "POST /x HTTP/1.1\r\nHost: x\r\n" + header + "\r\n\r\n";
    const std::string response = RoundTrip(request);
    EXPECT_EQ(StatusOf(response), 400) << header << " -> " << response;
  }
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AnswersATransferCodingOtherThanChunkedWith501) {
  StartEcho();
  const std::string response =
      RoundTrip("POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n");
  EXPECT_EQ(StatusOf(response), 501) << response;
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AnswersOversizedHeadersWith431) {
  StartEcho();
  const std::string response =
      RoundTrip("GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + std::string(10'000, 'a') + "\r\n\r\n");
  EXPECT_EQ(StatusOf(response), 431) << response.substr(0, 200);
  EXPECT_EQ(BodyOf(response).rfind("{\"error\":\"request header larger", 0), 0u) << response;
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, Answers413FromContentLengthWithoutWaitingForTheBody) {
  StartEcho();  // default read_timeout 10 s: a server waiting for the body would not answer in 2 s
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 65537\r\n\r\n"));
  const std::string response = client.ReadResponse(2s);
  EXPECT_EQ(StatusOf(response), 413) << response;
  EXPECT_NE(BodyOf(response).find("65537"), std::string::npos) << response;
  EXPECT_TRUE(client.ReadUntilClosed().has_value()) << "server kept the connection open";
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AnswersAnOversizedChunkedBodyWith413) {
  AdminServerOptions options = LoopbackOptions();
  options.max_body_bytes = 16;
  StartEcho(options);
  const std::string response = RoundTrip(
      "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "20\r\n" +
      std::string(32, 'b') + "\r\n0\r\n\r\n");
  EXPECT_EQ(StatusOf(response), 413) << response;
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AcceptsABodyOfExactlyTheLimit) {
  AdminServerOptions options = LoopbackOptions();
  options.max_body_bytes = 16;
  StartEcho(options);
  Result<AdminResponse> response = HttpCall(server_->address(), "POST", "/x", std::string(16, 'b'));
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "POST /x? " + std::string(16, 'b'));
}

// --- Server: timeouts, slow clients, connection limit
// ---------------------------------------------

TEST_F(AdminServerTest, ClosesAnIdleConnectionAtTheReadTimeout) {
  AdminServerOptions options = LoopbackOptions();
  options.read_timeout = 200ms;
  StartEcho(options);
  RawClient idle(server_->port());
  ASSERT_TRUE(idle.connected());
  const std::optional<std::string> received = idle.ReadUntilClosed(2s);
  ASSERT_TRUE(received.has_value()) << "idle connection still open after 2 s";
  EXPECT_EQ(*received, "") << "nothing was asked, so nothing should be answered";
}

TEST_F(AdminServerTest, AnswersAnIncompleteRequestWith408AtTheReadTimeout) {
  AdminServerOptions options = LoopbackOptions();
  options.read_timeout = 200ms;
  StartEcho(options);
  RawClient slow(server_->port());
  ASSERT_TRUE(slow.Send("GET /x HTTP/1.1\r\nHost:"));
  const std::string response = slow.ReadResponse(2s);
  EXPECT_EQ(StatusOf(response), 408) << response;
  EXPECT_TRUE(slow.ReadUntilClosed().has_value()) << "server kept the connection open";
  // And the server goes on serving.
  Result<AdminResponse> next = HttpCall(server_->address(), "GET", "/next", "", "", 2s);
  ASSERT_TRUE(next.ok()) << next.status().ToString();
  EXPECT_EQ(next->status, 200);
}

// A client that trickles its header used to hold its connection slot for the whole read
// timeout (10 s): a few such clients took every slot.
TEST_F(AdminServerTest, AnswersASlowHeaderWith408AtTheHeaderTimeout) {
  AdminServerOptions options = LoopbackOptions();
  options.header_timeout = 200ms;  // read_timeout stays 10 s
  StartEcho(options);
  RawClient slow(server_->port());
  ASSERT_TRUE(slow.Send("GET /x HTTP/1.1\r\nHost:"));
  const auto start = Clock::now();
  const std::string response = slow.ReadResponse(3s);
  EXPECT_EQ(StatusOf(response), 408) << response;
  EXPECT_NE(BodyOf(response).find("header timeout of 200 ms"), std::string::npos) << response;
  EXPECT_LT(Clock::now() - start, 2s);
  EXPECT_TRUE(slow.ReadUntilClosed().has_value()) << "server kept the connection open";
}

// Idle is not slow: a connection may wait for its request up to read_timeout, and a request
// that starts between two header checks still gets a whole header timeout.
TEST_F(AdminServerTest, AnIdleConnectionMayWaitBeyondTheHeaderTimeout) {
  AdminServerOptions options = LoopbackOptions();
  options.header_timeout = 150ms;
  options.read_timeout = 3s;
  StartEcho(options);
  RawClient client(server_->port());
  std::this_thread::sleep_for(500ms);
  ASSERT_TRUE(client.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(client.ReadResponse()), 200);
  std::this_thread::sleep_for(400ms);  // kept alive, idle again
  ASSERT_TRUE(client.Send("GET /b HTTP/1.1\r\nHo"));
  std::this_thread::sleep_for(100ms);
  ASSERT_TRUE(client.Send("st: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(client.ReadResponse()), 200);
  EXPECT_EQ(handler_calls_, 2);
}

// One client address may hold max_connections_per_client; others still get in.
TEST_F(AdminServerTest, LimitsTheConnectionsOfOneClientAddress) {
  AdminServerOptions options = LoopbackOptions();
  options.max_connections = 8;
  options.max_connections_per_client = 2;
  StartEcho(options);
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(held.back()->Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
    ASSERT_EQ(StatusOf(held.back()->ReadResponse()), 200);  // served and kept alive
  }
  RawClient third(server_->port());
  ASSERT_TRUE(third.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string refused = third.ReadResponse();
  EXPECT_EQ(StatusOf(refused), 503) << refused;
  EXPECT_NE(BodyOf(refused).find("too many connections from 127.0.0.1"), std::string::npos)
      << refused;
  RawClient other(server_->port(), INADDR_LOOPBACK + 1);  // 127.0.0.2
  ASSERT_TRUE(other.connected());
  ASSERT_TRUE(other.Send("GET /c HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(other.ReadResponse()), 200);
  // A slot freed by the first client is its own again.
  held.front()->Close();
  std::this_thread::sleep_for(100ms);
  RawClient again(server_->port());
  ASSERT_TRUE(again.Send("GET /d HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(StatusOf(again.ReadResponse()), 200);
}

TEST_F(AdminServerTest, AStalledClientDoesNotDelayOthers) {
  StartEcho();  // read_timeout 10 s: the stalled client stays connected throughout
  RawClient stalled(server_->port());
  ASSERT_TRUE(stalled.Send("POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc"));
  const auto start = Clock::now();
  for (int i = 0; i < 3; ++i) {
    Result<AdminResponse> response = HttpCall(server_->address(), "GET", "/healthz", "", "", 2s);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 200);
  }
  EXPECT_LT(Clock::now() - start, 1s);
  EXPECT_FALSE(stalled.ReadUntilClosed(50ms).has_value()) << "stalled client was dropped early";
}

TEST_F(AdminServerTest, AnswersConnectionsBeyondTheLimitWith503) {
  AdminServerOptions options = LoopbackOptions();
  options.max_connections = 1;
  StartEcho(options);
  RawClient first(server_->port());
  ASSERT_TRUE(first.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(StatusOf(first.ReadResponse()), 200);  // accepted and kept alive
  RawClient second(server_->port());
  ASSERT_TRUE(second.Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  const std::string response = second.ReadResponse();
  EXPECT_EQ(StatusOf(response), 503) << response;
  EXPECT_NE(BodyOf(response).find("too many connections"), std::string::npos) << response;
  EXPECT_TRUE(second.ReadUntilClosed().has_value()) << "rejected connection left open";
  EXPECT_EQ(handler_calls_, 1);
}

// Beyond max_connections refusing sessions too, a connection used to be closed without a word
// (136 of 200 in a flood): now every one gets its 503.
TEST_F(AdminServerTest, AnswersAFloodOfConnectionsEachWith503) {
  AdminServerOptions options = LoopbackOptions();
  options.max_connections = 1;
  StartEcho(options);
  RawClient held(server_->port());
  ASSERT_TRUE(held.Send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_EQ(StatusOf(held.ReadResponse()), 200);  // the one connection, kept alive
  std::vector<std::unique_ptr<RawClient>> flood;
  for (int i = 0; i < 40; ++i) {
    flood.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(flood.back()->Send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  int answered = 0;
  for (const auto& client : flood) {
    const std::string response = client->ReadResponse();
    EXPECT_EQ(StatusOf(response), 503) << response;
    answered += StatusOf(response) == 503;
  }
  EXPECT_EQ(answered, 40);
  EXPECT_EQ(handler_calls_, 1);
}

// --- Server: token
// ------------------------------------------------------------------------------------

TEST_F(AdminServerTest, AnswersARequestWithoutTokenWith401) {
  AdminServerOptions options = LoopbackOptions();
  options.token = "s3cret";
  StartEcho(options);
  const std::string response = RoundTrip("POST /snapshot HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_EQ(StatusOf(response), 401) << response;
  EXPECT_TRUE(HasHeader(response, "WWW-Authenticate: Bearer")) << response;
  EXPECT_NE(BodyOf(response).find("missing Authorization"), std::string::npos) << response;
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AnswersAWrongTokenWith401) {
  AdminServerOptions options = LoopbackOptions();
  options.token = "s3cret";
  StartEcho(options);
  for (const std::string token : {"s3cre", "s3cret2", "S3CRET", "wrong!"}) {
    Result<AdminResponse> response =
        HttpCall(server_->address(), "POST", "/snapshot", "", token, 2s);
    ASSERT_TRUE(response.ok()) << response.status().ToString();
    EXPECT_EQ(response->status, 401) << token;
    EXPECT_NE(response->body.find("invalid bearer token"), std::string::npos) << response->body;
  }
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, AnswersANonBearerSchemeWith401) {
  AdminServerOptions options = LoopbackOptions();
  options.token = "s3cret";
  StartEcho(options);
  const std::string response =
      RoundTrip("GET /status HTTP/1.1\r\nHost: x\r\nAuthorization: Basic czNjcmV0\r\n\r\n");
  EXPECT_EQ(StatusOf(response), 401) << response;
  EXPECT_EQ(handler_calls_, 0);
}

TEST_F(AdminServerTest, PassesARequestWithTheRightToken) {
  AdminServerOptions options = LoopbackOptions();
  options.token = "s3cret";
  StartEcho(options);
  Result<AdminResponse> response =
      HttpCall(server_->address(), "POST", "/snapshot", "", "s3cret", 2s);
  ASSERT_TRUE(response.ok()) << response.status().ToString();
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(handler_calls_, 1);
}

// --- Server: shutdown
// -----------------------------------------------------------------------------

TEST_F(AdminServerTest, DestroyingTheServerAnswersAPendingRequestWith503AndDropsTheLateReply) {
  ReplyBox box;  // outlives the server, like a trainer's queue of snapshot requests
  Start(LoopbackOptions(), [&](const AdminRequest&, Reply reply) { box.Put(std::move(reply)); });
  RawClient client(server_->port());
  ASSERT_TRUE(client.Send("POST /snapshot HTTP/1.1\r\nHost: x\r\n\r\n"));
  ASSERT_TRUE(box.WaitFor(1));
  server_.reset();
  const std::string response = client.ReadResponse();
  EXPECT_EQ(StatusOf(response), 503) << response;
  EXPECT_NE(BodyOf(response).find("shutting down"), std::string::npos) << response;
  // The late answer must touch nothing of the server (ASan in `make sanitize` checks).
  Reply late = box.Take(0);
  EXPECT_TRUE(late.pending());
  late(WithStatus(200));
}

TEST_F(AdminServerTest, RepliesRacingTheServersDestructionAreSafe) {
  ReplyBox box;
  Start(LoopbackOptions(), [&](const AdminRequest&, Reply reply) { box.Put(std::move(reply)); });
  constexpr int kClients = 8;
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.push_back(std::make_unique<RawClient>(server_->port()));
    ASSERT_TRUE(clients.back()->Send("GET /status HTTP/1.1\r\nHost: x\r\n\r\n"));
  }
  ASSERT_TRUE(box.WaitFor(kClients));
  std::thread replier([&] {
    for (int i = 0; i < kClients; ++i) {
      box.Take(i)(WithStatus(200));
      std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(3ms);
  server_.reset();
  replier.join();
  for (const std::unique_ptr<RawClient>& client : clients) {
    const int status = StatusOf(client->ReadResponse());
    EXPECT_TRUE(status == 200 || status == 503) << status;
  }
}

// --- HttpCall
// -----------------------------------------------------------------------------------------

TEST(HttpCallTest, ReportsUnavailableWhenNothingListens) {
  // A bound socket that does not listen: connecting to its port is refused.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length), 0);
  const std::string target = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  Result<AdminResponse> response = HttpCall(target, "GET", "/healthz", "", "", 2s);
  ::close(fd);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(response.status().message().find(target), std::string::npos)
      << response.status().message();
}

TEST(HttpCallTest, ReportsDeadlineExceededWhenTheAnswerIsLate) {
  ReplyBox box;
  Result<std::unique_ptr<AdminServer>> server = AdminServer::Start(
      LoopbackOptions(), [&](const AdminRequest&, Reply reply) { box.Put(std::move(reply)); });
  ASSERT_TRUE(server.ok()) << server.status().ToString();
  const auto start = Clock::now();
  Result<AdminResponse> response = HttpCall((*server)->address(), "GET", "/slow", "", "", 200ms);
  EXPECT_LT(Clock::now() - start, 2s);
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), StatusCode::kDeadlineExceeded)
      << response.status().ToString();
}

TEST(HttpCallTest, RejectsMalformedArguments) {
  struct Case {
    std::string address, method, target;
  };
  for (const Case& c :
       {Case{"nohost", "GET", "/"}, Case{"127.0.0.1:0", "GET", "/"}, Case{"127.0.0.1:1", "", "/"},
        Case{"127.0.0.1:1", "G T", "/"}, Case{"127.0.0.1:1", "GET", "status"},
        Case{"127.0.0.1:1", "GET", "/a b"}, Case{"127.0.0.1:1", "GET", "/a\r\nX: y"}}) {
    Result<AdminResponse> response = HttpCall(c.address, c.method, c.target, "", "", 1s);
    ASSERT_FALSE(response.ok()) << c.address << " " << c.method << " " << c.target;
    EXPECT_EQ(response.status().code(), StatusCode::kInvalidArgument)
        << c.address << " " << c.method << " " << c.target << ": " << response.status().ToString();
  }
}

}  // namespace
}  // namespace towerstream::admin
