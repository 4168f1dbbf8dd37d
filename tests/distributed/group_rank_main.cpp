// One rank of a test group (group_test runs several of these processes): creates its
// GroupMember at start, then runs one command per line of stdin and answers one line on stdout.
//
//   group_rank_main RANK WORLD_SIZE RENDEZVOUS COLLECTIVE_TIMEOUT_MS RENDEZVOUS_TIMEOUT_MS
//
// Commands (answers, or "error <Code> <message>"):
//   join                -> joined <round>
//   join-stop MS        -> as join, stopped after MS ms
//   gather ROWS COLS    -> gathered <rows of rank 0>,<rows of rank 1>,... <ok | what is wrong>
//                          (float32 [ROWS, COLS]; every rank checks every part's values)
//   gather-long ROWS    -> as gather, int64 [ROWS]
//   bytes WORD          -> bytes <rank 0's>|<rank 1's>|... ("-" sends no bytes)
//   sum N               -> sum <hash of the sums' bits> <ok | what is wrong>
//   barrier             -> barrier
//   loop                -> looping, then all-reduces until one fails:
//                          failed <ms of the failing call> <ms of the call after> <same|differs>
//                          <Code> <message>
//   cpu                 -> cpu <ms of CPU this process used so far, all threads>
//   stats               -> stats <collectives> <bytes sent> <bytes received>
//   quit
#include <sys/resource.h>

#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <torch/torch.h>

#include "common/distributed/group.h"

