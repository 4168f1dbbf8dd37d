// What the ranker knows of the past beyond the towers: each customer's distinct earlier
// purchases (when last bought, how often) and each article's sales (when first sold, how many
// in the last days). Fed purchases in time order; AsOf() freezes the article side for one day.
//
// PurchaseLog is a value type, thread-compatible: many threads may read it once no one adds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/base/date.h"
#include "common/hm/records.h"

namespace towerstream::ranking {

struct PastPurchase {
  hm::ArticleId article = 0;
  int32_t last_day = 0;  // days since 1970-01-01 of the latest purchase
  int32_t times = 0;     // purchases of the article by this customer (rows of the file)
};

// An article's sales as of a day (that day excluded).
struct ArticleActivity {
  int32_t last_week = 0;  // sales in the 7 days before
  int32_t last_day = 0;   // sales on the day before
  int32_t first_day = 0;  // first sale (days since 1970-01-01); valid when sold
  bool sold = false;      // sold at least once before
};

// The article side of a PurchaseLog at one day: activity per article and the week's best
// sellers. Immutable; thread-safe to read.
struct ArticleContext {
  Date as_of;
  std::unordered_map<hm::ArticleId, ArticleActivity> activity;
  std::vector<hm::ArticleId> trending;  // most sold in the last 7 days first, ties by id

  const ArticleActivity& Of(hm::ArticleId article) const;
};

struct PurchaseLogOptions {
  // Distinct articles kept per customer, the most recently bought. Repeats beyond the 50th
  // most recent distinct article are rare enough that more memory buys nothing (about 16 bytes
  // each: 0.5 GB at Kaggle's size for 50).
  size_t per_customer = 50;
  // Best sellers kept in ArticleContext::trending.
  size_t trending = 100;
};

class PurchaseLog {
 public:
  explicit PurchaseLog(const PurchaseLogOptions& options = {}) : options_(options) {}

  // One purchase. Each customer's purchases must come in time order (within a day, file order
  // is time order); different customers' may interleave out of day order, as the partitions of
  // a topic deliver them.
  void Add(int64_t customer, hm::ArticleId article, Date day);

  // The customer's distinct purchases, least recently bought first; empty for strangers.
  std::span<const PastPurchase> Purchases(int64_t customer) const;
  bool Knows(int64_t customer) const { return customers_.contains(customer); }
  int64_t customers() const { return static_cast<int64_t>(customers_.size()); }

  // Article activity and trending as of `day` (sales before it). `day` must not be before the
  // last day added minus 7 (older per-day counts are dropped).
  ArticleContext AsOf(Date day) const;

 private:
  PurchaseLogOptions options_;
  std::unordered_map<int64_t, std::vector<PastPurchase>> customers_;
  std::unordered_map<hm::ArticleId, int32_t> first_day_;
  // Sales per article of the last few days: day -> article -> count.
  std::map<int32_t, std::unordered_map<hm::ArticleId, int32_t>> daily_;
};

}  // namespace towerstream::ranking
