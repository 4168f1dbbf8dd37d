// Test support: generate a dataset into a temporary directory and load it back, with the
// transactions resolved to row numbers of articles.csv and customers.csv.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/datagen/generator.h"

namespace towerstream::datagen::testing {

// A fresh directory under the system temp dir, removed with everything in it on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

struct LoadedTransaction {
  int32_t day = -1;       // days since the start date
  int32_t customer = -1;  // row of customers.csv (0-based, header excluded), -1: unknown id
  int32_t article = -1;   // row of articles.csv, -1: unknown id
  int64_t price_k = -1;   // price * 59000 rounded
  int32_t channel = 0;
};

struct Dataset {
  TempDir dir;
  GeneratorOptions options;
  GenerateSummary summary;
  std::vector<std::vector<std::string>> articles;   // fields of each row, header excluded
  std::vector<std::vector<std::string>> customers;  // fields of each row, header excluded
  std::vector<LoadedTransaction> transactions;
};

// Default options but for the sizes and seed.
GeneratorOptions SizedOptions(int64_t customers, int64_t articles, int64_t transactions,
                              uint64_t seed);

// Generates `options` and loads the three files (RFC 4180 fields for articles and customers),
// handing the oracle's rankings to `oracle` if given.
Result<std::unique_ptr<Dataset>> GenerateAndLoad(const GeneratorOptions& options,
                                                 const OracleSink& oracle = nullptr);

std::string ReadFile(const std::filesystem::path& path);
std::vector<std::string> ReadLines(const std::filesystem::path& path);

// Column index by Kaggle header name, e.g. Column(kArticlesHeader, "index_group_name").
int Column(std::string_view header, std::string_view name);

}  // namespace towerstream::datagen::testing
