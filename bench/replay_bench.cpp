// Replay throughput end to end: a generated dataset replayed as fast as possible into a Kafka
// broker on this machine, in events/s from the start of the replay to the last acknowledgement
// (topic creation and the final flush included), against the target of 300k events/s.
//
// Starts its own broker with scripts/kafka (--port auto, state in a temporary folder) and stops
// it at the end, unless --bootstrap names one. A warm-up replay of --warmup transactions runs
// first, so that the figure is not the broker's JIT warming up.
//
// Usage: replay_bench [--transactions N] [--warmup N] [--partitions N] [--bootstrap HOST:PORT]
//                     [--kafka KEY=VALUE]...
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/registry.h>

#include "bench/bench_kafka.h"
#include "common/base/progress.h"
#include "common/datagen/generator.h"
#include "common/replay/replay.h"

namespace towerstream::replay {
namespace {

constexpr double kTargetEventsPerSecond = 300'000;

struct Flags {
  int64_t transactions = 1'000'000;
  int64_t warmup = 200'000;
  int partitions = 6;
  std::string bootstrap;
  std::vector<std::string> kafka;
};

Result<ReplaySummary> ReplayOnce(const Flags& flags, const std::string& data,
                                 const std::string& bootstrap, const std::string& prefix) {
  ReplayOptions options;
  options.data_dir = data;
  options.kafka.Set("bootstrap.servers", bootstrap);
  for (const std::string& key_value : flags.kafka)
    TS_RETURN_IF_ERROR(options.kafka.ParseAndSet(key_value));
  options.partitions = flags.partitions;
  options.topic_prefix = prefix;
  options.progress_out = nullptr;
  prometheus::Registry registry;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<Replayer> replayer, Replayer::Create(options, registry));
  TS_RETURN_IF_ERROR(replayer->Run());
  return replayer->summary();
}

Status Generate(const std::string& dir, int64_t transactions) {
  datagen::GeneratorOptions options;
  options.transactions = transactions;
  return datagen::Generate(options, dir).status();
}

int Main(const Flags& flags) {
  const std::filesystem::path work =
      std::filesystem::temp_directory_path() / ("replay_bench_" + std::to_string(::getpid()));
  std::filesystem::create_directories(work);
  struct Cleanup {
    std::filesystem::path path;
    ~Cleanup() {
      std::error_code ignored;
      std::filesystem::remove_all(path, ignored);
    }
  } cleanup{work};

  const std::string data = (work / "data").string();
  const std::string warmup_data = (work / "warmup").string();
  if (Status s = Generate(data, flags.transactions); !s.ok()) {
    std::fprintf(stderr, "replay_bench: generate: %s\n", s.ToString().c_str());
    return 1;
  }
  if (flags.warmup > 0) {
    if (Status s = Generate(warmup_data, flags.warmup); !s.ok()) {
      std::fprintf(stderr, "replay_bench: generate: %s\n", s.ToString().c_str());
      return 1;
    }
  }

  bench::Broker broker(work / "kafka");
  std::string bootstrap = flags.bootstrap;
  if (bootstrap.empty()) {
    Result<std::string> started = broker.Start();
    if (!started.ok()) {
      std::fprintf(stderr, "replay_bench: cannot start Kafka: %s\n",
                   started.status().ToString().c_str());
      return 1;
    }
    bootstrap = *started;
  }
  const std::string prefix = "bench." + std::to_string(::getpid()) + ".";
  if (flags.warmup > 0) {
    Result<ReplaySummary> warm = ReplayOnce(flags, warmup_data, bootstrap, prefix + "warmup.");
    if (!warm.ok()) {
      std::fprintf(stderr, "replay_bench: warm-up: %s\n", warm.status().ToString().c_str());
      return 1;
    }
  }
  Result<ReplaySummary> summary = ReplayOnce(flags, data, bootstrap, prefix);
  if (!summary.ok()) {
    std::fprintf(stderr, "replay_bench: %s\n", summary.status().ToString().c_str());
    return 1;
  }
  const int64_t events = summary->events_delivered();
  const double rate = static_cast<double>(events) / summary->seconds;
  std::printf(
      "replay (%s transactions, %d partitions, end to end incl. topic creation and flush): "
      "%s events in %.2f s = %s events/s (target %s: %s)\n",
      FormatCount(flags.transactions).c_str(), flags.partitions, FormatCount(events).c_str(),
      summary->seconds, FormatCount(static_cast<int64_t>(rate)).c_str(),
      FormatCount(static_cast<int64_t>(kTargetEventsPerSecond)).c_str(),
      rate >= kTargetEventsPerSecond ? "met" : "MISSED");
  return 0;
}

}  // namespace
}  // namespace towerstream::replay

int main(int argc, char** argv) {
  towerstream::replay::Flags flags;
  for (int i = 1; i < argc; ++i) {
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "replay_bench: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    if (std::strcmp(argv[i], "--transactions") == 0) {
      flags.transactions = std::atoll(value());
    } else if (std::strcmp(argv[i], "--warmup") == 0) {
      flags.warmup = std::atoll(value());
    } else if (std::strcmp(argv[i], "--partitions") == 0) {
      flags.partitions = std::atoi(value());
    } else if (std::strcmp(argv[i], "--bootstrap") == 0) {
      flags.bootstrap = value();
    } else if (std::strcmp(argv[i], "--kafka") == 0) {
      flags.kafka.push_back(value());
    } else {
      std::fprintf(stderr,
                   "usage: replay_bench [--transactions N] [--warmup N] [--partitions N] "
                   "[--bootstrap HOST:PORT] [--kafka KEY=VALUE]...\n");
      return 2;
    }
  }
  return towerstream::replay::Main(flags);
}
