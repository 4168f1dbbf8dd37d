// BestSellers and Repurchases.
#include "common/evaluation/baselines.h"

#include <algorithm>
#include <utility>

namespace towerstream::evaluation {

std::vector<hm::ArticleId> BestSellers::Top(size_t k) const {
  std::vector<std::pair<int64_t, hm::ArticleId>> ranked;
  ranked.reserve(counts_.size());
  for (const auto& [article, count] : counts_) ranked.emplace_back(-count, article);
  const size_t n = std::min(k, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end());
  std::vector<hm::ArticleId> top;
  top.reserve(n);
  for (size_t i = 0; i < n; ++i) top.push_back(ranked[i].second);
  return top;
}

void Repurchases::Add(int64_t customer, hm::ArticleId article) {
  std::vector<hm::ArticleId>& articles = bought_[customer];
  // A repeat moves to the most recent end; the oldest falls off past the cap.
  const auto it = std::find(articles.begin(), articles.end(), article);
  if (it != articles.end()) articles.erase(it);
  articles.push_back(article);
  if (articles.size() > max_) articles.erase(articles.begin());
}

std::vector<hm::ArticleId> Repurchases::Recommend(int64_t customer,
                                                  std::span<const hm::ArticleId> trending,
                                                  size_t k) const {
  std::vector<hm::ArticleId> ranked;
  ranked.reserve(k);
  if (const auto it = bought_.find(customer); it != bought_.end()) {
    for (auto a = it->second.rbegin(); a != it->second.rend() && ranked.size() < k; ++a) {
      ranked.push_back(*a);
    }
  }
  const size_t own = ranked.size();
  for (hm::ArticleId article : trending) {
    if (ranked.size() >= k) break;
    // Own purchases are few (at most the cap): a linear look is cheaper than a set.
    if (std::find(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(own), article) ==
        ranked.begin() + static_cast<std::ptrdiff_t>(own)) {
      ranked.push_back(article);
    }
  }
  return ranked;
}

}  // namespace towerstream::evaluation
