// SignalStopper: a watcher thread waiting for SIGINT/SIGTERM with sigtimedwait.
#include "services/towerstream/signal_stopper.h"

#include <pthread.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <utility>

namespace towerstream::cli {

SignalStopper::SignalStopper(std::string command, std::string on_stop)
    : command_(std::move(command)), on_stop_(std::move(on_stop)) {
  sigemptyset(&signals_);
  sigaddset(&signals_, SIGINT);
  sigaddset(&signals_, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals_, &previous_);
  watcher_ = std::thread([this] { Watch(); });
}

SignalStopper::~SignalStopper() {
  done_.store(true);
  watcher_.join();
  pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

void SignalStopper::Watch() {
  const timespec poll_interval{.tv_sec = 0, .tv_nsec = 100'000'000};
  while (!done_.load()) {
    const int signo = sigtimedwait(&signals_, nullptr, &poll_interval);
    if (signo <= 0) continue;
    if (signal_.exchange(signo) != 0) {
      std::fprintf(stderr, "\ntowerstream %s: second signal, exiting at once\n", command_.c_str());
      std::_Exit(128 + signo);
    }
    std::fprintf(stderr, "\ntowerstream %s: %s: %s (again to exit at once)\n", command_.c_str(),
                 strsignal(signo), on_stop_.c_str());
    source_.request_stop();
  }
}

}  // namespace towerstream::cli
