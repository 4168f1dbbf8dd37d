// PurchaseLog: customers' distinct purchases and articles' recent sales.
#include "common/ranking/purchase_log.h"

#include <algorithm>
#include <utility>

namespace towerstream::ranking {
namespace {

// Per-day sales are kept for this many days: a week, and a week of slack for AsOf() a few days
// behind the newest purchase (the online replay asks for the end of the previous day).
constexpr int32_t kDailyDaysKept = 14;

}  // namespace

const ArticleActivity& ArticleContext::Of(hm::ArticleId article) const {
  static const ArticleActivity kNever;
  const auto it = activity.find(article);
  return it != activity.end() ? it->second : kNever;
}

void PurchaseLog::Add(int64_t customer, hm::ArticleId article, Date day) {
  const int32_t d = day.days_since_epoch();
  std::vector<PastPurchase>& bought = customers_[customer];
  // A repeat moves to the most recent end; the least recent falls off past the cap. Lists are
  // short (the cap), so a linear look beats a hash set per customer.
  PastPurchase entry{article, d, 1};
  const auto it = std::find_if(bought.begin(), bought.end(),
                               [article](const PastPurchase& p) { return p.article == article; });
  if (it != bought.end()) {
    entry.times = it->times + 1;
    bought.erase(it);
  }
  bought.push_back(entry);
  if (bought.size() > options_.per_customer) bought.erase(bought.begin());

  // Purchases of different customers may come out of day order (the partitions of a topic
  // read at different rates): the first sale is the earliest seen, not the first added.
  if (const auto [first, added] = first_day_.try_emplace(article, d); !added && d < first->second) {
    first->second = d;
  }
  ++daily_[d][article];
  while (!daily_.empty() && daily_.begin()->first <= d - kDailyDaysKept) {
    daily_.erase(daily_.begin());
  }
}

std::span<const PastPurchase> PurchaseLog::Purchases(int64_t customer) const {
  const auto it = customers_.find(customer);
  if (it == customers_.end()) return {};
  return it->second;
}

ArticleContext PurchaseLog::AsOf(Date day) const {
  ArticleContext out;
  out.as_of = day;
  const int32_t d = day.days_since_epoch();
  out.activity.reserve(first_day_.size());
  for (const auto& [article, first] : first_day_) {
    if (first >= d) continue;
    ArticleActivity& a = out.activity[article];
    a.sold = true;
    a.first_day = first;
  }
  for (const auto& [sale_day, counts] : daily_) {
    if (sale_day >= d || sale_day < d - 7) continue;
    for (const auto& [article, count] : counts) {
      ArticleActivity& a = out.activity[article];
      a.last_week += count;
      if (sale_day == d - 1) a.last_day += count;
    }
  }
  std::vector<std::pair<int32_t, hm::ArticleId>> ranked;
  for (const auto& [article, a] : out.activity) {
    if (a.last_week > 0) ranked.emplace_back(-a.last_week, article);
  }
  const size_t n = std::min(options_.trending, ranked.size());
  std::partial_sort(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(n), ranked.end());
  out.trending.reserve(n);
  for (size_t i = 0; i < n; ++i) out.trending.push_back(ranked[i].second);
  return out;
}

}  // namespace towerstream::ranking
