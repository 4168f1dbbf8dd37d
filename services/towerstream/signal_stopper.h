// SIGINT/SIGTERM as a stop request for the long-running subcommands (services).
#pragma once

#include <signal.h>

#include <atomic>
#include <stop_token>
#include <string>
#include <thread>

namespace towerstream::cli {

// Blocks SIGINT and SIGTERM in every thread (construct it before any other thread starts, so
// librdkafka's and the HTTP server's inherit the mask) and turns the first one into a stop
// request from a watcher thread; a second one exits at once, for a shutdown that hangs. The
// destructor restores the previous mask. Neither copyable nor movable.
class SignalStopper {
 public:
  // `command` names the subcommand in messages; `on_stop` says what it does before exiting.
  SignalStopper(std::string command, std::string on_stop);
  ~SignalStopper();
  SignalStopper(const SignalStopper&) = delete;
  SignalStopper& operator=(const SignalStopper&) = delete;

  std::stop_token token() const { return source_.get_token(); }
  // The signal that asked to stop, 0 if none came.
  int signal() const { return signal_.load(); }

 private:
  void Watch();

  std::string command_;
  std::string on_stop_;
  sigset_t signals_;
  sigset_t previous_;
  std::stop_source source_;
  std::atomic<int> signal_{0};
  std::atomic<bool> done_{false};
  std::thread watcher_;  // last: started once everything it uses exists
};

}  // namespace towerstream::cli
