// Ranker: candidates, features, the network's forward pass, its fit and its file.
#include "common/ranking/ranker.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <limits>
#include <numeric>
#include <random>
#include <sstream>
#include <unordered_set>
#include <utility>

#include <torch/torch.h>

#include "common/base/date.h"
#include "common/base/progress.h"
#include "common/model/fast_ops.h"

namespace towerstream::ranking {
namespace {

constexpr int kFormatVersion = 1;

enum Feature {
  kCosine,
  kBought,
  kTimesBought,
  kBoughtLastWeek,   // exp(-days since last bought / 7)
  kBoughtLastMonth,  // exp(-days since last bought / 30)
  kRecencyRank,      // 1 / (1 + place among the customer's purchases, most recent 0)
  kSalesLastWeek,
  kSalesLastDay,
  kSoldBefore,
  kNewness,  // exp(-days since first sale / 14)
  kFromTowers,
  kCustomerArticles,  // log1p(distinct articles the customer bought)
  kCustomerRecency,   // exp(-days since the customer's last purchase / 14)
};
constexpr std::array<std::string_view, kFeatureCount> kFeatureNames = {"cosine",
                                                                       "bought",
                                                                       "times_bought",
                                                                       "bought_last_week",
                                                                       "bought_last_month",
                                                                       "recency_rank",
                                                                       "sales_last_week",
                                                                       "sales_last_day",
                                                                       "sold_before",
                                                                       "newness",
                                                                       "from_towers",
                                                                       "customer_articles",
                                                                       "customer_recency"};

Status Corrupt(const std::string& source, const std::string& what) {
  return Status::Corruption(source + ": " + what);
}

// An integer field of `object`. A float is refused: nlohmann's get<int64_t>() would cast it, which
// is undefined behaviour when it is out of range (1e300).
Result<int64_t> IntegerField(const nlohmann::json& object, const char* key,
                             const std::string& source) {
  const nlohmann::json& value = object.at(key);
  if (!value.is_number_integer()) {
    return Corrupt(source, std::string(key) + ": expected an integer, got " + value.dump());
  }
  return value.get<int64_t>();
}

}  // namespace

std::span<const std::string_view> FeatureNames() { return kFeatureNames; }

Status CandidateOptions::Validate() const {
  if (from_towers < 0 || from_purchases < 0 || from_trending < 0) {
    return Status::InvalidArgument("ranker: candidate counts must be >= 0");
  }
  if (from_towers + from_purchases + from_trending == 0) {
    return Status::InvalidArgument("ranker: no candidate source");
  }
  return Status::Ok();
}

Status RankerFitOptions::Validate() const {
  if (hidden < 0 || epochs < 1 || customers_per_step < 1 || !(learning_rate > 0) ||
      max_customers < 1) {
    return Status::InvalidArgument(
        "ranker fit: hidden >= 0, epochs >= 1, customers_per_step >= 1, learning_rate > 0 and "
        "max_customers >= 1 are required");
  }
  return Status::Ok();
}

ItemVectors::ItemVectors(std::span<const hm::ArticleId> ids, const torch::Tensor& vectors) {
  const torch::Tensor host = vectors.to(torch::kCPU, torch::kFloat32).contiguous();
  dim_ = host.dim() == 2 ? host.size(1) : 0;
  data_.assign(host.data_ptr<float>(), host.data_ptr<float>() + host.numel());
  row_.reserve(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) row_.emplace(ids[i], static_cast<int64_t>(i));
}

std::optional<float> ItemVectors::Cosine(const float* query, hm::ArticleId article) const {
  const auto it = row_.find(article);
  if (it == row_.end()) return std::nullopt;
  const float* v = data_.data() + it->second * dim_;
  float dot = 0;
  for (int64_t d = 0; d < dim_; ++d) dot += query[d] * v[d];
  return dot;
}

void GatherCandidates(const CustomerContext& customer, const ArticleContext& articles,
                      const ItemVectors& items, const CandidateOptions& options,
                      std::vector<Candidate>* out) {
  // Candidates are a few hundred: a flat set of what was added is enough.
  std::unordered_set<hm::ArticleId> added;
  const int32_t as_of = articles.as_of.days_since_epoch();
  const std::span<const PastPurchase> purchases = customer.purchases;
  // Place of each past purchase, most recent 0.
  std::unordered_map<hm::ArticleId, size_t> place;
  place.reserve(purchases.size());
  for (size_t i = 0; i < purchases.size(); ++i) {
    place.emplace(purchases[i].article, purchases.size() - 1 - i);
  }
  const float customer_articles = std::log1p(static_cast<float>(purchases.size()));
  const float customer_recency =
      purchases.empty() ? 0.0f
                        : std::exp(-static_cast<float>(as_of - purchases.back().last_day) / 14.0f);

  const auto add = [&](hm::ArticleId article, std::optional<float> cosine, bool from_towers) {
    if (!added.insert(article).second) return;
    if (!cosine) cosine = items.Cosine(customer.query, article);
    if (!cosine) return;
    Candidate& c = out->emplace_back();
    c.article = article;
    std::array<float, kFeatureCount>& f = c.features;
    f[kCosine] = *cosine;
    if (const auto p = place.find(article); p != place.end()) {
      const PastPurchase& past = purchases[purchases.size() - 1 - p->second];
      const float days = static_cast<float>(as_of - past.last_day);
      f[kBought] = 1;
      f[kTimesBought] = std::log1p(static_cast<float>(past.times));
      f[kBoughtLastWeek] = std::exp(-days / 7.0f);
      f[kBoughtLastMonth] = std::exp(-days / 30.0f);
      f[kRecencyRank] = 1.0f / (1.0f + static_cast<float>(p->second));
    }
    const ArticleActivity& a = articles.Of(article);
    f[kSalesLastWeek] = std::log1p(static_cast<float>(a.last_week));
    f[kSalesLastDay] = std::log1p(static_cast<float>(a.last_day));
    if (a.sold) {
      f[kSoldBefore] = 1;
      f[kNewness] = std::exp(-static_cast<float>(as_of - a.first_day) / 14.0f);
    }
    f[kFromTowers] = from_towers ? 1.0f : 0.0f;
    f[kCustomerArticles] = customer_articles;
    f[kCustomerRecency] = customer_recency;
  };
  const auto towers = customer.tower_nearest.subspan(
      0, std::min<size_t>(customer.tower_nearest.size(), static_cast<size_t>(options.from_towers)));
  // The towers' candidates go first: an article they found keeps its from_towers flag whatever
  // else also proposes it (later duplicates are skipped).
  for (const RankedArticle& r : towers) add(r.article_id, r.cosine, true);
  // Most recent first, so the cap keeps the latest.
  int64_t taken = 0;
  for (auto p = purchases.rbegin(); p != purchases.rend() && taken < options.from_purchases;
       ++p, ++taken) {
    add(p->article, std::nullopt, false);
  }
  taken = 0;
  for (hm::ArticleId article : articles.trending) {
    if (taken++ >= options.from_trending) break;
    add(article, std::nullopt, false);
  }
}

Result<std::vector<std::vector<RankedArticle>>> ExactTowerNearest(
    const torch::Tensor& queries, const torch::Tensor& items, std::span<const hm::ArticleId> ids,
    int64_t k) {
  std::vector<std::vector<RankedArticle>> out;
  k = std::min<int64_t>(k, static_cast<int64_t>(ids.size()));
  if (k <= 0) {
    out.resize(static_cast<size_t>(queries.size(0)));
    return out;
  }
  torch::Tensor values, index;
  try {
    torch::NoGradGuard no_grad;
    const torch::Tensor scores = model::MatMul(queries, items, false, /*transpose_b=*/true);
    auto [v, i] = scores.topk(k, /*dim=*/1);
    values = v.to(torch::kCPU, torch::kFloat32).contiguous();
    index = i.to(torch::kCPU).contiguous();
  } catch (const std::exception& e) {
    return Status::Internal(std::string("ranking: the towers' search failed: ") + e.what());
  }
  const float* v = values.data_ptr<float>();
  const int64_t* i = index.data_ptr<int64_t>();
  out.resize(static_cast<size_t>(values.size(0)));
  for (size_t q = 0; q < out.size(); ++q) {
    out[q].reserve(static_cast<size_t>(k));
    for (int64_t r = 0; r < k; ++r) {
      const int64_t at = static_cast<int64_t>(q) * k + r;
      out[q].push_back({ids[static_cast<size_t>(i[at])], v[at], v[at]});
    }
  }
  return out;
}

Ranker Ranker::TowerOnly(const CandidateOptions& candidates) {
  Ranker r;
  r.candidates_ = candidates;
  r.candidates_.from_purchases = 0;
  r.candidates_.from_trending = 0;
  return r;
}

float Ranker::Score(const std::array<float, kFeatureCount>& features) const {
  if (!fitted_) return features[kCosine];
  std::array<float, kFeatureCount> x;
  for (int i = 0; i < kFeatureCount; ++i) x[i] = (features[i] - mean_[i]) * scale_[i];
  float score = bias_;
  for (int i = 0; i < kFeatureCount; ++i) score += linear_[i] * x[i];
  for (int h = 0; h < hidden_; ++h) {
    const float* w = w1_.data() + static_cast<size_t>(h) * kFeatureCount;
    float z = b1_[h];
    for (int i = 0; i < kFeatureCount; ++i) z += w[i] * x[i];
    if (z > 0) score += w2_[h] * z;
  }
  return score;
}

std::vector<RankedArticle> Ranker::Rank(std::span<const Candidate> candidates, int64_t k) const {
  std::vector<RankedArticle> ranked;
  ranked.reserve(candidates.size());
  for (const Candidate& c : candidates) {
    ranked.push_back({c.article, Score(c.features), c.features[kCosine]});
  }
  const auto better = [](const RankedArticle& a, const RankedArticle& b) {
    return a.score != b.score ? a.score > b.score : a.article_id < b.article_id;
  };
  const size_t n = std::min(ranked.size(), static_cast<size_t>(std::max<int64_t>(k, 0)));
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end(),
                    better);
  ranked.resize(n);
  return ranked;
}

