// Loading and validating a set of H&M Kaggle files and summarising them: what
// `towerstream inspect` prints. Streams every file (bounded memory besides the id sets).
#pragma once

#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/hm/hm_reader.h"

namespace towerstream::hm {

struct InspectOptions {
  // Stop at the first bad row and report it as the file's error.
  bool strict = false;
  // Rejections kept per file for the report (the rest are only counted).
  size_t max_errors_kept = 5;
  // Where progress bars go while a file loads (nullptr: none). Not owned.
  std::FILE* progress = nullptr;

  Status Validate() const;
};

struct FileReport {
  std::string path;
  FileKind kind = FileKind::kTransactions;
  uint64_t bytes = 0;
  double seconds = 0;
  LoadStats stats;
  // Not OK when the file could not be read to its end (missing, bad header, I/O error, or the
  // first bad row in strict mode).
  Status status;

  // Articles: distinct article ids; customers: distinct customer ids; transactions: distinct
  // customers (distinct_articles below holds the articles).
  int64_t distinct_ids = 0;
  int64_t distinct_articles = 0;  // transactions only

  // Transactions only: first and last t_dat, and how many rows name an article / a customer
  // present in the articles / customers files of the same inspection (unset when no such file
  // was given).
  std::optional<Date> first_date;
  std::optional<Date> last_date;
  std::optional<int64_t> article_known;
  std::optional<int64_t> customer_known;
};

struct InspectReport {
  std::vector<FileReport> files;  // articles first, then customers, then transactions

  int64_t rows_rejected() const;
  bool all_ok() const;  // every file read to its end
};

// Lists the H&M files of a directory: every `*.csv` directly in it whose header is one of the
// three Kaggle headers, sorted by name. Errors when `dir` cannot be read or holds none.
Result<std::vector<std::string>> FindHmFiles(const std::string& dir);

// Inspects `paths` (each a file or a directory of them). Articles and customers are loaded
// before transactions so that transactions can be checked against them. Per-file failures
// are in FileReport::status; the Result fails only on bad options or an unreadable argument.
Result<InspectReport> Inspect(const std::vector<std::string>& paths, const InspectOptions& options);

// The human-readable report printed by `towerstream inspect`.
void PrintReport(const InspectReport& report, std::FILE* out);

}  // namespace towerstream::hm