namespace towerstream::distributed {
namespace {

using Clock = std::chrono::steady_clock;

std::string Describe(const Status& s) {
  std::string message = s.message();
  for (char& c : message) {
    if (c == '\n') c = ' ';
  }
  return "error " + std::string(StatusCodeName(s.code())) + " " + message;
}

double MsSince(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Values rank `rank` sends in `sum`: signs and magnitudes (1e-3 .. 1e3) that make float sums
// depend on their order, so that different orders on different ranks would show.
std::vector<float> SumInput(int rank, int64_t n) {
  std::mt19937 random(static_cast<uint32_t>(1000 + rank));
  std::uniform_real_distribution<float> mantissa(-1.0f, 1.0f);
  std::uniform_int_distribution<int> exponent(-3, 3);
  std::vector<float> values(n);
  for (float& v : values) v = mantissa(random) * std::pow(10.0f, exponent(random));
  return values;
}

// The value at [i, j] of rank `rank`'s part in `gather`: exact in float32 for small tests.
float GatherValue(int rank, int64_t i, int64_t j, int64_t cols) {
  return static_cast<float>(rank * 100000 + i * cols + j);
}

std::string CheckGather(const std::vector<torch::Tensor>& parts, int64_t cols, bool as_long) {
  std::ostringstream sizes;
  std::string verdict = "ok";
  for (size_t r = 0; r < parts.size(); ++r) {
    const torch::Tensor& part = parts[r];
    sizes << (r > 0 ? "," : "") << part.size(0);
    if (as_long) {
      if (part.scalar_type() != torch::kInt64 || part.dim() != 1) verdict = "wrong-shape";
      for (int64_t i = 0; verdict == "ok" && i < part.size(0); ++i) {
        if (part[i].item<int64_t>() != static_cast<int64_t>(r) * 1'000'000'000'000 + i) {
          verdict = "wrong-value-rank-" + std::to_string(r);
        }
      }
      continue;
    }
    if (part.scalar_type() != torch::kFloat32 || part.dim() != 2 || part.size(1) != cols) {
      verdict = "wrong-shape-rank-" + std::to_string(r);
      continue;
    }
    const torch::Tensor c = part.contiguous();
    const float* data = c.data_ptr<float>();
    for (int64_t i = 0; i < part.size(0); ++i) {
      for (int64_t j = 0; j < cols; ++j) {
        if (data[i * cols + j] != GatherValue(static_cast<int>(r), i, j, cols)) {
          verdict = "wrong-value-rank-" + std::to_string(r);
        }
      }
    }
  }
  return sizes.str() + " " + verdict;
}

int Run(int argc, char** argv) {
  if (argc != 6) {
    std::cerr << "usage: group_rank_main RANK WORLD_SIZE RENDEZVOUS COLLECTIVE_TIMEOUT_MS "
                 "RENDEZVOUS_TIMEOUT_MS\n";
    return 2;
  }
  GroupOptions options;
  options.rank = std::stoi(argv[1]);
  options.world_size = std::stoi(argv[2]);
  options.rendezvous = argv[3];
  options.collective_timeout = std::chrono::milliseconds(std::stoll(argv[4]));
  options.rendezvous_timeout = std::chrono::milliseconds(std::stoll(argv[5]));
  Result<std::unique_ptr<GroupMember>> member = GroupMember::Create(options);
  if (!member.ok()) {
    std::cout << Describe(member.status()) << std::endl;
    return 1;
  }
  std::cout << "ready" << std::endl;

  std::unique_ptr<GroupRound> round;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string command;
    in >> command;
    if (command == "quit") break;
    if (command == "join" || command == "join-stop") {
      int64_t stop_after_ms = -1;
      in >> stop_after_ms;
      std::stop_source stop;
      std::jthread stopper;
      if (command == "join-stop") {
        stopper = std::jthread([&stop, stop_after_ms](std::stop_token cancelled) {
          std::mutex mu;
          std::condition_variable_any cv;
          std::unique_lock<std::mutex> lock(mu);
          if (!cv.wait_for(lock, cancelled, std::chrono::milliseconds(stop_after_ms),
                           [] { return false; })) {
            stop.request_stop();
          }
        });
      }
      Result<std::unique_ptr<GroupRound>> joined = (*member)->JoinRound(stop.get_token());
      if (!joined.ok()) {
        std::cout << Describe(joined.status()) << std::endl;
        continue;
      }
      round = std::move(joined).value();
      std::cout << "joined " << round->round() << std::endl;
      continue;
    }
    if (command == "cpu") {
      rusage usage{};
      ::getrusage(RUSAGE_SELF, &usage);
      const auto ms = [](const timeval& t) { return t.tv_sec * 1000 + t.tv_usec / 1000; };
      std::cout << "cpu " << ms(usage.ru_utime) + ms(usage.ru_stime) << std::endl;
      continue;
    }
    if (!round) {
      std::cout << "error NoRound join first" << std::endl;
      continue;
    }
    const int rank = options.rank;
    if (command == "gather" || command == "gather-long") {
      int64_t rows = 0;
      int64_t cols = 1;
      in >> rows;
      const bool as_long = command == "gather-long";
      torch::Tensor local;
      if (as_long) {
        local = torch::arange(rows, torch::kInt64) + int64_t{rank} * 1'000'000'000'000;
      } else {
        in >> cols;
        local = torch::empty({rows, cols}, torch::kFloat32);
        for (int64_t i = 0; i < rows; ++i) {
          for (int64_t j = 0; j < cols; ++j) local[i][j] = GatherValue(rank, i, j, cols);
        }
      }
      Result<std::vector<torch::Tensor>> parts = round->AllGather(local);
      std::cout << (parts.ok() ? "gathered " + CheckGather(*parts, cols, as_long)
                               : Describe(parts.status()))
                << std::endl;
    } else if (command == "bytes") {
      std::string word;
      in >> word;
      if (word == "-") word.clear();
      Result<std::vector<std::string>> parts = round->AllGatherBytes(word);
      if (!parts.ok()) {
        std::cout << Describe(parts.status()) << std::endl;
        continue;
      }
      std::string joined;
      for (size_t r = 0; r < parts->size(); ++r) joined += (r > 0 ? "|" : "") + (*parts)[r];
      std::cout << "bytes " << joined << std::endl;
    } else if (command == "sum") {
      int64_t n = 0;
      in >> n;
      const std::vector<float> mine = SumInput(rank, n);
      torch::Tensor values = torch::from_blob(const_cast<float*>(mine.data()), {n}).clone();
      const Status summed = round->AllReduceSum(values);
      if (!summed.ok()) {
        std::cout << Describe(summed) << std::endl;
        continue;
      }
      // Against sums in double of every rank's inputs: float rounding stays far below 1e-3.
      std::vector<double> expected(n, 0.0);
      for (int r = 0; r < options.world_size; ++r) {
        const std::vector<float> theirs = SumInput(r, n);
        for (int64_t i = 0; i < n; ++i) expected[i] += theirs[i];
      }
      uint64_t hash = 1469598103934665603ull;
      std::string verdict = "ok";
      const float* got = values.data_ptr<float>();
      for (int64_t i = 0; i < n; ++i) {
        uint32_t bits = 0;
        std::memcpy(&bits, &got[i], sizeof(bits));
        hash = (hash ^ bits) * 1099511628211ull;
        if (std::abs(got[i] - expected[i]) > 1e-3 * (1.0 + std::abs(expected[i]))) {
          verdict = "wrong-sum-at-" + std::to_string(i);
        }
      }
      char hex[17];
      std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(hash));
      std::cout << "sum " << hex << " " << verdict << std::endl;
    } else if (command == "barrier") {
      const Status done = round->Barrier();
      std::cout << (done.ok() ? "barrier" : Describe(done)) << std::endl;
    } else if (command == "loop") {
      std::cout << "looping" << std::endl;
      torch::Tensor values = torch::ones({4096});
      Status failed;
      Clock::time_point start;
      do {
        start = Clock::now();
        failed = round->AllReduceSum(values);
        values.fill_(1.0f);
      } while (failed.ok());
      const double failing_ms = MsSince(start);
      start = Clock::now();
      const Status again = round->AllReduceSum(values);
      const double again_ms = MsSince(start);
      std::cout << "failed " << static_cast<int64_t>(failing_ms) << " "
                << static_cast<int64_t>(again_ms) << " "
                << (again.code() == failed.code() && again.message() == failed.message()
                        ? "same"
                        : "differs")
                << " " << Describe(failed).substr(std::strlen("error ")) << std::endl;
    } else if (command == "stats") {
      const model::ExchangeStats stats = round->stats();
      std::cout << "stats " << stats.collectives << " " << stats.bytes_sent << " "
                << stats.bytes_received << std::endl;
    } else {
      std::cout << "error UnknownCommand " << command << std::endl;
    }
  }
  return 0;
}

}  // namespace
}  // namespace towerstream::distributed

int main(int argc, char** argv) { return towerstream::distributed::Run(argc, argv); }