std::string Ranker::Describe() const {
  if (!fitted_) return "towers only (no fitted ranker in the snapshot)";
  std::string out = "towers re-ranked with repeats and trends";
  // The fit summary is whatever ranker.json held: only the expected types are shown.
  const auto week = fit_summary_.find("week_start");
  const auto customers = fit_summary_.find("customers");
  if (week != fit_summary_.end() && week->is_string() && customers != fit_summary_.end() &&
      customers->is_number_integer()) {
    out += ", fitted on the week from " + week->get<std::string>() + " (" +
           FormatCount(customers->get<int64_t>()) + " customers)";
  }
  return out;
}

nlohmann::json Ranker::ToJson() const {
  nlohmann::json j = {
      {"format_version", kFormatVersion},
      {"fitted", fitted_},
      {"candidates",
       {{"from_towers", candidates_.from_towers},
        {"from_purchases", candidates_.from_purchases},
        {"from_trending", candidates_.from_trending}}},
      {"features", std::vector<std::string>(kFeatureNames.begin(), kFeatureNames.end())},
      {"fit", fit_summary_},
  };
  if (fitted_) {
    j["network"] = {{"hidden", hidden_}, {"mean", mean_}, {"scale", scale_},   {"w1", w1_},
                    {"b1", b1_},         {"w2", w2_},     {"linear", linear_}, {"bias", bias_}};
  }
  return j;
}

