// The best ranking figures achievable on a generated dataset's held-out week, which
// `towerstream generate` writes beside the data (ground-truth/best_possible.json): the
// generator ranks each buyer's articles by its own purchase probabilities and scores its top
// 100 against what the buyer then bought, with the same metrics and segments as `evaluate`.
//
// BestPossible is a value; the accumulator is thread-compatible; Write/Load touch only the
// files they name.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/evaluation/ranking_metrics.h"

namespace towerstream::evaluation {

// The subfolder of a data folder that holds what the generator knows and the data does not
// show. No command reads CSV files from it (data folders are not scanned recursively).
inline constexpr std::string_view kGroundTruthDir = "ground-truth";
inline constexpr std::string_view kBestPossibleFile = "best_possible.json";

// Figures on one subset of the buyers; names are evaluate's segment keys.
struct BestPossibleSegment {
  std::string name;  // returning_customers, new_customers or new_articles
  RankingMetrics metrics;
};

struct BestPossible {
  Date test_start;
  Date test_end;                              // exclusive
  int64_t customers = 0;                      // customers who buy in the window: those scored
  int64_t purchases = 0;                      // transaction rows in the window
  int64_t catalogue_size = 0;                 // rows of articles.csv
  RankingMetrics metrics;                     // over every buyer (recall_curve included)
  std::vector<BestPossibleSegment> segments;  // segment figures carry no recall_curve
  std::string method;                         // how the ranking was made, in words
};

// Sums per-buyer rankings overall and by evaluate's segments.
class BestPossibleAccumulator {
 public:
  // One buyer: the distinct articles bought in the window, those of them first sold inside
  // it, the ranked predictions (100 for recall@100), and whether they bought before.
  void Add(std::span<const hm::ArticleId> actual, std::span<const hm::ArticleId> new_articles,
           std::span<const hm::ArticleId> predicted, bool bought_before);
  // Averages; the caller fills test_start, test_end, purchases and method.
  BestPossible Finish(int64_t catalogue_size) const;

 private:
  RankingAccumulator all_;
  RankingAccumulator returning_;
  RankingAccumulator new_customers_;
  RankingAccumulator new_articles_;
};

// Writes `data_dir`/ground-truth/best_possible.json (through a temporary file and a rename) and
// returns its path.
Result<std::filesystem::path> WriteBestPossible(const BestPossible& figures,
                                                const std::filesystem::path& data_dir);

// Reads the figures back from a data folder, its ground-truth folder, or the JSON file itself.
// NotFound when there is no such file (data not generated, or generated without it);
// Corruption, naming the file and the field, when it is not what WriteBestPossible writes.
Result<BestPossible> LoadBestPossible(const std::filesystem::path& dir_or_file);

}  // namespace towerstream::evaluation
