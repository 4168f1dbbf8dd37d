// SignalStopper: signal handlers that write to a pipe, and a watcher thread reading it.
#include "services/towerstream/signal_stopper.h"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

namespace towerstream::cli {
namespace {

// A signal handler can reach no object: the write end of the current stopper's pipe is the one
// piece of process state it needs (one SignalStopper at a time).
std::atomic<int> signal_pipe_write{-1};

void OnSignal(int signo) {
  const int saved_errno = errno;
  const int fd = signal_pipe_write.load();
  const auto byte = static_cast<unsigned char>(signo);
  if (fd >= 0) (void)!write(fd, &byte, 1);
  errno = saved_errno;
}

}  // namespace

SignalStopper::SignalStopper(std::string command, std::string on_stop,
                             std::function<void()> on_usr1)
    : command_(std::move(command)), on_stop_(std::move(on_stop)), on_usr1_(std::move(on_usr1)) {
  if (pipe2(pipe_, O_CLOEXEC | O_NONBLOCK) != 0) {
    std::fprintf(stderr, "towerstream %s: cannot create the signal pipe: %s\n", command_.c_str(),
                 std::strerror(errno));
    std::abort();
  }
  [[maybe_unused]] const int before = signal_pipe_write.exchange(pipe_[1]);
  assert(before == -1 && "one SignalStopper at a time");
  // Handlers, because libraries (OpenBLAS, OpenMP) start threads before main and a
  // process-directed signal may land on any of them; and a blocked mask for this thread and
  // every thread started after it (librdkafka's, RocksDB's, the HTTP servers'), so that none
  // of those has a system call interrupted. The watcher unblocks them for itself.
  struct sigaction action {};
  action.sa_handler = OnSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGINT, &action, &previous_int_);
  sigaction(SIGTERM, &action, &previous_term_);
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  if (on_usr1_) {
    sigaction(SIGUSR1, &action, &previous_usr1_);
    sigaddset(&signals_, SIGUSR1);
  }
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_mask_);
  watcher_ = std::thread([this] {
    pthread_sigmask(SIG_UNBLOCK, &signals_, nullptr);
    Watch();
  });
}

SignalStopper::~SignalStopper() {
  done_.store(true);
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
  sigaction(SIGINT, &previous_int_, nullptr);
  sigaction(SIGTERM, &previous_term_, nullptr);
  if (on_usr1_) sigaction(SIGUSR1, &previous_usr1_, nullptr);
  signal_pipe_write.store(-1);
  close(pipe_[0]);
  close(pipe_[1]);
}

void SignalStopper::Watch() {
  while (!done_.load()) {
    pollfd fd{.fd = pipe_[0], .events = POLLIN, .revents = 0};
    if (poll(&fd, 1, /*timeout_ms=*/100) <= 0) continue;
    unsigned char byte = 0;
    while (read(pipe_[0], &byte, 1) == 1) {
      const int signo = byte;
      if (signo == SIGUSR1) {
        std::fprintf(stderr, "towerstream %s: SIGUSR1: snapshot requested\n", command_.c_str());
        on_usr1_();
        continue;
      }
      if (signal_.exchange(signo) != 0) {
        std::fprintf(stderr, "\ntowerstream %s: second signal, exiting at once\n",
                     command_.c_str());
        std::_Exit(128 + signo);
      }
      std::fprintf(stderr, "\ntowerstream %s: %s: %s (again to exit at once)\n", command_.c_str(),
                   strsignal(signo), on_stop_.c_str());
      source_.request_stop();
    }
  }
}

}  // namespace towerstream::cli
