// Helpers for replay's integration tests: generated data, reading whole topics back, and
// running the towerstream binary as a child process.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/hm/records.h"
#include "common/kafka/message.h"
#include "common/kafka/producer.h"

namespace towerstream::replay::testing {

// Writes a generated dataset (datagen) into `dir`: `customers`, `articles`, `transactions`
// rows over `days` days from 2020-01-01.
Status GenerateData(const std::string& dir, int64_t customers, int64_t articles,
                    int64_t transactions, int32_t days);

// Every message of every partition of `topic`, read from the beginning up to the high
// watermark each partition had when the call started, in partition-then-offset order.
Result<std::vector<kafka::Message>> ReadTopic(const std::string& bootstrap,
                                              const std::string& topic);

// Sum over partitions of the high watermarks of `topic` (0 if it does not exist yet).
int64_t MessageCount(kafka::Producer& producer, const std::string& topic);

// The good rows of a transactions file by line number.
Result<std::map<int64_t, hm::Transaction>> TransactionsByLine(const std::string& path);

// A child process running a command, with stdout and stderr captured to files. The destructor
// SIGKILLs it if it still runs. Move-only.
class ChildProcess {
 public:
  static Result<ChildProcess> Start(const std::vector<std::string>& argv,
                                    const std::string& output_prefix);
  ChildProcess(ChildProcess&& other) noexcept;
  ChildProcess& operator=(ChildProcess&&) = delete;
  ~ChildProcess();

  void Signal(int signo) const;
  bool Running();
  // Waits up to `timeout` for the exit; the exit status (128+signal when killed), or an error.
  Result<int> Wait(std::chrono::milliseconds timeout);
  std::string Stdout() const;
  std::string Stderr() const;

 private:
  ChildProcess(int pid, std::string prefix) : pid_(pid), prefix_(std::move(prefix)) {}
  int pid_ = -1;
  std::string prefix_;
  std::optional<int> exit_status_;
};

}  // namespace towerstream::replay::testing
