// Catalogue generation: products from real (product type, department) templates, colour
// variants, launch days and life curves, product codes that grow with launch day.
#include "common/datagen/catalog.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>
#include <string_view>
#include <utility>

#include "common/datagen/alias_table.h"
#include "common/datagen/calibration_tables.h"
#include "common/datagen/random.h"

namespace towerstream::datagen {
namespace {

namespace cal = calibration;

constexpr uint64_t kCatalogStream = 0xca7a1095;

// Real product codes span 0108775..0959461; generated ones start at the same place and keep
// their mean gap, so ids look like Kaggle's at any catalogue size.
constexpr int64_t kFirstProductCode = 108775;
constexpr int64_t kLastProductCode = 959461;

// Colour variants per product (1..12): mean 2.23, Kaggle's 105,542 articles / 47,224 products.
constexpr double kVariantWeights[] = {52, 20, 11, 6, 4, 2.5, 1.5, 1, 0.8, 0.6, 0.4, 0.2};

// A quarter of the products are already on sale when the data starts, the rest launch during
// it. Those on sale launched within two decay times before the start (basics: within a year),
// so that they still sell: Kaggle's articles.csv lists articles that sold in the period.
constexpr double kPreLaunchedShare = 0.25;
constexpr int32_t kBasicPreLaunchDays = 365;
constexpr double kPreLaunchDecays = 2;
// Some variants (new colours) arrive after their product, up to four months later.
constexpr double kLateVariantShare = 0.3;
constexpr int32_t kLateVariantMaxDays = 120;
// Basics (black tights, socks) sell steadily; the rest rise and fade.
constexpr double kBasicShare = 0.08;
// Basics never peak as high as a new hit, but they sell for the whole period.
constexpr double kBasicPopularity = 0.5;
constexpr double kMedianDecayDays = 45;
constexpr double kDecaySigma = 0.6;
constexpr double kMaxPlateauDays = 21;
constexpr double kMinRampDays = 2, kMaxRampDays = 14;
// Life below this fraction of the peak counts as sold out (log(1/0.01) e-folding times).
constexpr double kSoldOutLogFactor = 4.605170185988091;
// Popularity is log-normal per product and per variant; the product's sigma sets the skew
// (calibrated so the top articles take a share like the real top 200, see tests).
constexpr double kProductPopularitySigma = 0.8;
constexpr double kVariantPopularitySigma = 0.5;
// Names: some products take the first word (the "model name", e.g. "Jade") of another one.
constexpr double kRenameShare = 0.3;
constexpr double kVariantNameSuffixShare = 0.1;
constexpr double kMissingDescShare = 0.004;
// The real list prices come from one September day's baskets; markdowns (generator.cpp) then
// lower the mean. Raising list prices by this factor (keeping the "..99" endings) brings the
// mean paid price back to the real 0.0278.
constexpr double kListPriceScale = 1.05;

// k scaled and snapped to the nearest "..99" price point (k of k / 59000).
int32_t ScaledListPrice(int32_t k) {
  const int64_t hundreds = std::llround(k * kListPriceScale / 100);
  return static_cast<int32_t>(std::max<int64_t>(1, hundreds) * 100 - 1);
}

template <typename Array, typename Key>
int32_t IndexByName(const Array& array, Key key) {
  for (size_t i = 0; i < array.size(); ++i) {
    if (array[i].name == key) return static_cast<int32_t>(i);
  }
  return -1;
}

std::string_view FirstWord(std::string_view s) { return s.substr(0, s.find(' ')); }

// A real name of the product type, sometimes with another product's model name.
std::string MakeName(const cal::ProductType& type, Rng& rng) {
  auto any_name = [&] { return cal::kProductNames[rng.Below(cal::kProductNames.size())]; };
  std::string_view base = type.names_count > 0
                              ? cal::kProductNames[type.names_begin + rng.Below(type.names_count)]
                              : any_name();
  if (rng.Bernoulli(kRenameShare) && base.find(' ') != std::string_view::npos) {
    std::string_view donor = FirstWord(any_name());
    if (!donor.empty()) return std::string(donor) + std::string(base.substr(base.find(' ')));
  }
  return std::string(base);
}

struct Variant {
  int32_t colour = 0;  // into kColours
  int32_t launch_day = 0;
  float popularity = 1;
};

struct Product {
  int32_t template_index = 0;
  int32_t launch_day = 0;
  int32_t appearance = 0;  // into kAppearances
  int32_t list_price = 0;
  std::string name;
  std::string_view desc;
  uint8_t style = 0;
  bool basic = false;
  float ramp_days = 1, plateau_days = 0, decay_days = 0;
  std::vector<Variant> variants;
};

// Per product group, an alias table over the rows of a calibration table for that group,
// falling back to all rows of `fallback_group` (or all rows) when a group has none.
template <typename Rows, typename GroupOf, typename WeightOf>
std::map<std::string_view, std::pair<std::vector<int32_t>, AliasTable>> ByGroup(
    const Rows& rows, GroupOf group_of, WeightOf weight_of) {
  std::map<std::string_view, std::pair<std::vector<int32_t>, std::vector<double>>> raw;
  for (size_t i = 0; i < rows.size(); ++i) {
    auto& [indices, weights] = raw[group_of(rows[i])];
    indices.push_back(static_cast<int32_t>(i));
    weights.push_back(weight_of(rows[i]));
  }
  std::map<std::string_view, std::pair<std::vector<int32_t>, AliasTable>> out;
  for (auto& [group, entry] : raw) out[group] = {entry.first, AliasTable(entry.second)};
  return out;
}

}  // namespace

double Catalog::Weight(int32_t a, int32_t day) const {
  const ArticleModel& m = models[static_cast<size_t>(a)];
  const int32_t age = day - m.launch_day;
  if (age < 0 || day > m.last_day) return 0;
  double w = m.popularity * std::min(1.0, (age + 1) / static_cast<double>(m.ramp_days));
  const double fade_start = m.ramp_days + m.plateau_days;
  if (m.decay_days > 0 && age > fade_start) w *= PortableExp(-(age - fade_start) / m.decay_days);
  return w;
}

Catalog BuildCatalog(uint64_t seed, int64_t count, int32_t days) {
  Rng rng = Rng::Stream(seed, kCatalogStream);
  Catalog catalog;

  std::vector<double> weights;
  for (const auto& t : cal::kTemplates) weights.push_back(t.article_weight);
  const AliasTable templates(weights);
  weights.clear();
  for (const auto& c : cal::kColours) weights.push_back(c.article_weight);
  const AliasTable colours(weights);
  const AliasTable variant_counts(kVariantWeights);

  // Colour groups that sell above their share of articles (black) get more popular variants.
  std::vector<double> colour_factor;
  for (const auto& c : cal::kColours) {
    const int32_t i = IndexByName(cal::kColourShares, c.name);
    const double f =
        i < 0 || cal::kColourShares[i].article_share <= 0
            ? 1.0
            : cal::kColourShares[i].transaction_share / cal::kColourShares[i].article_share;
    colour_factor.push_back(std::clamp(f, 0.1, 10.0));
  }
  auto appearances = ByGroup(
      cal::kAppearances, [](const auto& a) { return a.product_group; },
      [](const auto& a) { return static_cast<double>(a.articles); });
  auto prices = ByGroup(
      cal::kListPrices, [](const auto& p) { return p.product_group; },
      [](const auto& p) { return static_cast<double>(p.observations); });
  auto pick = [&](auto& by_group, std::string_view group, std::string_view fallback) {
    auto it = by_group.find(group);
    if (it == by_group.end()) it = by_group.find(fallback);
    if (it == by_group.end()) it = by_group.begin();
    return it->second.first[it->second.second.Sample(rng)];
  };

  // Products and their variants.
  std::vector<Product> products;
  int64_t made = 0;
  while (made < count) {
    Product p;
    p.template_index = static_cast<int32_t>(templates.Sample(rng));
    const auto& type = cal::kProductTypes[cal::kTemplates[p.template_index].product_type];
    const bool pre_launched = rng.Bernoulli(kPreLaunchedShare);
    const int32_t launch_in_period = static_cast<int32_t>(rng.Below(static_cast<uint64_t>(days)));
    p.appearance = pick(appearances, type.group, type.group);
    p.list_price = ScaledListPrice(cal::kListPrices[pick(prices, type.group, "")].k);
    p.name = MakeName(type, rng);
    if (type.descs_count > 0 && !rng.Bernoulli(kMissingDescShare)) {
      p.desc = cal::kDescriptions[type.descs_begin + rng.Below(type.descs_count)];
    }
    p.style = static_cast<uint8_t>(rng.Below(kStyles));
    p.basic = rng.Bernoulli(kBasicShare);
    p.ramp_days = static_cast<float>(kMinRampDays + (kMaxRampDays - kMinRampDays) * rng.Uniform());
    p.plateau_days = static_cast<float>(kMaxPlateauDays * rng.Uniform());
    p.decay_days =
        p.basic ? 0.0f
                : static_cast<float>(rng.LogNormal(PortableLog(kMedianDecayDays), kDecaySigma));
    const double pre_launch_days =
        p.basic ? kBasicPreLaunchDays
                : p.ramp_days + p.plateau_days + kPreLaunchDecays * p.decay_days;
    p.launch_day = pre_launched ? -1 - static_cast<int32_t>(rng.Uniform() * pre_launch_days)
                                : launch_in_period;
    const double popularity =
        rng.LogNormal(0, kProductPopularitySigma) * (p.basic ? kBasicPopularity : 1.0);
    const int64_t n = std::min<int64_t>(count - made, variant_counts.Sample(rng) + 1);
    for (int64_t v = 0; v < n; ++v) {
      Variant variant;
      // Distinct colours within a product where the draws allow.
      for (int attempt = 0; attempt < 8; ++attempt) {
        variant.colour = static_cast<int32_t>(colours.Sample(rng));
        const bool taken = std::any_of(p.variants.begin(), p.variants.end(), [&](const Variant& o) {
          return cal::kColours[o.colour].code == cal::kColours[variant.colour].code;
        });
        if (!taken) break;
      }
      variant.launch_day = p.launch_day;
      if (v > 0 && rng.Bernoulli(kLateVariantShare)) {
        variant.launch_day += static_cast<int32_t>(rng.Between(1, kLateVariantMaxDays));
      }
      variant.popularity = static_cast<float>(popularity * colour_factor[variant.colour] *
                                              rng.LogNormal(0, kVariantPopularitySigma));
      p.variants.push_back(variant);
    }
    std::stable_sort(p.variants.begin(), p.variants.end(), [](const Variant& a, const Variant& b) {
      return a.launch_day < b.launch_day;
    });
    made += n;
    products.push_back(std::move(p));
  }

  // Product codes grow with launch day, like H&M's.
  std::vector<int32_t> order(products.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
    return products[a].launch_day < products[b].launch_day;
  });
  const int64_t mean_gap = std::max<int64_t>(
      1, (kLastProductCode - kFirstProductCode) / static_cast<int64_t>(products.size()));

