// Replay integration test helpers: datagen, whole-topic reads, child processes.
#include "tests/replay/replay_test_support.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include <librdkafka/rdkafkacpp.h>

#include "common/datagen/generator.h"
#include "common/hm/hm_reader.h"
#include "common/kafka/admin.h"
#include "common/kafka/consumer.h"
#include "common/kafka/errors.h"

namespace towerstream::replay::testing {

Status GenerateData(const std::string& dir, int64_t customers, int64_t articles,
                    int64_t transactions, int32_t days) {
  datagen::GeneratorOptions options;
  options.customers = customers;
  options.articles = articles;
  options.transactions = transactions;
  options.days = days;
  options.start_date = Date::FromCivil(2020, 1, 1);
  return datagen::Generate(options, dir).status();
}

Result<std::vector<kafka::Message>> ReadTopic(const std::string& bootstrap,
                                              const std::string& topic) {
  kafka::ConsumerOptions options;
  options.config.Set("bootstrap.servers", bootstrap);
  options.config.Set("enable.auto.commit", "false");
  options.group_id = "towerstream-replay-test-reader";
  TS_ASSIGN_OR_RETURN(std::unique_ptr<kafka::Consumer> consumer, kafka::Consumer::Create(options));
  RdKafka::KafkaConsumer& handle = consumer->handle();
  RdKafka::Metadata* raw = nullptr;
  TS_RETURN_IF_ERROR(
      kafka::StatusFromRdKafka(handle.metadata(true, nullptr, &raw, 10'000), "metadata"));
  const std::unique_ptr<RdKafka::Metadata> metadata(raw);
  int partitions = 0;
  for (const RdKafka::TopicMetadata* entry : *metadata->topics()) {
    if (entry->topic() == topic) partitions = static_cast<int>(entry->partitions()->size());
  }
  if (partitions == 0) return Status::NotFound("topic '" + topic + "' does not exist");

  std::vector<int64_t> high(partitions, 0);
  std::vector<std::unique_ptr<RdKafka::TopicPartition>> owned;
  std::vector<RdKafka::TopicPartition*> assignment;
  size_t pending = 0;
  for (int32_t p = 0; p < partitions; ++p) {
    TS_ASSIGN_OR_RETURN(kafka::Watermarks marks,
                        kafka::QueryWatermarks(handle, topic, p, std::chrono::seconds(10)));
    const int64_t low = marks.low;
    high[p] = marks.high;
    if (high[p] > low) {
      owned.emplace_back(RdKafka::TopicPartition::create(topic, p, low));
      assignment.push_back(owned.back().get());
      pending += static_cast<size_t>(high[p] - low);
    }
  }
  std::vector<std::vector<kafka::Message>> by_partition(partitions);
  if (assignment.empty()) return std::vector<kafka::Message>();
  TS_RETURN_IF_ERROR(kafka::StatusFromRdKafka(handle.assign(assignment), "assign"));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  Status last_error;
  while (pending > 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::DeadlineExceeded(
          "reading topic '" + topic + "': " + std::to_string(pending) +
          " messages missing after 60 s" +
          (last_error.ok() ? "" : "; last error: " + last_error.message()));
    }
    Result<std::optional<kafka::Message>> polled = consumer->Poll(std::chrono::milliseconds(200));
    if (!polled.ok()) {
      last_error = polled.status();  // transient on a busy broker: poll on until the deadline
      continue;
    }
    std::optional<kafka::Message>& message = *polled;
    if (!message || message->offset >= high[message->partition]) continue;
    by_partition[message->partition].push_back(std::move(*message));
    --pending;
  }
  std::vector<kafka::Message> all;
  for (auto& messages : by_partition) {
    for (auto& message : messages) all.push_back(std::move(message));
  }
  return all;
}

int64_t MessageCount(kafka::Producer& producer, const std::string& topic) {
  Result<int> partitions = kafka::PartitionCount(producer, topic, std::chrono::seconds(10));
  if (!partitions.ok()) return 0;
  int64_t total = 0;
  for (int32_t p = 0; p < *partitions; ++p) {
    Result<kafka::Watermarks> marks =
        kafka::QueryWatermarks(producer.handle(), topic, p, std::chrono::seconds(10));
    if (marks.ok()) total += marks->high;
  }
  return total;
}

Result<std::map<int64_t, hm::Transaction>> TransactionsByLine(const std::string& path) {
  TS_ASSIGN_OR_RETURN(std::unique_ptr<hm::TransactionReader> reader,
                      hm::TransactionReader::Open(path));
  std::map<int64_t, hm::Transaction> rows;
  hm::Transaction row;
  while (true) {
    TS_ASSIGN_OR_RETURN(bool more, reader->Next(&row));
    if (!more) break;
    rows[reader->line()] = row;
  }
  return rows;
}

Result<ChildProcess> ChildProcess::Start(const std::vector<std::string>& argv,
                                         const std::string& output_prefix) {
  const std::string out = output_prefix + ".stdout";
  const std::string err = output_prefix + ".stderr";
  std::vector<char*> args;
  for (const std::string& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid < 0) return Status::IoError("fork failed");
  if (pid == 0) {
    // Child: only async-signal-safe calls until exec.
    const int out_fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    const int err_fd = ::open(err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out_fd < 0 || err_fd < 0) ::_exit(126);
    ::dup2(out_fd, STDOUT_FILENO);
    ::dup2(err_fd, STDERR_FILENO);
    ::execv(args[0], args.data());
    ::_exit(127);
  }
  return ChildProcess(pid, output_prefix);
}

ChildProcess::ChildProcess(ChildProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      prefix_(std::move(other.prefix_)),
      exit_status_(other.exit_status_) {}

ChildProcess::~ChildProcess() {
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

void ChildProcess::Signal(int signo) const {
  if (pid_ > 0) ::kill(pid_, signo);
}

bool ChildProcess::Running() {
  if (exit_status_) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return false;
  }
  return true;
}

Result<int> ChildProcess::Wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (Running()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return Status::DeadlineExceeded("child " + std::to_string(pid_) + " still running");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return *exit_status_;
}

namespace {
std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}
}  // namespace

std::string ChildProcess::Stdout() const { return Slurp(prefix_ + ".stdout"); }
std::string ChildProcess::Stderr() const { return Slurp(prefix_ + ".stderr"); }

}  // namespace towerstream::replay::testing
