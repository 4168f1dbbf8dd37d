// Finds the three H&M files in a data folder by their headers, whatever they are named
// (Kaggle's names, our generator's, or samples such as transactions_raw_1k.csv).
#pragma once

#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"

namespace towerstream::replay {

struct DataFiles {
  // Full paths; empty when the folder holds no file of that kind.
  std::string articles;
  std::string customers;
  std::string transactions;
  // Every *.csv that is none of the three, with why: unreadable, empty, or another header
  // (Kaggle's sample_submission.csv lands here too). What a "no such file" error should show.
  std::vector<std::string> unrecognised;

  // "<command>: no <kind> file (by its header) in <dir>", followed by what was unrecognised,
  // so that a transactions file that is there but unreadable or empty is named with why.
  Status Missing(std::string_view command, std::string_view kind,
                 const std::filesystem::path& dir) const;
};

// Reads the header of every *.csv directly in `dir` and keeps those that are one of the three
// H&M files; the others are listed in `unrecognised`. Fails when `dir` cannot be listed or when two
// files are of the same kind (naming both).
Result<DataFiles> FindDataFiles(const std::filesystem::path& dir);

}  // namespace towerstream::replay
