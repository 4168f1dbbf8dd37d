// SIGINT/SIGTERM as a stop request for the long-running subcommands (services).
#pragma once

#include <signal.h>

#include <atomic>
#include <functional>
#include <stop_token>
#include <string>
#include <thread>

namespace towerstream::cli {

// Handles SIGINT and SIGTERM (a handler that only writes to a pipe, for threads that libraries
// started before it; every thread started after it, construct it early, inherits a mask that
// blocks them, so only its own watcher and those early threads take them) and turns the first
// one into a stop request from the watcher thread; a second one
// exits at once, for a shutdown that hangs. Given `on_usr1`, SIGUSR1 calls it (from the watcher
// thread) instead of stopping: the services' "snapshot now". One at a time per process; the
// destructor restores the previous handlers. Neither copyable nor movable.
class SignalStopper {
 public:
  // `command` names the subcommand in messages; `on_stop` says what it does before exiting.
  SignalStopper(std::string command, std::string on_stop, std::function<void()> on_usr1 = nullptr);
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
  std::function<void()> on_usr1_;
  int pipe_[2] = {-1, -1};  // written by the handlers, read by the watcher
  sigset_t signals_;
  sigset_t previous_mask_;
  struct sigaction previous_int_ {};
  struct sigaction previous_term_ {};
  struct sigaction previous_usr1_ {};
  std::stop_source source_;
  std::atomic<int> signal_{0};
  std::atomic<bool> done_{false};
  std::thread watcher_;  // last: started once everything it uses exists
};

}  // namespace towerstream::cli
