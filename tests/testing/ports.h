// Loopback ports for tests that need one nothing listens on.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

namespace towerstream::testing {

// A 127.0.0.1 port nobody listens on: the kernel picks a free one, and it is released again
// (connecting to it is refused until something, e.g. a server the test starts, takes it).
inline int UnusedLoopbackPort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    if (fd >= 0) ::close(fd);
    return 1;  // tcpmux: nothing listens there either
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

}  // namespace towerstream::testing
