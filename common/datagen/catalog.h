// The synthetic article catalogue: Kaggle article rows built from real attribute combinations,
// plus the hidden facts that drive their sales (launch day, popularity, life curve, price).
//
// A Catalog is an immutable value once built; share it read-only between threads.
#pragma once

#include <cstdint>
#include <vector>

#include "common/hm/records.h"

namespace towerstream::datagen {

// Demand is modelled per cell: one (index group, product type) pair, e.g. Divided trousers.
// Customers choose a cell from their tastes, then an article of the cell by popularity.
struct Cell {
  int32_t index_group = 0;        // into calibration::kIndexGroups
  int32_t product_type = 0;       // into calibration::kProductTypes
  int32_t product_group = 0;      // into calibration::kProductGroups
  double demand = 0;              // real share of transactions (sums to 1 over cells with articles)
  std::vector<int32_t> articles;  // article indices, by launch day
};

// What the Kaggle row does not show about an article.
struct ArticleModel {
  int32_t cell = 0;
  int32_t product = 0;        // index of its product (the colour variants share it)
  int32_t launch_day = 0;     // day index from the start date; negative: launched before
  int32_t last_day = 0;       // after this day the article no longer sells
  float popularity = 1;       // relative weight within its cell at the peak of its life
  float ramp_days = 1;        // days from launch to full popularity
  float plateau_days = 0;     // days at full popularity before the decay
  float decay_days = 0;       // e-folding time of the decay; 0 = a basic that never fades
  int32_t list_price = 0;     // k of the price k / 59000
  uint8_t colour_master = 0;  // index into Catalog::colour_masters
  uint8_t style = 0;          // hidden style cluster shared by the product's variants
};

struct Catalog {
  std::vector<hm::Article> articles;  // sorted by article_id, as in articles.csv
  std::vector<ArticleModel> models;   // parallel to articles
  std::vector<int32_t>
      product_begin;  // product p has articles [product_begin[p], product_begin[p + 1])
  std::vector<Cell> cells;
  std::vector<int32_t> colour_masters;       // perceived_colour_master_id per colour master index
  std::vector<double> colour_master_demand;  // real transaction share per colour master index

  // Popularity of article `a` on day `day` (0 before launch and after last_day).
  double Weight(int32_t a, int32_t day) const;
};

// Number of hidden style clusters; a customer prefers one.
inline constexpr int kStyles = 8;

// Builds `count` articles whose launches spread over [-365, days). Deterministic in `seed`.
Catalog BuildCatalog(uint64_t seed, int64_t count, int32_t days);

}  // namespace towerstream::datagen