  // Colour masters (perceived_colour_master_id) and what share of sales each takes.
  std::map<int32_t, double> master_demand;
  for (size_t i = 0; i < cal::kColours.size(); ++i) {
    master_demand[cal::kColours[i].perceived_master_id] +=
        cal::kColours[i].article_weight * colour_factor[i];
  }
  double master_total = 0;
  for (const auto& [id, d] : master_demand) master_total += d;
  for (const auto& [id, d] : master_demand) {
    catalog.colour_masters.push_back(id);
    catalog.colour_master_demand.push_back(d / master_total);
  }

  // Cells: demand from the transaction weights of every template in the cell.
  std::map<std::pair<int32_t, int32_t>, int32_t> cell_of;
  std::vector<double> cell_demand;
  auto cell_index = [&](int32_t template_index) {
    const auto& t = cal::kTemplates[template_index];
    const int32_t ig =
        IndexByName(cal::kIndexGroups, cal::kDepartments[t.department].index_group_name);
    auto [it, inserted] =
        cell_of.try_emplace({ig, t.product_type}, static_cast<int32_t>(catalog.cells.size()));
    if (inserted) {
      Cell cell;
      cell.index_group = ig;
      cell.product_type = t.product_type;
      cell.product_group =
          IndexByName(cal::kProductGroups, cal::kProductTypes[t.product_type].group);
      catalog.cells.push_back(std::move(cell));
    }
    return it->second;
  };

