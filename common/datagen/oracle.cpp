// The held-out week's oracle: the week's tables averaged by volume, then a threshold search
// for each buyer's top articles.
#include "common/datagen/oracle.h"

#include <algorithm>

#include "common/datagen/calibration_tables.h"

namespace towerstream::datagen {
namespace {

namespace cal = calibration;

// The colour and style boosts of DrawFromCell (demand.cpp): 1, 3 or 9 for zero, one or two
// matches, so a boost class is the number of matches.
constexpr double kBoostOfClass[3] = {1, 3, 9};
// DrawFromCell's candidates drawn by popularity before one is kept by its boost.
constexpr double kCandidates = 4;

// b * E[1 / (b + B)] for each boost class b, B the boosts of the three other candidates, each
// of class i with probability p[i]: the chance of keeping a candidate of class b is then
// 4 * popularity * (this).
void KeepFactors(const double p[3], double out[3]) {
  double expectation[3] = {0, 0, 0};
  for (int i = 0; i < 3; ++i) {
    for (int j = 0; j < 3; ++j) {
      for (int k = 0; k < 3; ++k) {
        const double chance = p[i] * p[j] * p[k];
        if (chance == 0) continue;
        const double others = kBoostOfClass[i] + kBoostOfClass[j] + kBoostOfClass[k];
        for (int b = 0; b < 3; ++b) expectation[b] += chance / (kBoostOfClass[b] + others);
      }
    }
  }
  for (int b = 0; b < 3; ++b) out[b] = kBoostOfClass[b] * expectation[b];
}

// Best first: higher score, then lower article index (a total order, so rankings are
// reproducible).
bool Better(double score_a, int32_t a, double score_b, int32_t b) {
  return score_a > score_b || (score_a == score_b && a < b);
}

}  // namespace

WeekOracle::WeekOracle(const Catalog& catalog, const Population& population,
                       const BasketShape& shape, int history_slots)
    : catalog_(catalog),
      population_(population),
      shape_(shape),
      slots_(history_slots),
      cells_(static_cast<int32_t>(catalog.cells.size())),
      colours_(std::max<int32_t>(1, static_cast<int32_t>(catalog.colour_masters.size()))),
      groups_(static_cast<int32_t>(cal::kIndexGroups.size())),
      product_groups_(static_cast<int32_t>(cal::kProductGroups.size())) {
  const size_t articles = catalog.models.size();
  const size_t cells = static_cast<size_t>(cells_);
  sold_before_.assign(articles, false);
  popularity_.assign(articles, 0.0);
  on_sale_.assign(articles, 0.0);
  cell_selling_.assign(cells, 0.0);
  colour_mass_.assign(cells * static_cast<size_t>(colours_), 0.0);
  style_mass_.assign(cells * kStyles, 0.0);
  both_mass_.assign(cells * static_cast<size_t>(colours_) * kStyles, 0.0);
  const size_t profiles = cal::kAgeBuckets.size() * static_cast<size_t>(groups_ * product_groups_);
  profile_cells_.assign(profiles * cells, 0.0);
}

size_t WeekOracle::Profile(const CustomerModel& m) const {
  return (static_cast<size_t>(m.age_band) * static_cast<size_t>(groups_) +
          m.favourite_index_group) *
             static_cast<size_t>(product_groups_) +
         m.favourite_product_group;
}

void WeekOracle::StartWeek(std::span<const int32_t> history, std::span<const uint32_t> bought) {
  history_.assign(history.begin(), history.end());
  bought_.assign(bought.begin(), bought.end());
}

void WeekOracle::AddPurchase(int64_t customer, int32_t article) {
  purchases_.push_back((static_cast<uint64_t>(customer) << 32) | static_cast<uint32_t>(article));
}

void WeekOracle::AddDay(const DemandModel& demand, int32_t day, int64_t rows) {
  if (rows <= 0) return;  // no basket that day
  const double w = static_cast<double>(rows);
  total_rows_ += w;
  for (int32_t k = 0; k < cells_; ++k) {
    const std::vector<int32_t>& selling = demand.Selling(k);
    scratch_.clear();
    double total = 0;
    for (const int32_t a : selling) {
      scratch_.push_back(catalog_.Weight(a, day));
      total += scratch_.back();
    }
    if (!(total > 0)) continue;
    cell_selling_[k] += w;
    for (size_t i = 0; i < selling.size(); ++i) {
      const int32_t a = selling[i];
      const ArticleModel& m = catalog_.models[a];
      const double share = w * scratch_[i] / total;
      popularity_[a] += share;
      on_sale_[a] += w;
      const size_t colour = static_cast<size_t>(k) * colours_ + m.colour_master;
      colour_mass_[colour] += share;
      style_mass_[static_cast<size_t>(k) * kStyles + m.style] += share;
      both_mass_[colour * kStyles + m.style] += share;
    }
  }
  // The cell mixture depends on the customer only through (age band, favourite index group,
  // favourite product group): a few hundred profiles.
  scratch_.resize(static_cast<size_t>(cells_));
  CustomerModel m;
  for (size_t band = 0; band < cal::kAgeBuckets.size(); ++band) {
    for (int32_t g = 0; g < groups_; ++g) {
      for (int32_t pg = 0; pg < product_groups_; ++pg) {
        m.age_band = static_cast<uint8_t>(band);
        m.favourite_index_group = static_cast<uint8_t>(g);
        m.favourite_product_group = static_cast<uint8_t>(pg);
        demand.FreshCellProbabilities(m, scratch_);
        double* row = &profile_cells_[Profile(m) * static_cast<size_t>(cells_)];
        for (int32_t k = 0; k < cells_; ++k) row[k] += w * scratch_[k];
      }
    }
  }
}

void WeekOracle::Prepare() {
  const double inv = total_rows_ > 0 ? 1 / total_rows_ : 0;
  for (double& x : on_sale_) x *= inv;
  for (double& x : profile_cells_) x *= inv;
  // Popularity shares given that the cell sells (the cell probabilities already carry the
  // days it does not).
  const size_t articles = catalog_.models.size();
  for (int32_t k = 0; k < cells_; ++k) {
    cell_selling_[k] *= inv;
    const double norm = cell_selling_[k] > 0 ? inv / cell_selling_[k] : 0;
    for (const int32_t a : catalog_.cells[k].articles) popularity_[a] *= norm;
    for (int32_t c = 0; c < colours_; ++c) {
      const size_t colour = static_cast<size_t>(k) * colours_ + c;
      colour_mass_[colour] *= norm;
      for (int s = 0; s < kStyles; ++s) both_mass_[colour * kStyles + s] *= norm;
    }
    for (int s = 0; s < kStyles; ++s) style_mass_[static_cast<size_t>(k) * kStyles + s] *= norm;
  }

  // Other colours: "another colour of the previous item" picks one of the product's others on
  // sale, uniformly.
  siblings_.assign(articles, 0);
  share_to_sibling_.assign(articles, 0.0);
  kappa_.assign(articles, 0.0);
  for (size_t p = 0; p + 1 < catalog_.product_begin.size(); ++p) {
    const int32_t begin = catalog_.product_begin[p], end = catalog_.product_begin[p + 1];
    int32_t on_sale = 0;
    for (int32_t v = begin; v < end; ++v) on_sale += on_sale_[v] > 0;
    double shares = 0;
    for (int32_t v = begin; v < end; ++v) {
      siblings_[v] = on_sale - (on_sale_[v] > 0);
      if (siblings_[v] > 0) share_to_sibling_[v] = popularity_[v] / siblings_[v];
      shares += share_to_sibling_[v];
    }
    for (int32_t v = begin; v < end; ++v) {
      kappa_[v] = popularity_[v] + on_sale_[v] * (shares - share_to_sibling_[v]);
    }
  }
  single_mass_.assign(static_cast<size_t>(cells_), 0.0);
  for (size_t a = 0; a < articles; ++a) {
    if (siblings_[a] == 0) single_mass_[catalog_.models[a].cell] += popularity_[a];
  }

  // Keep factors per (cell, customer colour, customer style).
  boost_.assign(both_mass_.size() * 3, 0.0);
  for (int32_t k = 0; k < cells_; ++k) {
    if (!(cell_selling_[k] > 0)) continue;
    for (int32_t c = 0; c < colours_; ++c) {
      const size_t colour = static_cast<size_t>(k) * colours_ + c;
      for (int s = 0; s < kStyles; ++s) {
        const size_t i = colour * kStyles + s;
        const double both = both_mass_[i];
        const double one =
            std::max(0.0, colour_mass_[colour] + style_mass_[static_cast<size_t>(k) * kStyles + s] -
                              2 * both);
        const double p[3] = {std::max(0.0, 1 - one - both), one, both};
        KeepFactors(p, &boost_[i * 3]);
      }
    }
  }

  // Lists per (cell, style), best bound key first.
  list_begin_.assign(static_cast<size_t>(cells_) * kStyles + 1, 0);
  for (size_t a = 0; a < articles; ++a) {
    if (popularity_[a] > 0) {
      const ArticleModel& m = catalog_.models[a];
      ++list_begin_[static_cast<size_t>(m.cell) * kStyles + m.style + 1];
    }
  }
  for (size_t i = 1; i < list_begin_.size(); ++i) list_begin_[i] += list_begin_[i - 1];
  list_items_.assign(list_begin_.back(), 0);
  std::vector<uint32_t> next(list_begin_.begin(), list_begin_.end() - 1);
  for (size_t a = 0; a < articles; ++a) {
    if (popularity_[a] > 0) {
      const ArticleModel& m = catalog_.models[a];
      list_items_[next[static_cast<size_t>(m.cell) * kStyles + m.style]++] =
          static_cast<int32_t>(a);
    }
  }
  for (size_t l = 0; l + 1 < list_begin_.size(); ++l) {
    std::sort(list_items_.begin() + list_begin_[l], list_items_.begin() + list_begin_[l + 1],
              [&](int32_t a, int32_t b) { return Better(kappa_[a], a, kappa_[b], b); });
  }
  stamp_.assign(articles, 0);
}

void WeekOracle::Rank(int64_t customer, std::vector<int32_t>* top) {
  const CustomerModel& m = population_.models[customer];
  const double* cell_p = &profile_cells_[Profile(m) * static_cast<size_t>(cells_)];
  const int32_t colour = m.favourite_colour;
  const int32_t style = m.style;
  const BasketShape& s = shape_;
  ++buyer_stamp_;

  // Recent articles at the week's start, each with its share of the draws from them.
  struct Recent {
    int32_t article;
    double share;
  };
  std::vector<Recent> recent;
  const uint32_t known = std::min<uint32_t>(bought_[customer], static_cast<uint32_t>(slots_));
  for (uint32_t i = 0; i < known; ++i) {
    const int32_t a = history_[static_cast<size_t>(customer) * slots_ + i];
    if (a < 0) continue;
    auto it =
        std::find_if(recent.begin(), recent.end(), [a](const Recent& r) { return r.article == a; });
    if (it == recent.end()) {
      recent.push_back({a, 0});
      it = recent.end() - 1;
    }
    it->share += 1.0 / known;
  }
  double recent_selling = 0;  // chance a draw from them finds one still on sale
  for (const Recent& r : recent) recent_selling += r.share * on_sale_[r.article];

  // A basket's first item is a fresh draw with chance `first_fresh`; later items (L of them
  // on average) are fresh draws, other articles of the first item's cell, other colours of its
  // product or recent articles. Fresh draws and same-cell draws both come to
  // coefficient(cell) * 4 * popularity * keep factor.
  const double later = s.later_items;
  const double first_fresh = 1 - s.first_repeat * recent_selling;
  const double other_fresh = 1 - s.duplicate - s.variant - s.same_cell - s.later_repeat;
  const double fresh = first_fresh + later * (s.later_repeat * (1 - recent_selling) + other_fresh);
  std::vector<double>& coefficient = scratch_;
  coefficient.resize(static_cast<size_t>(cells_));
  for (int32_t k = 0; k < cells_; ++k) {
    // "Another colour" falls back to the same cell for a product with no other colour.
    coefficient[k] =
        cell_p[k] * (fresh + later * first_fresh * (s.same_cell + s.variant * single_mass_[k]));
  }
  const double sibling_coefficient = s.variant * later * first_fresh;  // times cell_p

  // What the recent articles add beyond the fresh draws: themselves, their cells (as the
  // previous item of same-cell draws) and their other colours.
  struct Extra {
    int32_t article;
    double score;
  };
  std::vector<Extra> extras;
  auto add_extra = [&](int32_t a, double x) {
    for (Extra& e : extras) {
      if (e.article == a) {
        e.score += x;
        return;
      }
    }
    extras.push_back({a, x});
  };
  for (const Recent& r : recent) {
    const double selling = r.share * on_sale_[r.article];
    const double first = s.first_repeat * selling;
    add_extra(r.article, first + later * s.later_repeat * selling);
    const ArticleModel& am = catalog_.models[r.article];
    const int32_t others = siblings_[r.article];
    coefficient[am.cell] += later * first * (s.same_cell + (others == 0 ? s.variant : 0));
    if (others == 0 || first == 0) continue;
    for (int32_t v = catalog_.product_begin[am.product]; v < catalog_.product_begin[am.product + 1];
         ++v) {
      if (v != r.article && on_sale_[v] > 0) {
        add_extra(v, later * s.variant * first * on_sale_[v] / others);
      }
    }
  }

  const size_t row = static_cast<size_t>(colour) * kStyles + static_cast<size_t>(style);
  auto keep = [&](int32_t k) {
    return &boost_[((static_cast<size_t>(k) * colours_) * kStyles + row) * 3];
  };
  auto score = [&](int32_t a) {
    const ArticleModel& am = catalog_.models[a];
    const double* factor = keep(am.cell);
    const int match_style = am.style == style;
    double x =
        coefficient[am.cell] * popularity_[a] * factor[(am.colour_master == colour) + match_style];
    if (on_sale_[a] > 0) {
      double siblings = 0;
      for (int32_t v = catalog_.product_begin[am.product];
           v < catalog_.product_begin[am.product + 1]; ++v) {
        if (v == a || share_to_sibling_[v] == 0) continue;
        const ArticleModel& vm = catalog_.models[v];
        siblings +=
            share_to_sibling_[v] * factor[(vm.colour_master == colour) + (vm.style == style)];
      }
      x += sibling_coefficient * cell_p[am.cell] * on_sale_[a] * siblings;
    }
    return kCandidates * x;
  };

  std::vector<Scored> heap;
  heap.reserve(kOracleTop);
  auto worse = [](const Scored& x, const Scored& y) {
    return Better(x.score, x.article, y.score, y.article);
  };
  auto offer = [&](int32_t a, double x) {
    if (!(x > 0)) return;
    const Scored candidate{x, a};
    if (heap.size() < static_cast<size_t>(kOracleTop)) {
      heap.push_back(candidate);
      std::push_heap(heap.begin(), heap.end(), worse);
    } else if (worse(candidate, heap.front())) {
      std::pop_heap(heap.begin(), heap.end(), worse);
      heap.back() = candidate;
      std::push_heap(heap.begin(), heap.end(), worse);
    }
  };
  // Below this no article can enter (0 until the top is full).
  auto threshold = [&] {
    return heap.size() < static_cast<size_t>(kOracleTop) ? 0.0 : heap.front().score;
  };

  for (const Extra& e : extras) {
    stamp_[e.article] = buyer_stamp_;
    offer(e.article, score(e.article) + e.score);
  }

  // Cells by their best bound: the list head's key times the largest keep factor it can have.
  struct CellBound {
    double bound;
    int32_t cell;
  };
  std::vector<CellBound> order;
  for (int32_t k = 0; k < cells_; ++k) {
    const double weight = kCandidates * std::max(coefficient[k], sibling_coefficient * cell_p[k]);
    if (!(weight > 0)) continue;
    const double* factor = keep(k);
    double bound = 0;
    for (int st = 0; st < kStyles; ++st) {
      const size_t l = static_cast<size_t>(k) * kStyles + st;
      if (list_begin_[l] == list_begin_[l + 1]) continue;
      bound =
          std::max(bound, weight * factor[1 + (st == style)] * kappa_[list_items_[list_begin_[l]]]);
    }
    if (bound > 0) order.push_back({bound, k});
  }
  std::sort(order.begin(), order.end(), [](const CellBound& x, const CellBound& y) {
    return Better(x.bound, x.cell, y.bound, y.cell);
  });
  for (const CellBound& c : order) {
    if (c.bound < threshold()) break;
    const int32_t k = c.cell;
    const double weight = kCandidates * std::max(coefficient[k], sibling_coefficient * cell_p[k]);
    const double* factor = keep(k);
    for (int st = 0; st < kStyles; ++st) {
      const size_t l = static_cast<size_t>(k) * kStyles + st;
      const double list_weight = weight * factor[1 + (st == style)];
      for (uint32_t i = list_begin_[l]; i < list_begin_[l + 1]; ++i) {
        const int32_t a = list_items_[i];
        if (list_weight * kappa_[a] < threshold()) break;
        if (stamp_[a] == buyer_stamp_) continue;
        offer(a, score(a));
      }
    }
  }

  std::sort(heap.begin(), heap.end(), worse);
  top->clear();
  for (const Scored& x : heap) top->push_back(x.article);
}

void WeekOracle::Finish(const OracleSink& sink) {
  Prepare();
  std::vector<uint64_t> rows = purchases_;
  std::sort(rows.begin(), rows.end());
  std::vector<int32_t> top;
  std::vector<hm::ArticleId> actual, fresh, predicted;
  for (size_t i = 0; i < rows.size();) {
    const int64_t customer = static_cast<int64_t>(rows[i] >> 32);
    actual.clear();
    fresh.clear();
    for (; i < rows.size() && static_cast<int64_t>(rows[i] >> 32) == customer; ++i) {
      if (i > 0 && rows[i] == rows[i - 1]) continue;
      const auto a = static_cast<int32_t>(rows[i] & 0xffffffffu);
      actual.push_back(catalog_.articles[a].article_id);
      if (!sold_before_[a]) fresh.push_back(actual.back());
    }
    Rank(customer, &top);
    predicted.clear();
    for (const int32_t a : top) predicted.push_back(catalog_.articles[a].article_id);
    OracleRanking ranking;
    ranking.customer = customer;
    ranking.bought_before = bought_[customer] > 0;
    ranking.actual = actual;
    ranking.new_articles = fresh;
    ranking.predicted = predicted;
    sink(ranking);
  }
}

}  // namespace towerstream::datagen
