// Generator throughput: rows/s overall and per file for a mid-size dataset written to a
// temporary directory, and the process's peak resident memory.
//
// Usage: datagen_bench [--transactions N] [--customers N] [--articles N] [--repeat N] [--dir DIR]
// The best of --repeat runs is reported (the least disturbed by the machine).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "common/base/progress.h"
#include "common/datagen/generator.h"

namespace towerstream {
namespace {

struct Flags {
  int64_t transactions = 2'000'000;
  // Kaggle's ratios: 23 transactions per customer, 13 customers per article.
  int64_t customers = 86'000;
  int64_t articles = 6'600;
  int repeat = 3;
  std::filesystem::path dir = std::filesystem::temp_directory_path();
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    if (arg == "--transactions") {
      flags->transactions = std::atoll(value);
    } else if (arg == "--customers") {
      flags->customers = std::atoll(value);
    } else if (arg == "--articles") {
      flags->articles = std::atoll(value);
    } else if (arg == "--repeat") {
      flags->repeat = std::atoi(value);
    } else if (arg == "--dir") {
      flags->dir = value;
    } else {
      return false;
    }
  }
  return flags->repeat > 0;
}

void PrintFile(const char* name, int64_t rows, int64_t bytes, double seconds) {
  std::printf("  %-24s %12s rows %9.3f s %12s rows/s %8.1f MB/s\n", name, FormatCount(rows).c_str(),
              seconds, FormatCount(static_cast<int64_t>(rows / seconds)).c_str(),
              bytes / seconds / 1e6);
}

// The floor the generator cannot beat: writing `bytes` of ready-made text in 4 MiB fwrite
// blocks to the same folder. Returns seconds (best of `repeat`).
double WriteFloorSeconds(const std::filesystem::path& path, int64_t bytes, int repeat) {
  const std::string block(4 << 20, 'x');
  double best = 1e30;
  for (int r = 0; r < repeat; ++r) {
    const auto start = std::chrono::steady_clock::now();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) return 0;
    for (int64_t left = bytes; left > 0; left -= static_cast<int64_t>(block.size())) {
      const size_t n = static_cast<size_t>(std::min<int64_t>(left, block.size()));
      if (std::fwrite(block.data(), 1, n, f) != n) break;
    }
    std::fclose(f);
    best = std::min(
        best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  std::filesystem::remove(path);
  return best;
}

int Run(const Flags& flags) {
  datagen::GeneratorOptions options;
  options.transactions = flags.transactions;
  options.customers = flags.customers;
  options.articles = flags.articles;
  if (Status s = options.Validate(); !s.ok()) {
    std::fprintf(stderr, "datagen_bench: %s\n", s.message().c_str());
    return 2;
  }
  const std::filesystem::path out =
      flags.dir / ("towerstream-datagen-bench-" + std::to_string(getpid()));
  datagen::GenerateSummary best;
  for (int r = 0; r < flags.repeat; ++r) {
    Result<datagen::GenerateSummary> summary = datagen::Generate(options, out);
    if (!summary.ok()) {
      std::fprintf(stderr, "datagen_bench: %s\n", summary.status().message().c_str());
      return 1;
    }
    if (r == 0 || summary->seconds < best.seconds) best = *summary;
  }
  const double floor_seconds =
      WriteFloorSeconds(out / "floor.bin", best.transactions.bytes, flags.repeat);
  std::error_code ignored;
  std::filesystem::remove_all(out, ignored);

  const int64_t rows = best.articles.rows + best.customers.rows + best.transactions.rows;
  const int64_t bytes = best.articles.bytes + best.customers.bytes + best.transactions.bytes;
  std::printf("datagen: %s transactions, %s customers, %s articles (best of %d)\n",
              FormatCount(flags.transactions).c_str(), FormatCount(flags.customers).c_str(),
              FormatCount(flags.articles).c_str(), flags.repeat);
  PrintFile("overall", rows, bytes, best.seconds);
  PrintFile("articles.csv", best.articles.rows, best.articles.bytes, best.articles.seconds);
  PrintFile("customers.csv", best.customers.rows, best.customers.bytes, best.customers.seconds);
  PrintFile("transactions_train.csv", best.transactions.rows, best.transactions.bytes,
            best.transactions.seconds);
  if (floor_seconds > 0) {
    std::printf(
        "  baseline: fwrite of as many bytes as transactions_train.csv: %.1f MB/s; the "
        "generator's transactions run at %.2fx of it\n",
        best.transactions.bytes / floor_seconds / 1e6, floor_seconds / best.transactions.seconds);
  }
  std::printf("  peak RSS %s\n", FormatBytes(PeakResidentBytes()).c_str());
  return 0;
}

}  // namespace
}  // namespace towerstream

int main(int argc, char** argv) {
  towerstream::Flags flags;
  if (!towerstream::ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: datagen_bench [--transactions N] [--customers N] [--articles N] "
                 "[--repeat N] [--dir DIR]\n");
    return 2;
  }
  return towerstream::Run(flags);
}
