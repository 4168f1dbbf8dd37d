// The synthetic customers: Kaggle customer rows (ids, club and news status, age, postal code)
// plus the hidden facts that drive their purchases (activity, join day, channel preference,
// tastes).
//
// Ids and attributes are stored compactly (a full-scale population is 1.37M customers), and
// customers are numbered in the order of their ids, i.e. the order of customers.csv. A
// Population is a value; tastes are filled in by the demand model (demand.h) after
// construction, and then it is shared read-only.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/hm/records.h"

namespace towerstream::datagen {

struct CustomerModel {
  int32_t join_day = 0;      // first day the customer may buy (negative: a customer already)
  int32_t sure_day = -1;     // a day the customer surely buys on (-1: none), so that almost
                             // every customer in customers.csv has transactions, like Kaggle's
  float activity = 1;        // relative rate of shopping days (heavy-tailed)
  float online_share = 0.7;  // chance a shopping day is online (sales channel 2)
  uint32_t postal = 0;       // into Population::postal_codes
  uint8_t age = 0;           // 0: missing
  uint8_t age_band = 0;      // into calibration::kAgeBuckets
  uint8_t club = 0;          // into calibration::kClubMemberStatus
  uint8_t news = 0;          // into calibration::kFashionNews (keeps the raw "NONE"/"None")
  bool fn = false;
  bool active = false;
  // Tastes (demand.h): a favourite index group, product group, colour master and style.
  uint8_t favourite_index_group = 0;
  uint8_t favourite_product_group = 0;
  uint8_t favourite_colour = 0;
  uint8_t style = 0;
};

struct Population {
  std::vector<char> ids;           // 64 lowercase hex characters per customer, ascending
  std::vector<char> postal_codes;  // 64 hex characters per postal code
  std::vector<CustomerModel> models;

  int64_t size() const { return static_cast<int64_t>(models.size()); }
  std::string_view id(int64_t i) const {
    return {ids.data() + i * hm::kCustomerIdChars, hm::kCustomerIdChars};
  }
  std::string_view postal_code(uint32_t p) const {
    return {postal_codes.data() + static_cast<int64_t>(p) * 64, 64};
  }
  // Customer i as the typed row a reader would return.
  hm::Customer Row(int64_t i) const;
  // Appends customer i's customers.csv line (with "\n"), byte for byte as Kaggle writes it.
  void AppendCsvRow(int64_t i, std::string* out) const;
};

// Builds `count` customers joining over [0, days). Deterministic in `seed`; tastes are left
// at zero for AssignTastes (demand.h).
Population BuildPopulation(uint64_t seed, int64_t count, int32_t days);

}  // namespace towerstream::datagen
