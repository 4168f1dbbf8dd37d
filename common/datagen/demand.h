// The demand model: what a customer buys on a day.
//
// A customer picks a cell (index group x product type) from a mixture of their age band's
// tastes, their favourite index group and their favourite product group (calibrated so that
// the population matches the real transaction shares, shifted by season), then an article of
// the cell by its popularity that day, tilted towards their favourite colour and style.
// Not thread-safe: StartDay() rebuilds the day's tables; the Draw*() calls are const and may
// run concurrently between StartDay() calls. Holds a reference to the catalogue, which must
// outlive it.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/base/date.h"
#include "common/datagen/alias_table.h"
#include "common/datagen/catalog.h"
#include "common/datagen/population.h"
#include "common/datagen/random.h"

namespace towerstream::datagen {

class DemandModel {
 public:
  explicit DemandModel(const Catalog& catalog);
  DemandModel(const DemandModel&) = delete;
  DemandModel& operator=(const DemandModel&) = delete;

  // Draws every customer's favourites (deterministic in `seed`).
  void AssignTastes(uint64_t seed, Population* population) const;

  // Rebuilds the tables for day index `day` (calendar date `date`, for the season).
  void StartDay(int32_t day, Date date);

  // A fresh article for `customer` on the current day.
  int32_t DrawArticle(const CustomerModel& customer, Rng& rng) const;
  // An article of `cell` for `customer` on the current day, or -1 when none sells that day.
  int32_t DrawFromCell(int32_t cell, const CustomerModel& customer, Rng& rng) const;

  // Share of the population's purchases in each cell before seasonal shifts (for tests).
  std::vector<double> CellShares() const;

  // For the oracle (oracle.h), exact for the current day's tables: the probability that
  // DrawArticle() for `customer` draws from each cell (one per cell into `out`; 0 where nothing
  // sells): the taste mixture, redrawn up to four times while the chosen cell sells nothing,
  // then any selling cell by demand.
  void FreshCellProbabilities(const CustomerModel& customer, std::span<double> out) const;
  // Articles of `cell` on sale on the current day, by launch day.
  const std::vector<int32_t>& Selling(int32_t cell) const { return selling_[cell]; }

 private:
  // An alias table over a subset of cells.
  struct CellTable {
    std::vector<int32_t> cells;
    AliasTable alias;
  };
  int32_t DrawCell(const CustomerModel& customer, Rng& rng) const;
  int32_t DrawAnyCell(Rng& rng) const;  // among cells selling today, by demand

  const Catalog& catalog_;
  int32_t bands_ = 0;
  std::vector<double> band_share_;
  std::vector<std::vector<double>> base_;   // [band][cell]: taste before season
  std::vector<double> season_amplitude_;    // per cell
  std::vector<double> season_peak_;         // per cell, day of year
  std::vector<CellTable> by_band_;          // [band]
  std::vector<CellTable> by_band_group_;    // [band * groups + index group]
  std::vector<CellTable> by_band_product_;  // [band * product groups + product group]
  CellTable any_;                           // cells selling today, by demand
  int32_t index_groups_ = 0;
  int32_t product_groups_ = 0;
  std::vector<double> season_;                 // per cell, today's multiplier
  std::vector<std::vector<int32_t>> selling_;  // [cell]: articles selling today
  std::vector<AliasTable> cell_articles_;      // [cell]: by today's popularity
  std::vector<double> scratch_;
};

}  // namespace towerstream::datagen
