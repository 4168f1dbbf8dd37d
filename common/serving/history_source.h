// Where the queries of `serve` and `recommend` come from: customer histories read once from the
// H&M files (FixedHistories), or histories that follow the stream (serving::LiveHistories, which
// consumes the pipeline's topics). The server reads them through this interface, so that it
// neither knows nor cares whether they change under it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "common/base/date.h"
#include "common/serving/customer_histories.h"

namespace towerstream::serving {

// How current the histories are, for /status, /metrics and every answer.
struct HistoryFreshness {
  std::string source;  // "csv" or "kafka"
  Date as_of;          // the day queries are dated: purchases before it are in the histories
  // Event time of the newest purchase held; unset while there is none.
  std::optional<Date> newest_purchase;
  // When the histories last changed (for files: when they were loaded).
  std::chrono::system_clock::time_point changed;
  int64_t transactions = 0;  // purchases applied (a live source's, since it started)
  int64_t bad_events = 0;    // events of the topics that did not decode and were skipped
  // Messages of the topics not applied yet (unset when unknown, as for files).
  std::optional<int64_t> lag;
  // Whether everything that was in the topics when the source started has been applied.
  bool caught_up = true;
  int64_t customers = 0;               // with features (customers.csv or hm.customers)
  int64_t customers_with_history = 0;  // with a purchase
};

class HistorySource {
 public:
  virtual ~HistorySource() = default;

  // Calls `read` with the histories, which do not change while it runs: a live source's
  // updates wait for it, so keep it short (one query).
  virtual void Read(const std::function<void(const CustomerHistories&)>& read) const = 0;
  // Takes no lock the histories' updates hold: cheap enough for the HTTP server's io thread.
  virtual HistoryFreshness Freshness() const = 0;
};

// Histories that never change once loaded (from the CSV files): reads take no lock.
class FixedHistories final : public HistorySource {
 public:
  explicit FixedHistories(CustomerHistories histories)
      : histories_(std::move(histories)), loaded_(std::chrono::system_clock::now()) {}

  void Read(const std::function<void(const CustomerHistories&)>& read) const override {
    read(histories_);
  }
  HistoryFreshness Freshness() const override {
    HistoryFreshness f;
    f.source = "csv";
    f.as_of = histories_.as_of();
    f.newest_purchase = histories_.newest_purchase();
    f.changed = loaded_;
    f.customers = histories_.customers();
    f.customers_with_history = histories_.customers_with_history();
    return f;
  }

 private:
  const CustomerHistories histories_;
  const std::chrono::system_clock::time_point loaded_;
};

// Builds a server's history source once the first snapshot says how many purchases a query
// holds.
using HistorySourceFactory =
    std::function<Result<std::shared_ptr<HistorySource>>(size_t history_length)>;

}  // namespace towerstream::serving
