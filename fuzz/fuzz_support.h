// What the fuzz targets share: failing loudly on a broken invariant, a scratch directory per
// process, and one raw HTTP exchange with a server on loopback.
//
// A fuzz target returns normally for every input a parser may reject; anything that should
// never happen (a round trip that changes the value, a fast path that disagrees with the
// reference decoder, a server that never answers) goes through Fail(), which aborts so that
// libFuzzer saves the input as a crash. Single-threaded use, like libFuzzer's callback.
#pragma once

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace towerstream::fuzz {

// Prints `what` and aborts: libFuzzer reports the input as a crash and writes it out.
[[noreturn]] inline void Fail(std::string_view what) {
  std::fprintf(stderr, "fuzz invariant broken: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

inline void Check(bool condition, std::string_view what) {
  if (!condition) Fail(what);
}

inline std::string_view AsText(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// A directory of this process under $TMPDIR (scripts/fuzz points it at its scratch folder),
// created on first use and removed at exit.
inline const std::filesystem::path& ScratchDir() {
  static const std::filesystem::path dir = [] {
    std::string pattern = (std::filesystem::temp_directory_path() / "ts_fuzz_XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) Fail("cannot create a scratch directory");
    std::atexit([] {
      ::nftw(
          ScratchDir().c_str(),
          [](const char* file, const struct stat*, int, struct FTW*) { return ::remove(file); },
          /*nopenfd=*/16, FTW_DEPTH | FTW_PHYS);
    });
    return std::filesystem::path(pattern);
  }();
  return dir;
}

// A target whose seeds are written by its own code (real objects saved, events encoded) calls
// this from LLVMFuzzerInitialize: with TS_FUZZ_WRITE_SEEDS=DIR it writes them into DIR and exits.
inline void WriteSeedsIfAsked(void (*write_seeds)(const std::filesystem::path& dir)) {
  if (const char* dir = std::getenv("TS_FUZZ_WRITE_SEEDS")) {
    std::filesystem::create_directories(dir);
    write_seeds(dir);
    std::exit(0);
  }
}

// Replaces `path` with exactly `bytes`.
inline void WriteFile(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  out.close();
  if (!out) Fail("cannot write " + path.string());
}

// Sends `request` as raw bytes on a fresh connection to 127.0.0.1:`port`, closes the sending
// side, and returns everything the server writes until it closes the connection. A server that
// neither answers nor closes within `timeout` is a hang: Fail(). Whatever it sends must be HTTP.
inline std::string HttpExchange(int port, std::string_view request,
                                std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) Fail(std::string("socket: ") + std::strerror(errno));
  // Closing with a reset: the client closes first, and a TIME_WAIT per input would use up the
  // ephemeral ports within a minute of fuzzing.
  const linger reset{.l_onoff = 1, .l_linger = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // libFuzzer's timer signal interrupts blocking calls (EINTR): a connect it interrupts goes on
  // in the background, so its outcome is awaited; other calls are retried.
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) != 0) {
    if (errno != EINTR)
      Fail(std::string("connect to the server under test: ") + std::strerror(errno));
    pollfd writable{.fd = fd, .events = POLLOUT, .revents = 0};
    while (::poll(&writable, 1, -1) < 0 && errno == EINTR) {
    }
    int error = 0;
    socklen_t length = sizeof(error);
    ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    if (error != 0) Fail(std::string("connect to the server under test: ") + std::strerror(error));
  }
  // The server may answer and close before reading everything (an error response): a write
  // that fails then is part of the exchange, not a fault.
  for (size_t sent = 0; sent < request.size();) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  ::shutdown(fd, SHUT_WR);
  std::string response;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    pollfd readable{.fd = fd, .events = POLLIN, .revents = 0};
    const int ready = left.count() > 0 ? ::poll(&readable, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) {
      Fail("the server neither answered nor closed the connection within " +
           std::to_string(timeout.count()) + " ms; it sent " + std::to_string(response.size()) +
           " bytes");
    }
    char buffer[4096];
    const ssize_t n = ::recv(fd, buffer, sizeof(buffer), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // closed (or reset after an error response)
    response.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (!response.empty() && !response.starts_with("HTTP/1.")) {
    Fail("the server wrote something that is not an HTTP response: " + response.substr(0, 80));
  }
  return response;
}

}  // namespace towerstream::fuzz