  int64_t code = kFirstProductCode;
  for (int32_t pi : order) {
    const Product& p = products[pi];
    const auto& t = cal::kTemplates[p.template_index];
    const auto& type = cal::kProductTypes[t.product_type];
    const auto& dept = cal::kDepartments[t.department];
    const auto& appearance = cal::kAppearances[p.appearance];
    const int32_t cell = cell_index(p.template_index);
    const int32_t product = static_cast<int32_t>(catalog.product_begin.size());
    catalog.product_begin.push_back(static_cast<int32_t>(catalog.articles.size()));
    int64_t suffix = 0;
    for (size_t v = 0; v < p.variants.size(); ++v) {
      const Variant& variant = p.variants[v];
      const auto& colour = cal::kColours[variant.colour];
      // Kaggle's variant numbers start at 001 and skip now and then (at most 12 * 20 < 999).
      suffix = v == 0 ? 1 : suffix + (rng.Bernoulli(0.1) ? rng.Between(2, 20) : 1);
      hm::Article a;
      a.article_id = code * 1000 + suffix;
      a.product_code = code;
      a.prod_name = p.name;
      if (v > 0 && rng.Bernoulli(kVariantNameSuffixShare)) a.prod_name += " (1)";
      a.product_type_no = type.no;
      a.product_type_name = type.name;
      a.product_group_name = type.group;
      a.graphical_appearance_no = appearance.no;
      a.graphical_appearance_name = appearance.name;
      a.colour_group_code = colour.code;
      a.colour_group_name = colour.name;
      a.perceived_colour_value_id = colour.perceived_value_id;
      a.perceived_colour_value_name = colour.perceived_value_name;
      a.perceived_colour_master_id = colour.perceived_master_id;
      a.perceived_colour_master_name = colour.perceived_master_name;
      a.department_no = dept.no;
      a.department_name = dept.name;
      a.index_code = dept.index_code;
      a.index_name = dept.index_name;
      a.index_group_no = dept.index_group_no;
      a.index_group_name = dept.index_group_name;
      a.section_no = dept.section_no;
      a.section_name = dept.section_name;
      a.garment_group_no = dept.garment_group_no;
      a.garment_group_name = dept.garment_group_name;
      a.detail_desc = p.desc;

      ArticleModel m;
      m.cell = cell;
      m.product = product;
      m.launch_day = variant.launch_day;
      m.popularity = variant.popularity;
      m.ramp_days = p.ramp_days;
      m.plateau_days = p.plateau_days;
      m.decay_days = p.decay_days;
      const double life = p.ramp_days + p.plateau_days + p.decay_days * kSoldOutLogFactor;
      m.last_day = p.basic ? std::numeric_limits<int32_t>::max()
                           : static_cast<int32_t>(std::min<double>(variant.launch_day + life, 1e9));
      m.list_price = p.list_price;
      m.colour_master = static_cast<uint8_t>(
          std::distance(master_demand.begin(), master_demand.find(colour.perceived_master_id)));
      m.style = p.style;
      catalog.cells[cell].articles.push_back(static_cast<int32_t>(catalog.articles.size()));
      catalog.articles.push_back(std::move(a));
      catalog.models.push_back(m);
    }
    code += 1 + static_cast<int64_t>(rng.Below(static_cast<uint64_t>(2 * mean_gap - 1)));
  }
  catalog.product_begin.push_back(static_cast<int32_t>(catalog.articles.size()));

  // Demand of each cell that has articles, from the real transaction weights of its templates.
  double total = 0;
  for (const auto& t : cal::kTemplates) {
    const int32_t ig =
        IndexByName(cal::kIndexGroups, cal::kDepartments[t.department].index_group_name);
    auto it = cell_of.find({ig, t.product_type});
    if (it == cell_of.end()) continue;
    catalog.cells[it->second].demand += t.transaction_weight;
    total += t.transaction_weight;
  }
  for (Cell& cell : catalog.cells) {
    cell.demand /= total;
    std::stable_sort(cell.articles.begin(), cell.articles.end(), [&](int32_t a, int32_t b) {
      return catalog.models[a].launch_day < catalog.models[b].launch_day;
    });
  }
  return catalog;
}

}  // namespace towerstream::datagen
