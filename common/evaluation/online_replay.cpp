// ReplayOnline: score a day, then train on it, for every day of the window.
#include "common/evaluation/online_replay.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <map>
#include <memory>
#include <unordered_map>
#include <vector>

#include "common/base/progress.h"
#include "common/evaluation/baselines.h"
#include "common/evaluation/scoring.h"
#include "common/hm/hm_reader.h"
#include "common/model/example.h"
#include "common/replay/data_files.h"
#include "common/serving/customer_histories.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/model_config.h"

namespace towerstream::evaluation {
namespace {

constexpr int64_t kTopK = 100;

struct Accumulators {
  RankingAccumulator online, frozen, fresh_histories, popularity, repurchase;
};

}  // namespace

Status OnlineReplayOptions::Validate() const {
  if (snapshot.empty()) return Status::InvalidArgument("evaluate --online: --snapshot is required");
  if (data_dir.empty()) return Status::InvalidArgument("evaluate --online: --data is required");
  if (test_days < 1)
    return Status::InvalidArgument("evaluate --online: the window must be >= 1 day");
  if (batch_size < 1) return Status::InvalidArgument("evaluate --online: batch size must be >= 1");
  return Status::Ok();
}

Result<OnlineReport> ReplayOnline(const OnlineReplayOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  const auto started = std::chrono::steady_clock::now();
  // Two copies of the snapshot: one trains through the window, one stays as it was.
  TS_ASSIGN_OR_RETURN(trainer::LoadedSnapshot online,
                      trainer::LoadModelSnapshot(options.snapshot, options.device));
  TS_ASSIGN_OR_RETURN(trainer::LoadedSnapshot frozen,
                      trainer::LoadModelSnapshot(options.snapshot, options.device));
  const ranking::Ranker& ranker = online.ranker;
  OnlineReport report;
  report.snapshot_id = online.manifest.id;

  TS_ASSIGN_OR_RETURN(
      const TestWindow test_window,
      FindTestWindow(options.data_dir, options.test_start, options.test_days, "evaluate --online"));
  const replay::DataFiles& files = test_window.files;
  report.test_start = test_window.start;
  report.test_end = test_window.end;

  // Article codes: every article is a candidate, and a training example carries its codes.
  std::unordered_map<hm::ArticleId, model::ArticleCodes> article_codes;
  TS_RETURN_IF_ERROR(ForEachArticle(files, [&](hm::ArticleId id, const model::ArticleCodes& codes) {
    article_codes[id] = codes;
    online.model->AddArticle(id, codes);
    frozen.model->AddArticle(id, codes);
  }));
  serving::CustomerHistoryOptions history_options;
  history_options.data_dir = options.data_dir;
  history_options.as_of = report.test_start;
  history_options.history_length = static_cast<size_t>(online.model->options().history_length);
  history_options.purchase_log.trending =
      static_cast<size_t>(std::max<int64_t>(kTopK, ranker.candidates().from_trending));
  Repurchases repurchases(static_cast<size_t>(kTopK));
  std::map<Date, std::vector<hm::Transaction>> window;  // in file order per day
  TS_ASSIGN_OR_RETURN(
      serving::CustomerHistories histories,
      serving::CustomerHistories::Load(history_options, [&](const hm::Transaction& t) {
        if (t.t_dat < report.test_start) {
          repurchases.Add(model::CustomerKey(t.customer_id), t.article_id);
        } else if (t.t_dat < report.test_end) {
          window[t.t_dat].push_back(t);
        }
      }));
  if (window.empty()) {
    return Status::InvalidArgument("evaluate --online: no purchase in the window [" +
                                   report.test_start.ToString() + ", " +
                                   report.test_end.ToString() + ") of " + files.transactions);
  }
  // The frozen side keeps the histories of the window's start.
  const serving::CustomerHistories frozen_histories = histories;
  TS_ASSIGN_OR_RETURN(const ScoringCatalogue frozen_catalogue,
                      ScoringCatalogue::Of(*frozen.model, options.device));

  int64_t total_buyers = 0;
  for (const auto& [day, purchases] : window) {
    std::unordered_map<int64_t, bool> buyers;
    for (const hm::Transaction& t : purchases) buyers[model::CustomerKey(t.customer_id)] = true;
    total_buyers += static_cast<int64_t>(buyers.size());
  }
  std::unique_ptr<ProgressBar> bar;
  if (options.progress) {
    ProgressOptions p;
    p.label = "online replay";
    p.unit = "customer-days";
    bar = std::make_unique<ProgressBar>(total_buyers, p);
  }

  Accumulators overall;
  PairedAccumulator online_minus_frozen, fresh_histories_minus_frozen;
  std::vector<model::Example> batch;
  for (Date day = report.test_start; day < report.test_end; day = day + 1) {
    OnlineDay figures;
    figures.day = day;
    figures.trained_before = report.examples_trained;
    const auto found = window.find(day);
    if (found == window.end()) {
      report.days.push_back(figures);
      continue;
    }
    const std::vector<hm::Transaction>& purchases = found->second;
    figures.purchases = static_cast<int64_t>(purchases.size());
    // 1. Score the day's buyers as of its start.
    std::unordered_map<int64_t, std::vector<hm::ArticleId>> bought;
    for (const hm::Transaction& t : purchases) {
      std::vector<hm::ArticleId>& actual = bought[model::CustomerKey(t.customer_id)];
      if (std::find(actual.begin(), actual.end(), t.article_id) == actual.end()) {
        actual.push_back(t.article_id);
      }
    }
    std::vector<int64_t> buyers;
    for (const auto& [key, actual] : bought) buyers.push_back(key);
    std::sort(buyers.begin(), buyers.end());
    histories.AdvanceTo(day);
    TS_ASSIGN_OR_RETURN(const ScoringCatalogue catalogue,
                        ScoringCatalogue::Of(*online.model, options.device));
    TS_ASSIGN_OR_RETURN(const RankedCustomers by_online,
                        RankCustomers(*online.model, ranker, histories, catalogue, buyers, kTopK));
    TS_ASSIGN_OR_RETURN(const RankedCustomers by_frozen,
                        RankCustomers(*frozen.model, frozen.ranker, frozen_histories,
                                      frozen_catalogue, buyers, kTopK));
    TS_ASSIGN_OR_RETURN(
        const RankedCustomers by_fresh_histories,
        RankCustomers(*frozen.model, frozen.ranker, histories, frozen_catalogue, buyers, kTopK));
    const std::vector<hm::ArticleId>& trending = histories.articles_as_of().trending;
    const std::vector<hm::ArticleId> top_popular(
        trending.begin(),
        trending.begin() +
            std::min<std::ptrdiff_t>(kTopK, static_cast<std::ptrdiff_t>(trending.size())));
    Accumulators today;
    for (size_t i = 0; i < buyers.size(); ++i) {
      const std::vector<hm::ArticleId>& actual = bought[buyers[i]];
      const std::vector<hm::ArticleId> again =
          repurchases.Recommend(buyers[i], top_popular, static_cast<size_t>(kTopK));
      for (Accumulators* a : {&today, &overall}) {
        a->online.Add(actual, by_online.ranked[i]);
        a->frozen.Add(actual, by_frozen.ranked[i]);
        a->fresh_histories.Add(actual, by_fresh_histories.ranked[i]);
        a->popularity.Add(actual, top_popular);
        a->repurchase.Add(actual, again);
      }
      online_minus_frozen.Add(actual, by_online.ranked[i], by_frozen.ranked[i]);
      fresh_histories_minus_frozen.Add(actual, by_fresh_histories.ranked[i], by_frozen.ranked[i]);
    }
    const int64_t catalogue_size = static_cast<int64_t>(catalogue.items.ids.size());
    figures.customers = static_cast<int64_t>(buyers.size());
    figures.online = today.online.Finish(catalogue_size);
    figures.frozen = today.frozen.Finish(catalogue_size);
    figures.fresh_histories = today.fresh_histories.Finish(catalogue_size);
    figures.popularity = today.popularity.Finish(catalogue_size);
    figures.repurchase = today.repurchase.Finish(catalogue_size);
    // 2. Then train on the day, in file order, each example with the history before it.
    const auto train = [&]() -> Status {
      if (batch.empty()) return Status::Ok();
      TS_ASSIGN_OR_RETURN(const model::StepStats stats, online.model->Train(batch));
      (void)stats;
      report.examples_trained += static_cast<int64_t>(batch.size());
      batch.clear();
      return Status::Ok();
    };
    for (const hm::Transaction& t : purchases) {
      model::Example& example = batch.emplace_back(histories.QueryFor(t.customer_id));
      example.article_id = t.article_id;
      example.day = t.t_dat.days_since_epoch();
      example.sales_channel = t.sales_channel_id;
      if (const auto codes = article_codes.find(t.article_id); codes != article_codes.end()) {
        example.article = codes->second;
      }
      histories.Add(t);
      repurchases.Add(model::CustomerKey(t.customer_id), t.article_id);
      if (static_cast<int64_t>(batch.size()) == options.batch_size) TS_RETURN_IF_ERROR(train());
    }
    TS_RETURN_IF_ERROR(train());
    report.days.push_back(figures);
    if (bar) bar->Add(figures.customers);
  }
  if (bar) bar->Finish();
  TS_ASSIGN_OR_RETURN(const ScoringCatalogue final_catalogue,
                      ScoringCatalogue::Of(*online.model, options.device));
  const int64_t catalogue_size = static_cast<int64_t>(final_catalogue.items.ids.size());
  report.online = overall.online.Finish(catalogue_size);
  report.frozen = overall.frozen.Finish(catalogue_size);
  report.fresh_histories = overall.fresh_histories.Finish(catalogue_size);
  report.online_minus_frozen = online_minus_frozen.Finish();
  report.fresh_histories_minus_frozen = fresh_histories_minus_frozen.Finish();
  report.popularity = overall.popularity.Finish(catalogue_size);
  report.repurchase = overall.repurchase.Finish(catalogue_size);
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

std::string FormatOnlineReport(const OnlineReport& r) {
  std::string out;
  char line[512];
  std::snprintf(line, sizeof(line),
                "online replay of %s .. %s (snapshot %s): each day's buyers ranked as of the end "
                "of the day before,\nthen the model trained on the day (%s examples in all). "
                "Figures per (customer, day); online: trained daily, frozen: the snapshot with "
                "its\nhistories as of %s.\n\n",
                r.test_start.ToString().c_str(), (r.test_end + (-1)).ToString().c_str(),
                r.snapshot_id.c_str(), FormatCount(r.examples_trained).c_str(),
                r.test_start.ToString().c_str());
  out += line;
  std::snprintf(line, sizeof(line), "  %-10s %9s  %-17s %-17s %-17s %-17s\n", "day", "customers",
                "online", "frozen", "popularity", "buy again");
  out += line;
  std::snprintf(line, sizeof(line), "  %-10s %9s  %-17s %-17s %-17s %-17s\n", "", "",
                "MAP@12 / rec@12", "MAP@12 / rec@12", "MAP@12 / rec@12", "MAP@12 / rec@12");
  out += line;
  const auto pair = [](const RankingMetrics& m) {
    char cell[32];
    std::snprintf(cell, sizeof(cell), "%.4f / %.4f", m.map_at_12, m.recall_at_12);
    return std::string(cell);
  };
  for (const OnlineDay& d : r.days) {
    std::snprintf(line, sizeof(line), "  %-10s %9s  %-17s %-17s %-17s %-17s\n",
                  d.day.ToString().c_str(), FormatCount(d.customers).c_str(),
                  pair(d.online).c_str(), pair(d.frozen).c_str(), pair(d.popularity).c_str(),
                  pair(d.repurchase).c_str());
    out += line;
  }
  out += "\n";
  std::snprintf(line, sizeof(line), "  %-14s %10s %10s %16s %12s %12s %14s\n", "all days", "online",
                "frozen", "fresh histories", "popularity", "buy again", "online/frozen");
  out += line;
  const auto row = [&](const char* name, double online, double frozen, double fresh,
                       double popularity, double repurchase) {
    char ratio[16] = "-";
    if (frozen > 0) std::snprintf(ratio, sizeof(ratio), "%.2fx", online / frozen);
    std::snprintf(line, sizeof(line), "  %-14s %10.4f %10.4f %16.4f %12.4f %12.4f %14s\n", name,
                  online, frozen, fresh, popularity, repurchase, ratio);
    out += line;
  };
  row("MAP@12", r.online.map_at_12, r.frozen.map_at_12, r.fresh_histories.map_at_12,
      r.popularity.map_at_12, r.repurchase.map_at_12);
  row("recall@12", r.online.recall_at_12, r.frozen.recall_at_12, r.fresh_histories.recall_at_12,
      r.popularity.recall_at_12, r.repurchase.recall_at_12);
  row("recall@100", r.online.recall_at_100, r.frozen.recall_at_100, r.fresh_histories.recall_at_100,
      r.popularity.recall_at_100, r.repurchase.recall_at_100);
  out += "\n  fresh histories: the frozen towers ranking with each day's histories and sales.\n";
  const auto difference = [&](const char* name, const PairedMetrics& m) {
    const auto cell = [](const PairedDifference& d) {
      char c[48];
      std::snprintf(c, sizeof(c), "%+.4f +- %.4f%s", d.mean, 1.96 * d.standard_error,
                    d.Significant() ? " *" : "");
      return std::string(c);
    };
    std::snprintf(line, sizeof(line), "  %-24s MAP@12 %-18s recall@12 %-18s recall@100 %s\n", name,
                  cell(m.map_at_12).c_str(), cell(m.recall_at_12).c_str(),
                  cell(m.recall_at_100).c_str());
    out += line;
  };
  out +=
      "  Paired differences per (customer, day), mean +- 1.96 standard errors (* beyond noise):\n";
  difference("online - frozen", r.online_minus_frozen);
  difference("fresh histories - frozen", r.fresh_histories_minus_frozen);
  return out;
}

nlohmann::json OnlineReportJson(const OnlineReport& r) {
  const auto metrics = [](const RankingMetrics& m) {
    return nlohmann::json{{"map_at_12", m.map_at_12},
                          {"recall_at_12", m.recall_at_12},
                          {"recall_at_100", m.recall_at_100},
                          {"coverage", m.coverage},
                          {"customers", m.customers}};
  };
  const auto paired = [](const PairedMetrics& m) {
    const auto difference = [](const PairedDifference& d) {
      return nlohmann::json{{"mean", d.mean}, {"standard_error", d.standard_error}};
    };
    return nlohmann::json{{"customers", m.customers},
                          {"map_at_12", difference(m.map_at_12)},
                          {"recall_at_12", difference(m.recall_at_12)},
                          {"recall_at_100", difference(m.recall_at_100)}};
  };
  nlohmann::json days = nlohmann::json::array();
  for (const OnlineDay& d : r.days) {
    days.push_back({{"day", d.day.ToString()},
                    {"customers", d.customers},
                    {"purchases", d.purchases},
                    {"trained_before", d.trained_before},
                    {"online", metrics(d.online)},
                    {"frozen", metrics(d.frozen)},
                    {"fresh_histories", metrics(d.fresh_histories)},
                    {"popularity", metrics(d.popularity)},
                    {"repurchase", metrics(d.repurchase)}});
  }
  return {{"unit", "customer-day"},
          {"test_start", r.test_start.ToString()},
          {"test_end", r.test_end.ToString()},
          {"snapshot", r.snapshot_id},
          {"examples_trained", r.examples_trained},
          {"online", metrics(r.online)},
          {"frozen", metrics(r.frozen)},
          {"fresh_histories", metrics(r.fresh_histories)},
          {"popularity", metrics(r.popularity)},
          {"repurchase", metrics(r.repurchase)},
          {"online_minus_frozen", paired(r.online_minus_frozen)},
          {"fresh_histories_minus_frozen", paired(r.fresh_histories_minus_frozen)},
          {"days", days},
          {"seconds", r.seconds}};
}

}  // namespace towerstream::evaluation
