// The scorer that `evaluate`, `recommend` and `serve` rank with: it re-ranks a union of
// candidates (the towers' nearest articles, the customer's own earlier purchases and the
// week's best sellers) with a small network over features the towers do not see (how often and
// how lately the customer bought the article, its recent sales and age) beside the towers'
// cosine.
//
// The network is fitted, not tuned by hand, on a validation week the towers have not trained
// on (`towerstream train` does it when its run crosses that week): where customers re-buy, the
// repeat features earn weight; where they never do, they earn none and the towers' candidates
// rank first. A snapshot without a fitted ranker ranks by the towers alone (TowerOnly).
// Ranker is an immutable value once built: thread-safe to share.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "common/base/status.h"
#include "common/hm/records.h"
#include "common/ranking/purchase_log.h"

namespace towerstream::ranking {

// Features of one (customer, article) candidate, in this order (ranker.json names them).
inline constexpr int kFeatureCount = 13;
std::span<const std::string_view> FeatureNames();

// The ranker's file inside a snapshot directory.
inline constexpr std::string_view kRankerFile = "ranker.json";

struct CandidateOptions {
  // The towers' nearest articles (cosine), the customer's most recently bought distinct
  // articles, and the best sellers of the last 7 days. Chosen on the validation week
  // (docs/design.md, "Ranking").
  int64_t from_towers = 100;
  int64_t from_purchases = 50;
  int64_t from_trending = 50;

  Status Validate() const;
  bool operator==(const CandidateOptions&) const = default;
};

struct Candidate {
  hm::ArticleId article = 0;
  std::array<float, kFeatureCount> features{};
};

struct RankedArticle {
  hm::ArticleId article_id = 0;
  float score = 0;   // the ranker's score (the cosine for a tower-only ranker)
  float cosine = 0;  // the towers' cosine similarity with the query
};

// The catalogue's item vectors by article id, for the cosine of candidates that did not come
// from the towers' search. Immutable; thread-safe.
class ItemVectors {
 public:
  ItemVectors() = default;
  // `vectors` is [ids.size(), dim], L2-normalised, any device/dtype (copied to host float32).
  ItemVectors(std::span<const hm::ArticleId> ids, const torch::Tensor& vectors);
  // The cosine of `query` (dim floats, L2-normalised) with the article; nullopt when the
  // article is not in the catalogue.
  std::optional<float> Cosine(const float* query, hm::ArticleId article) const;
  int64_t dim() const { return dim_; }

 private:
  std::unordered_map<hm::ArticleId, int64_t> row_;
  std::vector<float> data_;
  int64_t dim_ = 0;
};

// One customer's query and its context: everything a candidate's features need.
struct CustomerContext {
  const float* query = nullptr;                  // the query tower's vector (dim floats)
  std::span<const PastPurchase> purchases;       // least recently bought first
  std::span<const RankedArticle> tower_nearest;  // the towers' top articles, best first
};

// The union of candidates for one customer, each once, with its features (appended to `out`).
// Articles outside the catalogue are skipped: they cannot be served.
void GatherCandidates(const CustomerContext& customer, const ArticleContext& articles,
                      const ItemVectors& items, const CandidateOptions& options,
                      std::vector<Candidate>* out);

// The towers' `k` nearest articles of each query by exact search (one matrix product with the
// catalogue): `queries` [n, dim] and `items` [ids.size(), dim] on the same device. `evaluate`
// and the ranker's fit use it; `serve` finds the same articles through its ItemIndex.
Result<std::vector<std::vector<RankedArticle>>> ExactTowerNearest(
    const torch::Tensor& queries, const torch::Tensor& items, std::span<const hm::ArticleId> ids,
    int64_t k);

// How FitRanker learns.
struct RankerFitOptions {
  // Hidden units of the network (one ReLU layer beside a linear term).
  int hidden = 16;
  // Passes over the validation customers, and customers per Adam step.
  int epochs = 12;
  int64_t customers_per_step = 256;
  double learning_rate = 0.01;
  // Validation customers used at most (a seeded random sample beyond): bounds the fit's memory
  // (customers x candidates x 13 floats) and time.
  int64_t max_customers = 20'000;
  uint64_t seed = 1;

  Status Validate() const;
};

// One validation customer: their candidates and which of them they bought in the week.
struct FitGroup {
  std::vector<Candidate> candidates;
  std::vector<uint8_t> bought;  // parallel to candidates
};

class Ranker {
 public:
  // Ranks by the towers' cosine alone, over the towers' candidates only.
  static Ranker TowerOnly(const CandidateOptions& candidates = {});

  // Scores the candidates and returns the best `k`, best first (ties by article id).
  std::vector<RankedArticle> Rank(std::span<const Candidate> candidates, int64_t k) const;
  float Score(const std::array<float, kFeatureCount>& features) const;

  bool fitted() const { return fitted_; }
  const CandidateOptions& candidates() const { return candidates_; }
  // What the fit saw and reached (validation week, customers, loss); an object.
  const nlohmann::json& fit_summary() const { return fit_summary_; }
  // One line for logs: "fitted on 2020-09-09..2020-09-15 (12,345 customers)" or "towers only".
  std::string Describe() const;

  nlohmann::json ToJson() const;
  // `source` names the file in errors.
  static Result<Ranker> FromJson(const nlohmann::json& json, const std::string& source);
  // Writes kRankerFile into `dir`.
  Status Save(const std::filesystem::path& dir) const;
  // Reads kRankerFile from `dir`; nullopt when there is none (a snapshot ranked by the towers).
  static Result<std::optional<Ranker>> Load(const std::filesystem::path& dir);

  bool operator==(const Ranker&) const = default;

 private:
  friend Result<Ranker> FitRanker(std::span<const FitGroup>, const CandidateOptions&,
                                  const RankerFitOptions&, nlohmann::json);

  bool fitted_ = false;
  CandidateOptions candidates_;
  int hidden_ = 0;
  std::vector<float> mean_, scale_;  // per feature: (x - mean) * scale
  std::vector<float> w1_;            // [hidden, features]
  std::vector<float> b1_;            // [hidden]
  std::vector<float> w2_;            // [hidden]
  std::vector<float> linear_;        // [features]
  float bias_ = 0;
  nlohmann::json fit_summary_ = nlohmann::json::object();
};

// Fits a ranker to the groups by a listwise softmax loss (each bought candidate against all of
// its customer's candidates), which rewards putting bought articles first as MAP does. Groups
// without a bought candidate teach nothing and are skipped; InvalidArgument when none is left.
// `summary` is kept in the ranker's fit_summary (the caller's description of the data).
Result<Ranker> FitRanker(std::span<const FitGroup> groups, const CandidateOptions& candidates,
                         const RankerFitOptions& options, nlohmann::json summary);

}  // namespace towerstream::ranking
