// Tastes calibrated by iterative proportional fitting, seasonal shifts, and the day's tables.
#include "common/datagen/demand.h"

#include <algorithm>
#include <cmath>
#include <string_view>

#include "common/datagen/calibration_tables.h"

namespace towerstream::datagen {
namespace {

namespace cal = calibration;

constexpr uint64_t kTasteStream = 0x7a57e;

// Mixture weights of a customer's cell choice: their age band's tastes, their favourite index
// group, their favourite product group. The favourites make purchases concentrate (learnable
// per customer) while the population still matches the real shares.
constexpr double kBandWeight = 0.35;
constexpr double kFavouriteGroupWeight = 0.45;
// (the rest, 0.20, goes to the favourite product group)

// Candidates drawn by popularity before one is chosen by the customer's colour and style.
constexpr int kCandidates = 4;
constexpr double kFavouriteColourBoost = 3;
constexpr double kFavouriteStyleBoost = 3;

// How much each age band leans to each index group, before calibration rescales the cells so
// that the population matches the real transaction shares. Assumptions, not measurements:
// Divided is H&M's young line, parents of small children are mostly in their thirties.
struct GroupAffinity {
  std::string_view bucket;
  double ladies, baby, divided, men, sport;
};
constexpr GroupAffinity kGroupAffinity[] = {
    {"under_20", 0.6, 0.2, 2.5, 1.0, 1.2}, {"20_to_29", 0.9, 0.5, 1.5, 1.0, 1.2},
    {"30_to_39", 1.0, 2.5, 0.7, 1.0, 1.0}, {"40_to_49", 1.1, 1.5, 0.6, 1.0, 0.9},
    {"50_to_59", 1.3, 0.8, 0.4, 1.0, 0.8}, {"60_plus", 1.4, 1.0, 0.3, 1.1, 0.6},
};
struct ProductGroupAffinity {
  std::string_view bucket;
  std::string_view group;
  double affinity;
};
constexpr ProductGroupAffinity kProductGroupAffinity[] = {
    {"under_20", "Accessories", 1.4}, {"20_to_29", "Accessories", 1.2},
    {"under_20", "Swimwear", 1.2},    {"20_to_29", "Swimwear", 1.3},
    {"60_plus", "Swimwear", 0.6},     {"50_to_59", "Nightwear", 1.3},
    {"60_plus", "Nightwear", 1.4},    {"20_to_29", "Underwear", 1.2},
};

// Seasonal product types: multiplier 1 + amplitude * (1 at the peak day of year, -1 half a
// year away, linear in between).
struct Season {
  std::string_view product_type;
  double amplitude;
  double peak_day_of_year;
};
constexpr double kSummer = 172, kWinter = 345;
constexpr Season kSeasons[] = {
    {"Bikini top", 0.9, kSummer},
    {"Swimwear bottom", 0.9, kSummer},
    {"Swimsuit", 0.9, kSummer},
    {"Swimwear set", 0.9, kSummer},
    {"Sunglasses", 0.7, kSummer},
    {"Sandals", 0.7, kSummer},
    {"Heeled sandals", 0.6, kSummer},
    {"Flip flop", 0.8, kSummer},
    {"Straw hat", 0.8, kSummer},
    {"Shorts", 0.6, kSummer},
    {"Dress", 0.25, kSummer},
    {"Skirt", 0.2, kSummer},
    {"Vest top", 0.3, kSummer},
    {"Jacket", 0.45, kWinter},
    {"Coat", 0.6, kWinter},
    {"Outdoor Waistcoat", 0.4, kWinter},
    {"Outdoor trousers", 0.4, kWinter},
    {"Boots", 0.5, kWinter},
    {"Bootie", 0.4, kWinter},
    {"Hat/beanie", 0.5, kWinter},
    {"Scarf", 0.6, kWinter},
    {"Gloves", 0.7, kWinter},
    {"Sweater", 0.3, kWinter},
    {"Cardigan", 0.25, kWinter},
    {"Hoodie", 0.25, kWinter},
    {"Pyjama set", 0.2, kWinter},
};

constexpr int kIpfRounds = 60;

double DayOfYear(Date date) {
  int y;
  unsigned m, d;
  date.ToCivil(&y, &m, &d);
  return date - Date::FromCivil(y, 1, 1);
}

double SeasonMultiplier(double amplitude, double peak, double day_of_year) {
  double distance = std::fabs(day_of_year - peak);
  distance = std::min(distance, 365.0 - distance);
  return 1 + amplitude * (1 - distance / 91.25);  // +A at the peak, -A half a year away
}

void Normalize(std::vector<double>* v) {
  double total = 0;
  for (double x : *v) total += x;
  if (total > 0) {
    for (double& x : *v) x /= total;
  }
}

}  // namespace

DemandModel::DemandModel(const Catalog& catalog)
    : catalog_(catalog),
      bands_(static_cast<int32_t>(cal::kAgeBuckets.size())),
      index_groups_(static_cast<int32_t>(cal::kIndexGroups.size())),
      product_groups_(static_cast<int32_t>(cal::kProductGroups.size())) {
  const size_t cells = catalog.cells.size();
  for (const auto& b : cal::kAgeBuckets) band_share_.push_back(b.share);
  Normalize(&band_share_);

  // Start from the real demand leaning by age band, then rescale cells until the population
  // (bands weighted by their share) buys each cell at its real share again.
  base_.assign(static_cast<size_t>(bands_), std::vector<double>(cells));
  for (int32_t b = 0; b < bands_; ++b) {
    const std::string_view bucket = cal::kAgeBuckets[b].name;
    for (size_t c = 0; c < cells; ++c) {
      const Cell& cell = catalog.cells[c];
      double affinity = 1;
      for (const auto& a : kGroupAffinity) {
        if (a.bucket != bucket) continue;
        const double by_group[] = {a.ladies, a.baby, a.divided, a.men, a.sport};
        const std::string_view group = cal::kIndexGroups[cell.index_group].name;
        constexpr std::string_view kGroups[] = {"Ladieswear", "Baby/Children", "Divided",
                                                "Menswear", "Sport"};
        for (int g = 0; g < 5; ++g) {
          if (kGroups[g] == group) affinity *= by_group[g];
        }
      }
      for (const auto& a : kProductGroupAffinity) {
        if (a.bucket == bucket && cell.product_group >= 0 &&
            a.group == cal::kProductGroups[cell.product_group].name) {
          affinity *= a.affinity;
        }
      }
      base_[b][c] = cell.demand * affinity;
    }
  }
  for (int round = 0; round < kIpfRounds; ++round) {
    for (auto& band : base_) Normalize(&band);
    std::vector<double> population(cells, 0.0);
    for (int32_t b = 0; b < bands_; ++b) {
      for (size_t c = 0; c < cells; ++c) population[c] += band_share_[b] * base_[b][c];
    }
    for (auto& band : base_) {
      for (size_t c = 0; c < cells; ++c) {
        if (population[c] > 0) band[c] *= catalog.cells[c].demand / population[c];
      }
    }
  }
  for (auto& band : base_) Normalize(&band);

  for (const Cell& cell : catalog.cells) {
    double amplitude = 0, peak = 0;
    for (const auto& s : kSeasons) {
      if (s.product_type == cal::kProductTypes[cell.product_type].name) {
        amplitude = s.amplitude;
        peak = s.peak_day_of_year;
      }
    }
    season_amplitude_.push_back(amplitude);
    season_peak_.push_back(peak);
  }

  // Which cells each table covers.
  by_band_.resize(static_cast<size_t>(bands_));
  by_band_group_.resize(static_cast<size_t>(bands_ * index_groups_));
  by_band_product_.resize(static_cast<size_t>(bands_ * product_groups_));
  for (int32_t b = 0; b < bands_; ++b) {
    for (size_t c = 0; c < cells; ++c) {
      const Cell& cell = catalog.cells[c];
      const int32_t ci = static_cast<int32_t>(c);
      by_band_[b].cells.push_back(ci);
      by_band_group_[b * index_groups_ + cell.index_group].cells.push_back(ci);
      if (cell.product_group >= 0)
        by_band_product_[b * product_groups_ + cell.product_group].cells.push_back(ci);
    }
  }
  season_.assign(cells, 1.0);
  selling_.resize(cells);
  cell_articles_.resize(cells);
}

std::vector<double> DemandModel::CellShares() const {
  std::vector<double> shares(catalog_.cells.size(), 0.0);
  for (int32_t b = 0; b < bands_; ++b) {
    for (size_t c = 0; c < shares.size(); ++c) shares[c] += band_share_[b] * base_[b][c];
  }
  return shares;
}

void DemandModel::AssignTastes(uint64_t seed, Population* population) const {
  // Favourites are drawn from the customer's band's own shares, so that averaged over the band
  // the mixture gives back the band's tastes.
  std::vector<AliasTable> group_tables, product_tables;
  std::vector<double> w;
  for (int32_t b = 0; b < bands_; ++b) {
    w.assign(static_cast<size_t>(index_groups_), 0.0);
    for (size_t c = 0; c < catalog_.cells.size(); ++c)
      w[catalog_.cells[c].index_group] += base_[b][c];
    group_tables.emplace_back(w);
    w.assign(static_cast<size_t>(product_groups_), 0.0);
    for (size_t c = 0; c < catalog_.cells.size(); ++c) {
      if (catalog_.cells[c].product_group >= 0) w[catalog_.cells[c].product_group] += base_[b][c];
    }
    product_tables.emplace_back(w);
  }
  const AliasTable colours(catalog_.colour_master_demand);
  Rng rng = Rng::Stream(seed, kTasteStream);
  for (CustomerModel& m : population->models) {
    m.favourite_index_group = static_cast<uint8_t>(group_tables[m.age_band].Sample(rng));
    m.favourite_product_group = static_cast<uint8_t>(product_tables[m.age_band].Sample(rng));
    m.favourite_colour = static_cast<uint8_t>(colours.Sample(rng));
    m.style = static_cast<uint8_t>(rng.Below(kStyles));
  }
}

void DemandModel::StartDay(int32_t day, Date date) {
  const double day_of_year = DayOfYear(date);
  for (size_t c = 0; c < season_.size(); ++c) {
    season_[c] = SeasonMultiplier(season_amplitude_[c], season_peak_[c], day_of_year);
  }

  // Articles selling today, by today's popularity. Cells keep articles by launch day, so the
  // scan stops at the first one not launched yet.
  any_.cells.clear();
  scratch_.clear();
  std::vector<double> weights;
  for (size_t c = 0; c < catalog_.cells.size(); ++c) {
    std::vector<int32_t>& selling = selling_[c];
    selling.clear();
    weights.clear();
    for (int32_t a : catalog_.cells[c].articles) {
      if (catalog_.models[a].launch_day > day) break;
      const double w = catalog_.Weight(a, day);
      if (w > 0) {
        selling.push_back(a);
        weights.push_back(w);
      }
    }
    cell_articles_[c].Build(weights);
    if (!selling.empty()) {
      any_.cells.push_back(static_cast<int32_t>(c));
      scratch_.push_back(catalog_.cells[c].demand * season_[c]);
    }
  }
  any_.alias.Build(scratch_);

  auto rebuild = [&](CellTable& table, int32_t band) {
    scratch_.clear();
    for (int32_t c : table.cells) scratch_.push_back(base_[band][c] * season_[c]);
    table.alias.Build(scratch_);
  };
  for (int32_t b = 0; b < bands_; ++b) {
    rebuild(by_band_[b], b);
    for (int32_t g = 0; g < index_groups_; ++g) rebuild(by_band_group_[b * index_groups_ + g], b);
    for (int32_t g = 0; g < product_groups_; ++g)
      rebuild(by_band_product_[b * product_groups_ + g], b);
  }
}

int32_t DemandModel::DrawCell(const CustomerModel& customer, Rng& rng) const {
  const double u = rng.Uniform();
  const CellTable* table = &by_band_[customer.age_band];
  if (u >= kBandWeight + kFavouriteGroupWeight) {
    table =
        &by_band_product_[customer.age_band * product_groups_ + customer.favourite_product_group];
  } else if (u >= kBandWeight) {
    table = &by_band_group_[customer.age_band * index_groups_ + customer.favourite_index_group];
  }
  if (table->alias.empty()) table = &by_band_[customer.age_band];
  return table->cells[table->alias.Sample(rng)];
}

void DemandModel::FreshCellProbabilities(const CustomerModel& customer,
                                         std::span<double> out) const {
  std::fill(out.begin(), out.end(), 0.0);
  const int32_t band = customer.age_band;
  // DrawCell's mixture, with its fallback from an empty table to the band's.
  auto add = [&](const CellTable* table, double share) {
    if (table->alias.empty()) table = &by_band_[band];
    double total = 0;
    for (int32_t c : table->cells) total += base_[band][c] * season_[c];
    if (!(total > 0)) return;
    for (int32_t c : table->cells) out[c] += share * base_[band][c] * season_[c] / total;
  };
  add(&by_band_[band], kBandWeight);
  add(&by_band_group_[band * index_groups_ + customer.favourite_index_group],
      kFavouriteGroupWeight);
  add(&by_band_product_[band * product_groups_ + customer.favourite_product_group],
      1 - kBandWeight - kFavouriteGroupWeight);
  // DrawArticle: four tries at the customer's own tastes, then any selling cell.
  double empty = 0;
  for (size_t c = 0; c < out.size(); ++c) {
    if (cell_articles_[c].empty()) {
      empty += out[c];
      out[c] = 0;
    }
  }
  const double tries = 1 + empty + empty * empty + empty * empty * empty;
  for (double& p : out) p *= tries;
  const double left = empty * empty * empty * empty;
  double any_total = 0;
  for (int32_t c : any_.cells) any_total += catalog_.cells[c].demand * season_[c];
  if (left > 0 && any_total > 0) {
    for (int32_t c : any_.cells) out[c] += left * catalog_.cells[c].demand * season_[c] / any_total;
  }
}

int32_t DemandModel::DrawAnyCell(Rng& rng) const {
  return any_.alias.empty() ? -1 : any_.cells[any_.alias.Sample(rng)];
}

int32_t DemandModel::DrawFromCell(int32_t cell, const CustomerModel& customer, Rng& rng) const {
  const AliasTable& alias = cell_articles_[cell];
  if (alias.empty()) return -1;
  const std::vector<int32_t>& selling = selling_[cell];
  // Sampling-importance-resampling: candidates by popularity, one kept by the customer's
  // colour and style, so per-customer tastes show without a per-customer table.
  int32_t candidates[kCandidates];
  double weights[kCandidates];
  double total = 0;
  for (int i = 0; i < kCandidates; ++i) {
    candidates[i] = selling[alias.Sample(rng)];
    const ArticleModel& m = catalog_.models[candidates[i]];
    weights[i] = (m.colour_master == customer.favourite_colour ? kFavouriteColourBoost : 1.0) *
                 (m.style == customer.style ? kFavouriteStyleBoost : 1.0);
    total += weights[i];
  }
  double u = rng.Uniform() * total;
  for (int i = 0; i < kCandidates - 1; ++i) {
    if (u < weights[i]) return candidates[i];
    u -= weights[i];
  }
  return candidates[kCandidates - 1];
}

int32_t DemandModel::DrawArticle(const CustomerModel& customer, Rng& rng) const {
  // A few tries at the customer's own tastes; cells can be empty on a day (nothing launched
  // yet, or everything sold out), then any cell that sells.
  for (int attempt = 0; attempt < 4; ++attempt) {
    const int32_t a = DrawFromCell(DrawCell(customer, rng), customer, rng);
    if (a >= 0) return a;
  }
  const int32_t cell = DrawAnyCell(rng);
  return cell < 0 ? -1 : DrawFromCell(cell, customer, rng);
}

}  // namespace towerstream::datagen