Result<Ranker> Ranker::FromJson(const nlohmann::json& j, const std::string& source) {
  try {
    if (!j.is_object()) return Corrupt(source, "not a JSON object");
    if (j.value("format_version", nlohmann::json()) != kFormatVersion) {
      return Corrupt(source, "format_version " +
                                 j.value("format_version", nlohmann::json()).dump() +
                                 ", expected " + std::to_string(kFormatVersion));
    }
    const auto& names = j.at("features");
    if (names !=
        nlohmann::json(std::vector<std::string>(kFeatureNames.begin(), kFeatureNames.end()))) {
      return Corrupt(source, "features " + names.dump() + " differ from this build's " +
                                 nlohmann::json(std::vector<std::string>(kFeatureNames.begin(),
                                                                         kFeatureNames.end()))
                                     .dump());
    }
    Ranker r;
    const auto& c = j.at("candidates");
    TS_ASSIGN_OR_RETURN(r.candidates_.from_towers, IntegerField(c, "from_towers", source));
    TS_ASSIGN_OR_RETURN(r.candidates_.from_purchases, IntegerField(c, "from_purchases", source));
    TS_ASSIGN_OR_RETURN(r.candidates_.from_trending, IntegerField(c, "from_trending", source));
    if (Status s = r.candidates_.Validate(); !s.ok()) return Corrupt(source, s.message());
    r.fit_summary_ = j.value("fit", nlohmann::json::object());
    r.fitted_ = j.at("fitted").get<bool>();
    if (!r.fitted_) return r;
    const auto& n = j.at("network");
    TS_ASSIGN_OR_RETURN(const int64_t hidden, IntegerField(n, "hidden", source));
    if (hidden < 0 || hidden > std::numeric_limits<int>::max()) {
      return Corrupt(source, "network weights of the wrong size");
    }
    r.hidden_ = static_cast<int>(hidden);
    r.mean_ = n.at("mean").get<std::vector<float>>();
    r.scale_ = n.at("scale").get<std::vector<float>>();
    r.w1_ = n.at("w1").get<std::vector<float>>();
    r.b1_ = n.at("b1").get<std::vector<float>>();
    r.w2_ = n.at("w2").get<std::vector<float>>();
    r.linear_ = n.at("linear").get<std::vector<float>>();
    r.bias_ = n.at("bias").get<float>();
    const size_t h = static_cast<size_t>(std::max(r.hidden_, 0));
    if (r.hidden_ < 0 || r.mean_.size() != kFeatureCount || r.scale_.size() != kFeatureCount ||
        r.linear_.size() != kFeatureCount || r.w1_.size() != h * kFeatureCount ||
        r.b1_.size() != h || r.w2_.size() != h) {
      return Corrupt(source, "network weights of the wrong size");
    }
    // A number beyond float's range (1e300) reads as infinity: every score would be too.
    const auto finite = [](const std::vector<float>& v) {
      return std::all_of(v.begin(), v.end(), [](float x) { return std::isfinite(x); });
    };
    if (!finite(r.mean_) || !finite(r.scale_) || !finite(r.w1_) || !finite(r.b1_) ||
        !finite(r.w2_) || !finite(r.linear_) || !std::isfinite(r.bias_)) {
      return Corrupt(source, "network weights that are not finite floats");
    }
    return r;
  } catch (const nlohmann::json::exception& e) {
    return Corrupt(source, std::string("bad ranker: ") + e.what());
  }
}

