// The simple baselines `towerstream evaluate` prints beside the model.
//
// BestSellers: the articles most bought in a window, most bought first (ties by article id).
// Repurchases: "buy again, then trending", the strong simple baseline of fashion retail: a
// customer's own earlier purchases, most recent first, then the best sellers they have not
// bought. Both are fed purchases in time order and answer ranked lists; value types,
// thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/hm/records.h"

namespace towerstream::evaluation {

class BestSellers {
 public:
  void Add(hm::ArticleId article) { ++counts_[article]; }
  // The `k` most bought, most bought first; ties by article id (reproducible).
  std::vector<hm::ArticleId> Top(size_t k) const;

 private:
  std::unordered_map<hm::ArticleId, int64_t> counts_;
};

class Repurchases {
 public:
  // Keeps the `max_per_customer` most recently bought distinct articles of each customer
  // (more than a ranking uses is never needed).
  explicit Repurchases(size_t max_per_customer = 100) : max_(max_per_customer) {}

  // One purchase; purchases must come in time order (within a day, file order counts as time).
  void Add(int64_t customer, hm::ArticleId article);

  // Whether the customer bought anything before.
  bool Known(int64_t customer) const { return bought_.contains(customer); }

  // The ranking of up to `k` distinct articles: the customer's earlier purchases, most recently
  // bought first (a repeat counts at its latest purchase), then `trending` in its order
  // without the articles already listed.
  std::vector<hm::ArticleId> Recommend(int64_t customer, std::span<const hm::ArticleId> trending,
                                       size_t k) const;

 private:
  size_t max_;
  // Per customer, distinct articles, least recently bought first.
  std::unordered_map<int64_t, std::vector<hm::ArticleId>> bought_;
};

}  // namespace towerstream::evaluation
