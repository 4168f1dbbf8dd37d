// The oracle behind ground-truth/best_possible.json: for every customer who buys in the
// held-out week (the last 7 days written), the articles ranked by the generator's own chance
// that the customer buys them that week, given everything before it.
//
// What it ranks by, per customer and article a: the expected number of the customer's items
// per basket that are a new purchase of a (second units of the previous item left out), from
// the generator's own model as of the week's start: the customer's tastes (cell mixture,
// colour, style), their recent articles (kHistory slots) and the week's catalogue (what sells,
// by its popularity that day). Buying a at least once in the week is increasing in that
// intensity, whatever the number of baskets, so the order is the order of the probabilities.
// Exact where the generator is a closed form (the cell mixture with its redraws, the
// four-candidate choice by colour and style: 4 * pi * b * E[1 / (b + B)] with B the boosts of
// three other candidates), expected where it depends on the week's own draws:
//   - the daily tables (popularity, what sells, season) are averaged over the week's days by
//     their volume, and the product of those averages stands in for the average of products;
//   - recent articles are those at the week's start (purchases inside the week push some out);
//   - a basket's later items take its first item as the previous one (for "another colour"
//     and "same cell"); the share of colour-less products is by popularity, not taste.
// Ranking is a threshold search: articles are listed per (cell, style) by a bound on their
// score, cells visited best bound first, and a list is left as soon as its bound falls below
// the 100th score so far. Cost: about the few thousand articles that can reach a customer's
// top 100, not the whole catalogue.
//
// Single-threaded; holds references to the catalogue and population, which must outlive it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/datagen/catalog.h"
#include "common/datagen/demand.h"
#include "common/datagen/generator.h"
#include "common/datagen/population.h"

namespace towerstream::datagen {

// The shares of the basket process (generator.cpp) that the oracle mirrors.
struct BasketShape {
  double first_repeat = 0;  // a basket's first item re-buys one of the recent articles
  double duplicate = 0;     // a later item repeats the previous one (a second unit)
  double variant = 0;       // a later item is another colour of the previous one's product
  double same_cell = 0;     // a later item is another article of the previous one's cell
  double later_repeat = 0;  // a later item re-buys one of the recent articles
  double later_items = 0;   // mean items per basket after the first
};

class WeekOracle {
 public:
  // `history_slots`: recent articles remembered per customer (a ring, as the sampler keeps it).
  WeekOracle(const Catalog& catalog, const Population& population, const BasketShape& shape,
             int history_slots);
  WeekOracle(const WeekOracle&) = delete;
  WeekOracle& operator=(const WeekOracle&) = delete;

  // Before the week: an article sold (articles never sold before it make the new-articles
  // segment).
  void MarkSold(int32_t article) { sold_before_[static_cast<size_t>(article)] = true; }
  // At the week's start: every customer's ring of recent articles (history_slots each, -1
  // where empty) and how many rows they had bought.
  void StartWeek(std::span<const int32_t> history, std::span<const uint32_t> bought);
  // After each day of the week is drawn, while `demand` holds that day's tables; `rows` is the
  // day's number of transactions (its weight in the week).
  void AddDay(const DemandModel& demand, int32_t day, int64_t rows);
  // One transaction row of the week.
  void AddPurchase(int64_t customer, int32_t article);

  // Ranks each buyer's top kOracleTop and hands it to `sink`, in customer order.
  void Finish(const OracleSink& sink);

  int64_t purchases() const { return static_cast<int64_t>(purchases_.size()); }

 private:
  struct Scored {
    double score;
    int32_t article;
  };
  void Prepare();
  void Rank(int64_t customer, std::vector<int32_t>* top);
  size_t Profile(const CustomerModel& m) const;

  const Catalog& catalog_;
  const Population& population_;
  const BasketShape shape_;
  const int slots_;
  const int32_t cells_;
  const int32_t colours_;
  int32_t groups_ = 0, product_groups_ = 0;

  std::vector<bool> sold_before_;
  std::vector<int32_t> history_;     // slots_ per customer, at the week's start
  std::vector<uint32_t> bought_;     // rows bought per customer before the week
  std::vector<uint64_t> purchases_;  // customer << 32 | article, the week's rows

  // Sums over the week's days, weighted by the day's rows; Prepare() divides by total_rows_.
  double total_rows_ = 0;
  std::vector<double> popularity_;     // [article]: share of its cell's popularity
  std::vector<double> on_sale_;        // [article]
  std::vector<double> cell_selling_;   // [cell]: the cell sells something
  std::vector<double> colour_mass_;    // [cell * colours + colour]: popularity share
  std::vector<double> style_mass_;     // [cell * kStyles + style]
  std::vector<double> both_mass_;      // [(cell * colours + colour) * kStyles + style]
  std::vector<double> profile_cells_;  // [profile * cells + cell]: P(fresh draw from cell)
  std::vector<double> scratch_;

  // Built by Prepare().
  std::vector<double> kappa_;             // [article]: bound key, popularity + colour siblings'
  std::vector<double> share_to_sibling_;  // [article]: its popularity over its other colours
  std::vector<int32_t> siblings_;         // [article]: other colours on sale this week
  std::vector<double> single_mass_;       // [cell]: popularity of products with one colour
  std::vector<double> boost_;             // [(cell * colours + colour) * kStyles + style][3]:
                                          // b * E[1 / (b + B)] for b = 1, 3, 9
  std::vector<uint32_t> list_begin_;      // [cell * kStyles + style]: into list_items_
  std::vector<int32_t> list_items_;       // by kappa, best first
  std::vector<uint32_t> stamp_;           // [article]: the buyer that last scored it
  uint32_t buyer_stamp_ = 0;
};

}  // namespace towerstream::datagen