Status Ranker::Save(const std::filesystem::path& dir) const {
  const std::filesystem::path path = dir / kRankerFile;
  std::ofstream out(path, std::ios::trunc);
  out << ToJson().dump(1) << '\n';
  out.close();
  if (!out) return Status::IoError("cannot write " + path.string());
  return Status::Ok();
}

Result<std::optional<Ranker>> Ranker::Load(const std::filesystem::path& dir) {
  const std::filesystem::path path = dir / kRankerFile;
  std::error_code error;
  if (!std::filesystem::exists(path, error)) return std::optional<Ranker>();
  std::ifstream in(path);
  if (!in) return Status::IoError("cannot read " + path.string());
  std::stringstream text;
  text << in.rdbuf();
  nlohmann::json j = nlohmann::json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Corrupt(path.string(), "not valid JSON");
  TS_ASSIGN_OR_RETURN(Ranker r, FromJson(j, path.string()));
  return std::optional<Ranker>(std::move(r));
}

Result<Ranker> FitRanker(std::span<const FitGroup> groups, const CandidateOptions& candidates,
                         const RankerFitOptions& options, nlohmann::json summary) {
  TS_RETURN_IF_ERROR(candidates.Validate());
  TS_RETURN_IF_ERROR(options.Validate());
  // Customers with a bought candidate, a seeded sample of them beyond max_customers.
  std::vector<size_t> useful;
  for (size_t g = 0; g < groups.size(); ++g) {
    const FitGroup& group = groups[g];
    if (std::any_of(group.bought.begin(), group.bought.end(), [](uint8_t b) { return b != 0; })) {
      useful.push_back(g);
    }
  }
  if (useful.empty()) {
    return Status::InvalidArgument(
        "ranker fit: no validation customer bought any of their candidates");
  }
  std::mt19937_64 rng(options.seed);
  std::shuffle(useful.begin(), useful.end(), rng);
  if (static_cast<int64_t>(useful.size()) > options.max_customers) {
    useful.resize(static_cast<size_t>(options.max_customers));
  }
  size_t width = 0;
  for (size_t g : useful) width = std::max(width, groups[g].candidates.size());
  const int64_t n = static_cast<int64_t>(useful.size());
  const int64_t w = static_cast<int64_t>(width);

  // [customers, candidates, features], padding masked out.
  torch::Tensor x = torch::zeros({n, w, kFeatureCount});
  torch::Tensor y = torch::zeros({n, w});
  torch::Tensor mask = torch::zeros({n, w}, torch::kBool);
  {
    float* xp = x.data_ptr<float>();
    float* yp = y.data_ptr<float>();
    bool* mp = mask.data_ptr<bool>();
    for (int64_t i = 0; i < n; ++i) {
      const FitGroup& group = groups[useful[static_cast<size_t>(i)]];
      for (size_t c = 0; c < group.candidates.size(); ++c) {
        const int64_t at = i * w + static_cast<int64_t>(c);
        std::copy(group.candidates[c].features.begin(), group.candidates[c].features.end(),
                  xp + at * kFeatureCount);
        yp[at] = group.bought[c] ? 1.0f : 0.0f;
        mp[at] = true;
      }
    }
  }
  Ranker r;
  r.fitted_ = true;
  r.candidates_ = candidates;
  r.hidden_ = options.hidden;
  torch::Tensor rows = x.index({mask});
  const torch::Tensor mean = rows.mean(0);
  const torch::Tensor scale = 1.0 / rows.std(0).clamp_min(1e-3);
  rows = torch::Tensor();
  x = (x - mean) * scale * mask.unsqueeze(2);

  auto gen = torch::make_generator<at::CPUGeneratorImpl>(options.seed);
  const int64_t h = options.hidden;
  torch::Tensor w1 = (torch::randn({std::max<int64_t>(h, 1), kFeatureCount}, gen) *
                      (1.0 / std::sqrt(static_cast<double>(kFeatureCount))))
                         .slice(0, 0, h)
                         .clone()
                         .requires_grad_(true);
  torch::Tensor b1 = torch::zeros({h}).requires_grad_(true);
  torch::Tensor w2 = torch::zeros({h}).requires_grad_(true);
  torch::Tensor linear = torch::zeros({kFeatureCount});
  linear[kCosine] = 1.0f;  // start from the towers' order
  linear.requires_grad_(true);
  torch::optim::Adam adam({w1, b1, w2, linear}, torch::optim::AdamOptions(options.learning_rate));
  const auto forward = [&](const torch::Tensor& xb) {
    torch::Tensor s = torch::matmul(xb, linear);
    if (h > 0) s = s + torch::matmul(torch::relu(torch::matmul(xb, w1.t()) + b1), w2);
    return s;  // no bias: a softmax over one customer's candidates ignores it
  };
  const auto loss_of = [&](const torch::Tensor& idx) {
    const torch::Tensor xb = x.index_select(0, idx);
    const torch::Tensor yb = y.index_select(0, idx);
    const torch::Tensor mb = mask.index_select(0, idx);
    const torch::Tensor logp = torch::log_softmax(forward(xb).masked_fill(~mb, -1e9), 1);
    // Each bought candidate against all of its customer's, customers weighted equally.
    return -((logp * yb).sum(1) / yb.sum(1)).mean();
  };
  double last_loss = 0;
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double total = 0;
    int64_t steps = 0;
    for (int64_t begin = 0; begin < n; begin += options.customers_per_step) {
      const int64_t end = std::min(n, begin + options.customers_per_step);
      const torch::Tensor idx =
          torch::from_blob(order.data() + begin, {end - begin}, torch::kInt64).clone();
      adam.zero_grad();
      torch::Tensor loss = loss_of(idx);
      loss.backward();
      adam.step();
      total += loss.item<double>();
      ++steps;
    }
    last_loss = total / static_cast<double>(std::max<int64_t>(steps, 1));
  }
  const auto to_vector = [](const torch::Tensor& t) {
    const torch::Tensor c = t.detach().to(torch::kFloat32).contiguous();
    return std::vector<float>(c.data_ptr<float>(), c.data_ptr<float>() + c.numel());
  };
  r.mean_ = to_vector(mean);
  r.scale_ = to_vector(scale);
  r.w1_ = to_vector(w1);
  r.b1_ = to_vector(b1);
  r.w2_ = to_vector(w2);
  r.linear_ = to_vector(linear);
  r.bias_ = 0;
  summary["customers"] = n;
  summary["candidates_per_customer"] = w;
  summary["loss"] = last_loss;
  summary["epochs"] = options.epochs;
  summary["hidden"] = options.hidden;
  r.fit_summary_ = std::move(summary);
  return r;
}

}  // namespace towerstream::ranking
