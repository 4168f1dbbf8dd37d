// Small H&M-format datasets with a planted structure, for the trainer's tests: customers belong
// to segments, and each segment buys almost only its own articles.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "common/base/date.h"
#include "common/base/status.h"

namespace towerstream::trainer::testing {

struct PlantedDataOptions {
  int customers = 600;
  int articles = 800;
  // Customer c is in segment c % segments and buys article a (a % segments == its segment)
  // with probability `loyalty`, any article otherwise: popularity is flat over segments, so
  // recommending best sellers finds little, and a model that learns segments finds most.
  int segments = 8;
  double loyalty = 0.9;
  int days = 60;
  // Chance that a customer buys on a given day (then 1 or 2 articles).
  double daily_buy_rate = 0.3;
  Date start = Date::FromCivil(2020, 6, 1);
  uint64_t seed = 1;
};

// Writes articles.csv, customers.csv and transactions_train.csv (sorted by day) into `dir`;
// returns the number of transactions written.
Result<int64_t> WritePlantedData(const std::filesystem::path& dir,
                                 const PlantedDataOptions& options);

// 64 lowercase hex characters for customer `n`.
std::string PlantedCustomerId(int n);

}  // namespace towerstream::trainer::testing
