// `towerstream generate`: synthetic data in the exact shape of the H&M Kaggle files
// (articles.csv, customers.csv, transactions_train.csv), with structure a recommender can learn.
//
// The data is calibrated to the real aggregates (calibration_tables.h) and deterministic per
// seed on every platform. Generate() runs one thread for sampling and one for formatting and
// writing; transactions stream day by day, so memory stays small (well under 8 GB at full
// Kaggle scale). Generate() is thread-compatible: concurrent calls need different out dirs.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/hm/records.h"

namespace towerstream::datagen {

// File names, as Kaggle ships them.
inline constexpr std::string_view kArticlesFile = "articles.csv";
inline constexpr std::string_view kCustomersFile = "customers.csv";
inline constexpr std::string_view kTransactionsFile = "transactions_train.csv";

struct GeneratorOptions {
  // Rows of customers.csv. The defaults make a small dataset that trains in a couple of
  // minutes; FullScale() has Kaggle's sizes.
  int64_t customers = 20'000;
  // Rows of articles.csv.
  int64_t articles = 5'000;
  // Rows of transactions_train.csv, spread over the days like the real daily curve.
  int64_t transactions = 500'000;
  // Same seed, same options: byte-identical files on every platform.
  uint64_t seed = 1;
  // First t_dat. Kaggle's data starts 2018-09-20; the daily curve follows the calendar
  // (Black Friday lands on Black Friday) for other start dates too.
  Date start_date = Date::FromCivil(2018, 9, 20);
  // Number of days (Kaggle: 734, to 2020-09-22).
  int32_t days = 734;
  // Write only the transactions of the first `first_days` days (0: all days): exactly the
  // first rows of the whole file, for a prefix of a large dataset (benchmarks) that keeps its
  // customers, articles and daily volumes.
  int32_t first_days = 0;
  // Draw a progress bar (or periodic lines when stderr is not a terminal) on stderr.
  bool progress = false;
  // Size of each fwrite. Larger means fewer system calls; 4 MiB is past the point of gains.
  size_t write_buffer_bytes = 4 << 20;

  // Kaggle's sizes: 1,371,980 customers, 105,542 articles, 31,788,324 transactions.
  static GeneratorOptions FullScale();
  Status Validate() const;
};

struct WrittenFile {
  std::filesystem::path path;
  int64_t rows = 0;
  int64_t bytes = 0;
  double seconds = 0;  // wall time to build what the file holds and write it
};

// The generator's own ranking of one customer who buys in the held-out week: the last 7 days
// written, the week `towerstream train` holds out and `evaluate` scores. oracle.h says how it
// ranks; `towerstream generate` scores these into ground-truth/best_possible.json.
struct OracleRanking {
  int64_t customer = 0;                         // row of customers.csv
  bool bought_before = false;                   // bought something before the week
  std::span<const hm::ArticleId> actual;        // distinct articles bought in the week
  std::span<const hm::ArticleId> new_articles;  // those of them never sold before the week
  std::span<const hm::ArticleId> predicted;     // the top kOracleTop, most probable first
};
using OracleSink = std::function<void(const OracleRanking&)>;
inline constexpr int kOracleTop = 100;
inline constexpr int kHeldOutDays = 7;
// How the oracle ranks, in a sentence (for best_possible.json).
inline constexpr std::string_view kOracleMethod =
    "each buyer's articles ranked by the generator's expected new purchases of them per basket "
    "given the state at the week's start (tastes, recent articles, the week's catalogue with "
    "its daily tables averaged by volume)";

struct HeldOutWeek {
  Date start;
  Date end;               // exclusive
  int64_t customers = 0;  // buyers in the week, each ranked
  int64_t purchases = 0;  // rows in the week
  double seconds = 0;     // the oracle's own wall time
};

struct GenerateSummary {
  WrittenFile articles;
  WrittenFile customers;
  WrittenFile transactions;
  // Set when an oracle sink was given and some transactions were written.
  std::optional<HeldOutWeek> held_out;
  double seconds = 0;  // wall time of the whole run
};

// Writes the three files into `out_dir` (created if missing; existing files are replaced).
// With `oracle`, also ranks every buyer of the held-out week the way the generator's model
// would and hands each ranking to it, in customer order, before returning.
Result<GenerateSummary> Generate(const GeneratorOptions& options,
                                 const std::filesystem::path& out_dir,
                                 const OracleSink& oracle = nullptr);

// Transactions per day: the real daily curve for the calendar days of [start, start + days),
// scaled to sum to exactly `total` (largest remainders).
std::vector<int64_t> DailyTransactionCounts(Date start, int32_t days, int64_t total);

// Index into the real daily curve (calibration::kDaily) for a calendar date: the real day
// itself inside 2018-09-20..2020-09-22, else the same weekday about two years earlier or later.
int32_t RealDayIndex(Date date);

}  // namespace towerstream::datagen
