// A minimal blocking HTTP GET over a raw loopback socket, for tests that scrape a MetricsServer
// (no HTTP library needed). Reads until Content-Length bytes of body or the server closes.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <string>

#include "common/base/status.h"

namespace towerstream::testing {

// GETs `path` from 127.0.0.1:`port` and returns the body when the status is 200.
inline Result<std::string> HttpGet(int port, const std::string& path = "/metrics") {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::IoError("socket() failed");
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  timeval timeout{.tv_sec = 10, .tv_usec = 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0) {
    return Status::Unavailable("connect to 127.0.0.1:" + std::to_string(port) + " failed");
  }
  const std::string request =
      "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
  if (::send(fd, request.data(), request.size(), 0) != static_cast<ssize_t>(request.size())) {
    return Status::IoError("send failed");
  }
  std::string response;
  char buffer[8192];
  ssize_t n;
  size_t body = std::string::npos;
  size_t length = std::string::npos;
  while ((n = ::recv(fd, buffer, sizeof(buffer), 0)) > 0) {
    response.append(buffer, n);
    if (body == std::string::npos && (body = response.find("\r\n\r\n")) != std::string::npos) {
      body += 4;
      const size_t field = response.find("Content-Length: ");
      if (field != std::string::npos && field < body)
        length = std::stoul(response.substr(field + 16));
    }
    if (length != std::string::npos && response.size() >= body + length) break;
  }
  if (body == std::string::npos) return Status::IoError("no HTTP header in: " + response);
  if (response.compare(0, 12, "HTTP/1.1 200") != 0) {
    return Status::Unavailable("HTTP error: " + response.substr(0, response.find("\r\n")));
  }
  return response.substr(body);
}

}  // namespace towerstream::testing
