// Ingest throughput end to end: a generated dataset replayed into a Kafka broker on this
// machine, then ingested (consume, enrich, produce, commit, exactly once) as fast as possible,
// in transactions/s against the target of 150k events/s. Only the ingest is timed.
//
// Starts its own broker with scripts/kafka (--port auto, state in a temporary folder) and stops
// it at the end, unless --bootstrap names one. A warm-up run over --warmup transactions comes
// first, so that the figure is not the broker's JIT warming up.
//
// --full-scale measures at Kaggle's size: all 1,371,980 customers and 105,542 articles, and the
// first --first-days days (default 45: 2.1M transactions) of the full transactions file.
//
// Usage: ingest_bench [--transactions N] [--warmup N] [--partitions N] [--batch-size N]
//                     [--max-batch-delay-ms MS] [--no-fsync] [--bootstrap HOST:PORT]
//                     [--full-scale [--first-days N]] [--kafka KEY=VALUE]...
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <prometheus/registry.h>

#include "bench/bench_kafka.h"
#include "common/base/progress.h"
#include "common/datagen/generator.h"
#include "common/ingest/ingester.h"
#include "common/replay/replay.h"

namespace towerstream::ingest {
namespace {

using Clock = std::chrono::steady_clock;

constexpr double kTargetEventsPerSecond = 150'000;

struct Flags {
  int64_t transactions = 1'000'000;
  int64_t warmup = 200'000;
  int partitions = 6;
  int batch_size = 20'000;
  int64_t max_batch_delay_ms = 100;
  bool fsync = true;
  bool full_scale = false;
  int32_t first_days = 45;
  std::string bootstrap;
  std::vector<std::string> kafka;
};

struct RunFigures {
  int64_t examples = 0;
  double catch_up_seconds = 0;     // entity topics read into the store
  double seconds = 0;              // from the end of the catch-up to the last commit
  double cpu_seconds = 0;          // of this process (all its threads) over `seconds`
  double broker_cpu_seconds = -1;  // of the broker over `seconds`, when it is ours
  IngestCounters counters;
};

// User + system CPU seconds of process `pid` ("self" for this one), from /proc; -1 if unknown.
double CpuSeconds(const std::string& pid) {
  std::FILE* f = std::fopen(("/proc/" + pid + "/stat").c_str(), "r");
  if (f == nullptr) return -1;
  char buffer[4096];
  const size_t n = std::fread(buffer, 1, sizeof(buffer) - 1, f);
  std::fclose(f);
  buffer[n] = '\0';
  // Fields after the command (which may hold spaces) start after the last ')'.
  const char* rest = std::strrchr(buffer, ')');
  if (rest == nullptr) return -1;
  unsigned long long utime = 0, stime = 0;
  if (std::sscanf(rest + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime,
                  &stime) != 2) {
    return -1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// Replays `data` under `prefix`, then ingests it and times the ingest.
Result<RunFigures> RunOnce(const Flags& flags, const std::string& data,
                           const std::string& bootstrap, const std::string& prefix,
                           const std::filesystem::path& state, int64_t transactions,
                           const std::string& broker_pid) {
  replay::ReplayOptions replay;
  replay.data_dir = data;
  replay.kafka.Set("bootstrap.servers", bootstrap);
  replay.partitions = flags.partitions;
  replay.topic_prefix = prefix;
  replay.progress_out = nullptr;
  prometheus::Registry replay_registry;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<replay::Replayer> replayer,
                      replay::Replayer::Create(replay, replay_registry));
  TS_RETURN_IF_ERROR(replayer->Run());
  const int64_t entities = replayer->summary().events_delivered() - transactions;

  IngestOptions options;
  options.kafka.Set("bootstrap.servers", bootstrap);
  for (const std::string& key_value : flags.kafka) {
    TS_RETURN_IF_ERROR(options.kafka.ParseAndSet(key_value));
  }
  options.topic_prefix = prefix;
  options.partitions = flags.partitions;
  options.batch_size = flags.batch_size;
  options.max_batch_delay = std::chrono::milliseconds(flags.max_batch_delay_ms);
  options.store.path = state.string();
  options.store.sync_writes = flags.fsync;
  prometheus::Registry registry;
  TS_ASSIGN_OR_RETURN(std::unique_ptr<Ingester> ingester, Ingester::Create(options, registry));

  std::stop_source stop;
  Status run_status;
  const Clock::time_point start = Clock::now();
  std::thread runner([&] { run_status = ingester->Run(stop.get_token()); });
  Clock::time_point caught_up = start;
  double cpu_at_catch_up = 0, broker_cpu_at_catch_up = 0;
  bool catching_up = true;
  while (ingester->counters().examples < transactions) {
    if (catching_up && ingester->counters().entities >= entities) {
      caught_up = Clock::now();
      cpu_at_catch_up = CpuSeconds("self");
      broker_cpu_at_catch_up = broker_pid.empty() ? -1 : CpuSeconds(broker_pid);
      catching_up = false;
    }
    if (Clock::now() - start > std::chrono::minutes(10)) {
      stop.request_stop();
      runner.join();
      return Status::DeadlineExceeded("ingest did not finish in 10 minutes");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const Clock::time_point done = Clock::now();
  const double cpu_done = CpuSeconds("self");
  const double broker_cpu_done = broker_pid.empty() ? -1 : CpuSeconds(broker_pid);
  stop.request_stop();
  runner.join();
  TS_RETURN_IF_ERROR(run_status);
  RunFigures figures;
  figures.counters = ingester->counters();
  figures.examples = figures.counters.examples;
  figures.catch_up_seconds = std::chrono::duration<double>(caught_up - start).count();
  figures.seconds = std::chrono::duration<double>(done - caught_up).count();
  figures.cpu_seconds = cpu_done - cpu_at_catch_up;
  if (broker_cpu_done >= 0 && broker_cpu_at_catch_up >= 0) {
    figures.broker_cpu_seconds = broker_cpu_done - broker_cpu_at_catch_up;
  }
  return figures;
}

// Writes the dataset; returns its transactions.
Result<int64_t> Generate(const std::string& dir, int64_t transactions, const Flags& flags) {
  datagen::GeneratorOptions options;
  options.transactions = transactions;
  if (flags.full_scale) {
    options = datagen::GeneratorOptions::FullScale();
    options.first_days = flags.first_days;
  }
  TS_ASSIGN_OR_RETURN(const datagen::GenerateSummary summary, datagen::Generate(options, dir));
  return summary.transactions.rows;
}

int Main(const Flags& flags) {
  const std::filesystem::path work =
      std::filesystem::temp_directory_path() / ("ingest_bench_" + std::to_string(::getpid()));
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
  int64_t transactions = flags.transactions;
  int64_t warmup = flags.warmup;
  Flags warmup_flags = flags;
  warmup_flags.full_scale = false;  // the warm-up only warms the broker up
  const auto generate = [](const std::string& dir, int64_t* n, const Flags& f) {
    if (*n <= 0) return true;
    Result<int64_t> rows = Generate(dir, *n, f);
    if (!rows.ok()) {
      std::fprintf(stderr, "ingest_bench: generate: %s\n", rows.status().ToString().c_str());
      return false;
    }
    *n = *rows;
    return true;
  };
  if (!generate(data, &transactions, flags) || !generate(warmup_data, &warmup, warmup_flags)) {
    return 1;
  }

  bench::Broker broker(work / "kafka");
  std::string bootstrap = flags.bootstrap;
  std::string broker_pid;
  if (bootstrap.empty()) {
    Result<std::string> started = broker.Start();
    if (!started.ok()) {
      std::fprintf(stderr, "ingest_bench: cannot start Kafka: %s\n",
                   started.status().ToString().c_str());
      return 1;
    }
    bootstrap = *started;
    broker_pid = broker.pid();
  }
  const std::string prefix = "bench." + std::to_string(::getpid()) + ".";
  if (flags.warmup > 0) {
    Result<RunFigures> warm = RunOnce(flags, warmup_data, bootstrap, prefix + "warmup.",
                                      work / "warmup-state", flags.warmup, broker_pid);
    if (!warm.ok()) {
      std::fprintf(stderr, "ingest_bench: warm-up: %s\n", warm.status().ToString().c_str());
      return 1;
    }
  }
  Result<RunFigures> run =
      RunOnce(flags, data, bootstrap, prefix, work / "state", transactions, broker_pid);
  if (!run.ok()) {
    std::fprintf(stderr, "ingest_bench: %s\n", run.status().ToString().c_str());
    return 1;
  }
  const double rate = static_cast<double>(run->examples) / run->seconds;
  std::printf(
      "ingest (%s transactions%s, %d partitions, batch %d, fsync %s; after a %.1f s entity "
      "catch-up): %s examples in %.2f s = %s events/s, %lld Kafka transactions (target %s: %s)\n",
      FormatCount(transactions).c_str(),
      flags.full_scale ? " of Kaggle's size, all customers and articles" : "", flags.partitions,
      flags.batch_size, flags.fsync ? "on" : "off", run->catch_up_seconds,
      FormatCount(run->examples).c_str(), run->seconds,
      FormatCount(static_cast<int64_t>(rate)).c_str(),
      static_cast<long long>(run->counters.committed_transactions),
      FormatCount(static_cast<int64_t>(kTargetEventsPerSecond)).c_str(),
      rate >= kTargetEventsPerSecond ? "met" : "MISSED");
  // CPU per event does not depend on what else the machine runs meanwhile, unlike events/s.
  std::printf("  CPU: ingest %.2f s (%.2f us/event, %.2f cores)", run->cpu_seconds,
              1e6 * run->cpu_seconds / static_cast<double>(run->examples),
              run->cpu_seconds / run->seconds);
  if (run->broker_cpu_seconds >= 0) {
    std::printf(", broker %.2f s (%.2f us/event, %.2f cores)", run->broker_cpu_seconds,
                1e6 * run->broker_cpu_seconds / static_cast<double>(run->examples),
                run->broker_cpu_seconds / run->seconds);
  }
  std::printf("; %u cores on this machine\n", std::thread::hardware_concurrency());
  return 0;
}

}  // namespace
}  // namespace towerstream::ingest

int main(int argc, char** argv) {
  towerstream::ingest::Flags flags;
  for (int i = 1; i < argc; ++i) {
    const auto value = [&]() -> const char* {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "ingest_bench: %s needs a value\n", argv[i]);
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
    } else if (std::strcmp(argv[i], "--batch-size") == 0) {
      flags.batch_size = std::atoi(value());
    } else if (std::strcmp(argv[i], "--max-batch-delay-ms") == 0) {
      flags.max_batch_delay_ms = std::atoll(value());
    } else if (std::strcmp(argv[i], "--no-fsync") == 0) {
      flags.fsync = false;
    } else if (std::strcmp(argv[i], "--full-scale") == 0) {
      flags.full_scale = true;
    } else if (std::strcmp(argv[i], "--first-days") == 0) {
      flags.first_days = std::atoi(value());
    } else if (std::strcmp(argv[i], "--bootstrap") == 0) {
      flags.bootstrap = value();
    } else if (std::strcmp(argv[i], "--kafka") == 0) {
      flags.kafka.push_back(value());
    } else {
      std::fprintf(stderr,
                   "usage: ingest_bench [--transactions N] [--warmup N] [--partitions N] "
                   "[--batch-size N] [--max-batch-delay-ms MS] [--no-fsync] "
                   "[--bootstrap HOST:PORT] [--full-scale [--first-days N]] "
                   "[--kafka KEY=VALUE]...\n");
      return 2;
    }
  }
  return towerstream::ingest::Main(flags);
}
