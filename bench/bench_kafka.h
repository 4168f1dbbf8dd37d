// A Kafka broker of the benchmark's own, started and stopped with scripts/kafka.
#pragma once

#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>

#include "common/base/status.h"

namespace towerstream::bench {

// Runs a shell command and returns the last line it printed on stdout.
inline Result<std::string> RunCommand(const std::string& command) {
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen(command.c_str(), "r"), pclose);
  if (!pipe) return Status::IoError("cannot run: " + command);
  std::string last;
  char line[4096];
  while (std::fgets(line, sizeof(line), pipe.get()) != nullptr) {
    last = line;
    while (!last.empty() && (last.back() == '\n' || last.back() == '\r')) last.pop_back();
  }
  if (pclose(pipe.release()) != 0) return Status::Unavailable("failed: " + command);
  return last;
}

// A broker started with scripts/kafka (a free port, state in `state_dir`) for the duration of
// a benchmark; the destructor stops it. TOWERSTREAM_SOURCE_DIR must name the repository.
class Broker {
 public:
  explicit Broker(std::filesystem::path state_dir) : state_dir_(std::move(state_dir)) {}
  ~Broker() {
    if (started_) {
      RunCommand(Script() + " stop --state-dir '" + state_dir_.string() + "'")
          .status()
          .IgnoreError();
    }
  }
  Broker(const Broker&) = delete;
  Broker& operator=(const Broker&) = delete;

  // The bootstrap address, once the broker answers.
  Result<std::string> Start() {
    started_ = true;
    return RunCommand(Script() + " start --port auto --state-dir '" + state_dir_.string() + "'");
  }
  // The broker's process id (for its CPU time), empty when unknown.
  std::string pid() const {
    std::unique_ptr<FILE, int (*)(FILE*)> f(std::fopen((state_dir_ / "kafka.pid").c_str(), "r"),
                                            std::fclose);
    char buffer[32] = {};
    if (!f || std::fgets(buffer, sizeof(buffer), f.get()) == nullptr) return "";
    std::string pid = buffer;
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == '\r')) pid.pop_back();
    return pid;
  }

 private:
  static std::string Script() {
    return std::string("bash '") + TOWERSTREAM_SOURCE_DIR + "/scripts/kafka'";
  }
  std::filesystem::path state_dir_;
  bool started_ = false;
};

}  // namespace towerstream::bench
