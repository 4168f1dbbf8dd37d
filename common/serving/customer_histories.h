// What a query needs of a customer, read from the H&M CSV files: their features and their
// latest purchases before a moment, what the ranker knows of the past (each customer's
// distinct purchases, each article's recent sales: ranking::PurchaseLog), plus a short description
// of every article (for printing recommendations). `towerstream recommend`, `serve` and `evaluate`
// build queries from it.
//
// Thread-compatible: immutable once loaded, so safe to share between threads; the online replay
// (`evaluate --online`) moves one forward a day at a time with Add() and AdvanceTo(), unshared,
// and serving::LiveHistories fills one from the stream under its own lock.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/hm/records.h"
#include "common/model/example.h"
#include "common/ranking/purchase_log.h"

namespace towerstream::serving {

struct CustomerHistoryOptions {
  // Folder with articles.csv, customers.csv and transactions (found by their headers); the
  // transactions file is required, the other two are optional (queries then lack features).
  std::filesystem::path data_dir;
  // Purchases before this day form the histories; unset: every purchase of the file (queries
  // are then dated the day after the last one).
  std::optional<Date> as_of;
  // Purchases kept per customer, most recent last (the model's history length).
  size_t history_length = 20;
  // The ranker's view of the past.
  ranking::PurchaseLogOptions purchase_log;

  Status Validate() const;
};

struct ArticleDescription {
  std::string name;    // prod_name
  std::string type;    // product_type_name
  std::string colour;  // colour_group_name
};

class CustomerHistories {
 public:
  // One pass over each file. `on_transaction`, when set, also sees every valid transaction of
  // the file (before and after as_of), in file order: the evaluator collects its test window
  // and popularity baseline in the same pass. Bad rows are skipped, as the readers report them.
  static Result<CustomerHistories> Load(
      const CustomerHistoryOptions& options,
      const std::function<void(const hm::Transaction&)>& on_transaction = {});

  // No customer, article or purchase yet, dated `as_of`: histories that a stream fills
  // (serving::LiveHistories). Each customer keeps `history_length` purchases.
  static CustomerHistories Empty(size_t history_length, Date as_of,
                                 const ranking::PurchaseLogOptions& purchase_log = {});

  // A purchase of as_of() or later, each customer's in time order: later queries see it in the
  // history.
  void Add(const hm::Transaction& t);
  // A customer's features or an article's description, new or replacing the earlier one.
  void SetCustomer(const hm::Customer& customer);
  void SetArticle(const hm::Article& article);
  // Moves as_of() forward to `day` (after Add()ing the purchases before it): the articles'
  // recent sales and best sellers are recomputed for it.
  void AdvanceTo(Date day);
  // Dates later queries `day` without recomputing the articles' sales, which is AdvanceTo's
  // cost: a live source moves the date with each purchase and the sales once in a while.
  void AdvanceDate(Date day) { as_of_ = day; }
  // The articles' sales and best sellers as of `day`, computed without changing anything (a
  // live source computes them outside its lock, then swaps them in with SetArticleContext).
  ranking::ArticleContext ComputeArticleContext(Date day) const { return log_.AsOf(day); }
  void SetArticleContext(ranking::ArticleContext context) { articles_as_of_ = std::move(context); }

  // The query for a customer at as_of(): features (unknown customer: all missing), the latest
  // purchases, and the channel of the latest one (online when there is none).
  model::Example QueryFor(int64_t customer_key) const;
  model::Example QueryFor(std::string_view customer_id) const {
    return QueryFor(model::CustomerKey(customer_id));
  }
  // Whether customers.csv or a purchase before as_of() mentions the customer.
  bool Knows(int64_t customer_key) const;
  // Purchases before as_of(), oldest first (at most history_length); empty for strangers.
  const std::vector<hm::ArticleId>& RecentPurchases(int64_t customer_key) const;
  // The customer's distinct purchases before as_of(), least recently bought first.
  std::span<const ranking::PastPurchase> PastPurchases(int64_t customer_key) const {
    return log_.Purchases(customer_key);
  }
  // Articles' sales and the week's best sellers as of as_of().
  const ranking::ArticleContext& articles_as_of() const { return articles_as_of_; }
  // Null for an article articles.csv does not describe.
  const ArticleDescription* Describe(hm::ArticleId article) const;

  Date as_of() const { return as_of_; }
  // The day of the newest purchase held; unset while there is none.
  std::optional<Date> newest_purchase() const { return newest_purchase_; }
  int64_t customers() const { return static_cast<int64_t>(customers_.size()); }
  int64_t customers_with_history() const { return static_cast<int64_t>(past_.size()); }
  int64_t articles_described() const { return static_cast<int64_t>(articles_.size()); }

 private:
  struct Past {
    std::vector<hm::ArticleId> recent;
    int32_t last_channel = 0;
  };

  // Adds a purchase to the histories and the purchase log.
  void Record(int64_t customer_key, const hm::Transaction& t);

  Date as_of_;
  std::optional<Date> newest_purchase_;
  size_t history_length_ = 20;
  std::unordered_map<int64_t, model::CustomerCodes> customers_;
  std::unordered_map<int64_t, Past> past_;
  std::unordered_map<hm::ArticleId, ArticleDescription> articles_;
  ranking::PurchaseLog log_;
  ranking::ArticleContext articles_as_of_;
};

}  // namespace towerstream::serving
