#include "common/serving/customer_histories.h"

#include "common/hm/hm_reader.h"
#include "common/replay/data_files.h"

namespace towerstream::serving {
namespace {

// The channel of most purchases, assumed for a customer with no history.
constexpr int32_t kOnline = 2;

}  // namespace

Status CustomerHistoryOptions::Validate() const {
  if (data_dir.empty()) return Status::InvalidArgument("--data is required");
  return Status::Ok();
}

Result<CustomerHistories> CustomerHistories::Load(
    const CustomerHistoryOptions& options,
    const std::function<void(const hm::Transaction&)>& on_transaction) {
  TS_RETURN_IF_ERROR(options.Validate());
  TS_ASSIGN_OR_RETURN(const replay::DataFiles files, replay::FindDataFiles(options.data_dir));
  if (files.transactions.empty()) {
    return files.Missing("histories", "transactions", options.data_dir);
  }
  CustomerHistories out;
  out.log_ = ranking::PurchaseLog(options.purchase_log);
  if (!files.articles.empty()) {
    TS_ASSIGN_OR_RETURN(auto reader, hm::ArticleReader::Open(files.articles));
    hm::Article a;
    while (true) {
      TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&a));
      if (!more) break;
      out.articles_[a.article_id] = {a.prod_name, a.product_type_name, a.colour_group_name};
    }
  }
  if (!files.customers.empty()) {
    TS_ASSIGN_OR_RETURN(auto reader, hm::CustomerReader::Open(files.customers));
    hm::Customer c;
    while (true) {
      TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&c));
      if (!more) break;
      out.customers_[model::CustomerKey(c.customer_id)] = model::CustomerCodesOf(c);
    }
  }
  TS_ASSIGN_OR_RETURN(auto reader, hm::TransactionReader::Open(files.transactions));
  hm::Transaction t;
  std::optional<Date> last;
  out.history_length_ = options.history_length;
  while (true) {
    TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&t));
    if (!more) break;
    if (on_transaction) on_transaction(t);
    if (!last || *last < t.t_dat) last = t.t_dat;
    if (options.as_of && !(t.t_dat < *options.as_of)) continue;
    out.Record(model::CustomerKey(t.customer_id), t);
  }
  if (options.as_of) {
    out.as_of_ = *options.as_of;
  } else if (last) {
    out.as_of_ = *last + 1;
  }
  out.articles_as_of_ = out.log_.AsOf(out.as_of_);
  return out;
}

void CustomerHistories::Record(int64_t customer_key, const hm::Transaction& t) {
  log_.Add(customer_key, t.article_id, t.t_dat);
  if (!newest_purchase_ || *newest_purchase_ < t.t_dat) newest_purchase_ = t.t_dat;
  Past& past = past_[customer_key];
  if (history_length_ == 0) return;
  if (past.recent.size() == history_length_) past.recent.erase(past.recent.begin());
  past.recent.push_back(t.article_id);
  past.last_channel = t.sales_channel_id;
}

CustomerHistories CustomerHistories::Empty(size_t history_length, Date as_of,
                                           const ranking::PurchaseLogOptions& purchase_log) {
  CustomerHistories out;
  out.history_length_ = history_length;
  out.log_ = ranking::PurchaseLog(purchase_log);
  out.as_of_ = as_of;
  out.articles_as_of_ = out.log_.AsOf(as_of);
  return out;
}

void CustomerHistories::Add(const hm::Transaction& t) {
  Record(model::CustomerKey(t.customer_id), t);
}

void CustomerHistories::SetCustomer(const hm::Customer& customer) {
  customers_[model::CustomerKey(customer.customer_id)] = model::CustomerCodesOf(customer);
}

void CustomerHistories::SetArticle(const hm::Article& a) {
  articles_[a.article_id] = {a.prod_name, a.product_type_name, a.colour_group_name};
}

void CustomerHistories::AdvanceTo(Date day) {
  as_of_ = day;
  articles_as_of_ = log_.AsOf(day);
}

model::Example CustomerHistories::QueryFor(int64_t customer_key) const {
  model::Example q;
  q.customer_key = customer_key;
  q.day = as_of_.days_since_epoch();
  if (const auto c = customers_.find(customer_key); c != customers_.end()) q.customer = c->second;
  if (const auto p = past_.find(customer_key); p != past_.end()) {
    q.recent_article_ids = p->second.recent;
    q.sales_channel = p->second.last_channel;
  } else {
    q.sales_channel = kOnline;
  }
  return q;
}

bool CustomerHistories::Knows(int64_t customer_key) const {
  return customers_.contains(customer_key) || past_.contains(customer_key);
}

const std::vector<hm::ArticleId>& CustomerHistories::RecentPurchases(int64_t customer_key) const {
  static const std::vector<hm::ArticleId> kNone;
  const auto p = past_.find(customer_key);
  return p != past_.end() ? p->second.recent : kNone;
}

const ArticleDescription* CustomerHistories::Describe(hm::ArticleId article) const {
  const auto a = articles_.find(article);
  return a != articles_.end() ? &a->second : nullptr;
}

}  // namespace towerstream::serving
