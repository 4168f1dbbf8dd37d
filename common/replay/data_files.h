// Finds the three H&M files in a data folder by their headers, whatever they are named
// (Kaggle's names, our generator's, or samples such as transactions_raw_1k.csv).
#pragma once

#include <filesystem>
#include <string>

#include "common/base/status.h"

namespace towerstream::replay {

struct DataFiles {
  // Full paths; empty when the folder holds no file of that kind.
  std::string articles;
  std::string customers;
  std::string transactions;
};

// Reads the header of every *.csv directly in `dir` and keeps those that are one of the three
// H&M files; other CSV files are ignored. Fails when `dir` cannot be listed or when two files
// are of the same kind (naming both).
Result<DataFiles> FindDataFiles(const std::filesystem::path& dir);

}  // namespace towerstream::replay
