// Evaluate: ground truth, queries as of the test start, the model's and the baselines' rankings.
#include "common/evaluation/evaluator.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <span>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "common/base/progress.h"
#include "common/evaluation/baselines.h"
#include "common/evaluation/scoring.h"
#include "common/hm/hm_reader.h"
#include "common/model/example.h"
#include "common/ranking/ranker.h"
#include "common/replay/data_files.h"
#include "common/serving/customer_histories.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/model_config.h"

namespace towerstream::evaluation {
namespace {

// Ranked articles kept per customer: enough for recall@100.
constexpr int64_t kTopK = 100;
// Customers scored per matrix product with the catalogue.
constexpr int64_t kQueryChunk = 1024;

// The three rankings' accumulators for one segment.
struct SegmentAccumulators {
  RankingAccumulator model, popularity, repurchase;

  void Add(std::span<const hm::ArticleId> actual, std::span<const hm::ArticleId> by_model,
           std::span<const hm::ArticleId> by_popularity,
           std::span<const hm::ArticleId> by_repurchase) {
    model.Add(actual, by_model);
    popularity.Add(actual, by_popularity);
    repurchase.Add(actual, by_repurchase);
  }
};

enum Segment { kReturning, kNewCustomers, kNewArticles, kSegmentCount };
constexpr const char* kSegmentNames[kSegmentCount] = {"returning_customers", "new_customers",
                                                      "new_articles"};
constexpr const char* kSegmentDescriptions[kSegmentCount] = {
    "customers with earlier purchases", "customers without", "articles new in the window"};

}  // namespace

Status EvaluateOptions::Validate() const {
  if (snapshot.empty()) return Status::InvalidArgument("evaluate: --snapshot is required");
  if (data_dir.empty()) return Status::InvalidArgument("evaluate: --data is required");
  if (test_days < 1 || baseline_days < 1) {
    return Status::InvalidArgument("evaluate: test and baseline windows must be >= 1 day");
  }
  if (history_length && *history_length < 0) {
    return Status::InvalidArgument("evaluate: history length must be >= 0");
  }
  return Status::Ok();
}

Result<EvaluationReport> Evaluate(const EvaluateOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  const auto started = std::chrono::steady_clock::now();
  TS_ASSIGN_OR_RETURN(trainer::LoadedSnapshot loaded,
                      trainer::LoadModelSnapshot(options.snapshot, options.device));
  model::TwoTowerModel& model = *loaded.model;
  EvaluationReport report;
  report.snapshot_dir = loaded.dir.string();
  report.snapshot_id = loaded.manifest.id;
  report.snapshot_step = loaded.manifest.step;
  report.snapshot_events_trained = loaded.manifest.events_trained;

  TS_ASSIGN_OR_RETURN(const TestWindow window, FindTestWindow(options.data_dir, options.test_start,
                                                              options.test_days, "evaluate"));
  const replay::DataFiles& files = window.files;
  report.test_start = window.start;
  report.test_end = window.end;
  if (!options.best_possible.empty()) {
    TS_ASSIGN_OR_RETURN(BestPossible best, LoadBestPossible(options.best_possible));
    if (best.test_start != report.test_start || best.test_end != report.test_end) {
      return Status::InvalidArgument(
          "evaluate: the best achievable figures of " + options.best_possible.string() +
          " are for " + best.test_start.ToString() + " .. " + (best.test_end + (-1)).ToString() +
          ", not the test window " + report.test_start.ToString() + " .. " +
          (report.test_end + (-1)).ToString());
    }
    report.best_possible = std::move(best);
  }
  const Date baseline_start = report.test_start + (-options.baseline_days);

  // Every article of the file is a candidate, new ones included (their id rows are cold, their
  // codes are not).
  TS_RETURN_IF_ERROR(ForEachArticle(files, [&](hm::ArticleId id, const model::ArticleCodes& codes) {
    model.AddArticle(id, codes);
  }));
  serving::CustomerHistoryOptions history_options;
  history_options.data_dir = options.data_dir;
  history_options.as_of = report.test_start;
  history_options.history_length =
      static_cast<size_t>(options.history_length.value_or(model.options().history_length));
  history_options.purchase_log.trending =
      static_cast<size_t>(std::max<int64_t>(loaded.ranker.candidates().from_trending, 1));
  std::unordered_map<int64_t, std::vector<hm::ArticleId>> bought;  // in the test window
  BestSellers popular;                                             // in the baseline window
  Repurchases repurchases(static_cast<size_t>(kTopK));             // before the test window
  std::unordered_set<hm::ArticleId> sold_before;                   // before the test window
  TS_ASSIGN_OR_RETURN(
      const serving::CustomerHistories histories,
      serving::CustomerHistories::Load(history_options, [&](const hm::Transaction& t) {
        if (t.t_dat < report.test_start) {
          if (!(t.t_dat < baseline_start)) popular.Add(t.article_id);
          // The file is in time order (Kaggle's is sorted by day): recency is file order.
          repurchases.Add(model::CustomerKey(t.customer_id), t.article_id);
          sold_before.insert(t.article_id);
        } else if (t.t_dat < report.test_end) {
          ++report.test_purchases;
          std::vector<hm::ArticleId>& actual = bought[model::CustomerKey(t.customer_id)];
          if (std::find(actual.begin(), actual.end(), t.article_id) == actual.end()) {
            actual.push_back(t.article_id);
          }
        }
      }));
  if (bought.empty()) {
    return Status::InvalidArgument("evaluate: no purchase in the test window [" +
                                   report.test_start.ToString() + ", " +
                                   report.test_end.ToString() + ") of " + files.transactions);
  }

  // Customers in a fixed order, so reports are reproducible.
  std::vector<int64_t> scored;
  scored.reserve(bought.size());
  for (const auto& [key, actual] : bought) scored.push_back(key);
  std::sort(scored.begin(), scored.end());

  // The popularity baseline: most bought first, ties by article id.
  const std::vector<hm::ArticleId> top_popular = popular.Top(static_cast<size_t>(kTopK));

  TS_ASSIGN_OR_RETURN(const ScoringCatalogue catalogue,
                      ScoringCatalogue::Of(model, options.device));
  report.catalogue_size = static_cast<int64_t>(catalogue.items.ids.size());
  report.ranker = loaded.ranker.Describe();
  SegmentAccumulators all;
  RankingAccumulator towers_only;
  std::array<SegmentAccumulators, kSegmentCount> by_segment;
  std::unique_ptr<ProgressBar> bar;
  if (options.progress) {
    ProgressOptions p;
    p.label = "evaluate";
    p.unit = "customers";
    bar = std::make_unique<ProgressBar>(static_cast<int64_t>(scored.size()), p);
  }
  std::vector<hm::ArticleId> new_articles;
  for (size_t begin = 0; begin < scored.size(); begin += kQueryChunk) {
    const size_t end = std::min(scored.size(), begin + kQueryChunk);
    const std::span<const int64_t> chunk(scored.data() + begin, end - begin);
    TS_ASSIGN_OR_RETURN(const RankedCustomers ranked,
                        RankCustomers(model, loaded.ranker, histories, catalogue, chunk, kTopK));
    for (size_t i = begin; i < end; ++i) {
      if (histories.RecentPurchases(scored[i]).empty()) ++report.customers_without_history;
      const std::vector<hm::ArticleId>& actual = bought[scored[i]];
      const std::vector<hm::ArticleId>& predicted = ranked.ranked[i - begin];
      towers_only.Add(actual, ranked.towers[i - begin]);
      const std::vector<hm::ArticleId> again =
          repurchases.Recommend(scored[i], top_popular, static_cast<size_t>(kTopK));
      all.Add(actual, predicted, top_popular, again);
      by_segment[repurchases.Known(scored[i]) ? kReturning : kNewCustomers].Add(actual, predicted,
                                                                                top_popular, again);
      new_articles.clear();
      for (hm::ArticleId a : actual) {
        if (!sold_before.contains(a)) new_articles.push_back(a);
      }
      if (!new_articles.empty()) {
        by_segment[kNewArticles].Add(new_articles, predicted, top_popular, again);
      }
    }
    if (bar) bar->Add(static_cast<int64_t>(end - begin));
  }
  if (bar) bar->Finish();
  report.model = all.model.Finish(report.catalogue_size);
  report.towers = towers_only.Finish(report.catalogue_size);
  report.popularity = all.popularity.Finish(report.catalogue_size);
  report.repurchase = all.repurchase.Finish(report.catalogue_size);
  for (int s = 0; s < kSegmentCount; ++s) {
    report.segments.push_back({kSegmentNames[s], kSegmentDescriptions[s],
                               by_segment[s].model.Finish(report.catalogue_size),
                               by_segment[s].popularity.Finish(report.catalogue_size),
                               by_segment[s].repurchase.Finish(report.catalogue_size)});
  }
  report.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return report;
}

std::string FormatReport(const EvaluationReport& r) {
  std::string out;
  char line[256];
  std::snprintf(line, sizeof(line), "snapshot %s (step %lld, %s examples trained)\n",
                r.snapshot_id.c_str(), static_cast<long long>(r.snapshot_step),
                FormatCount(r.snapshot_events_trained).c_str());
  out += line;
  std::snprintf(line, sizeof(line),
                "test window %s .. %s: %s customers bought %s articles (%s without earlier "
                "purchases); catalogue %s articles\n\n",
                r.test_start.ToString().c_str(), (r.test_end + (-1)).ToString().c_str(),
                FormatCount(r.model.customers).c_str(), FormatCount(r.test_purchases).c_str(),
                FormatCount(r.customers_without_history).c_str(),
                FormatCount(r.catalogue_size).c_str());
  out += line;
  std::snprintf(line, sizeof(line), "model: %s\n\n", r.ranker.c_str());
  out += line;
  std::snprintf(line, sizeof(line), "  %-14s %10s %12s %12s %12s %12s\n", "metric", "model",
                "popularity", "buy again", "model/best", "towers only");
  out += line;
  // "buy again" is "buy again, then trending"; model/best divides by the better baseline.
  const auto row = [&](const char* name, double model, double popularity, double repurchase,
                       double towers) {
    char ratio[16] = "-";
    const double best = std::max(popularity, repurchase);
    if (best > 0) std::snprintf(ratio, sizeof(ratio), "%.2fx", model / best);
    std::snprintf(line, sizeof(line), "  %-14s %10.4f %12.4f %12.4f %12s %12.4f\n", name, model,
                  popularity, repurchase, ratio, towers);
    out += line;
  };
  row("MAP@12", r.model.map_at_12, r.popularity.map_at_12, r.repurchase.map_at_12,
      r.towers.map_at_12);
  row("recall@12", r.model.recall_at_12, r.popularity.recall_at_12, r.repurchase.recall_at_12,
      r.towers.recall_at_12);
  row("recall@100", r.model.recall_at_100, r.popularity.recall_at_100, r.repurchase.recall_at_100,
      r.towers.recall_at_100);
  row("coverage", r.model.coverage, r.popularity.coverage, r.repurchase.coverage,
      r.towers.coverage);
  if (r.best_possible) {
    const RankingMetrics& b = r.best_possible->metrics;
    out += "\n  share of the best achievable (the generator's own purchase probabilities):\n";
    const auto share = [&](const char* name, double model, double popularity, double repurchase,
                           double best) {
      if (best <= 0) return;
      std::snprintf(line, sizeof(line), "  %-14s %10.2f %12.2f %12.2f   (best %.4f)\n", name,
                    model / best, popularity / best, repurchase / best, best);
      out += line;
    };
    share("MAP@12", r.model.map_at_12, r.popularity.map_at_12, r.repurchase.map_at_12, b.map_at_12);
    share("recall@12", r.model.recall_at_12, r.popularity.recall_at_12, r.repurchase.recall_at_12,
          b.recall_at_12);
    share("recall@100", r.model.recall_at_100, r.popularity.recall_at_100,
          r.repurchase.recall_at_100, b.recall_at_100);
  }
  if (r.segments.empty()) return out;
  out +=
      "\n  by segment, MAP@12 / recall@12 / recall@100 (buy again = buy again, then trending):\n";
  std::snprintf(line, sizeof(line), "  %-34s %9s  %-24s  %-24s  %s\n", "segment", "customers",
                "model", "popularity", "buy again");
  out += line;
  const auto triple = [](const RankingMetrics& m) {
    char cell[32];
    std::snprintf(cell, sizeof(cell), "%.4f / %.4f / %.4f", m.map_at_12, m.recall_at_12,
                  m.recall_at_100);
    return std::string(cell);
  };
  for (const SegmentMetrics& s : r.segments) {
    std::snprintf(line, sizeof(line), "  %-34s %9s  %-24s  %-24s  %s\n", s.description.c_str(),
                  FormatCount(s.model.customers).c_str(), triple(s.model).c_str(),
                  triple(s.popularity).c_str(), triple(s.repurchase).c_str());
    out += line;
  }
  return out;
}

nlohmann::json ReportJson(const EvaluationReport& r) {
  const auto metrics = [](const RankingMetrics& m) {
    return nlohmann::json{
        {"map_at_12", m.map_at_12},         {"recall_at_12", m.recall_at_12},
        {"recall_at_100", m.recall_at_100}, {"coverage", m.coverage},
        {"customers", m.customers},         {"distinct_recommended", m.distinct_recommended}};
  };
  nlohmann::json segments = nlohmann::json::object();
  for (const SegmentMetrics& s : r.segments) {
    segments[s.name] = {{"description", s.description},
                        {"customers", s.model.customers},
                        {"model", metrics(s.model)},
                        {"popularity", metrics(s.popularity)},
                        {"repurchase", metrics(s.repurchase)}};
  }
  nlohmann::json best = nullptr;
  if (r.best_possible) best = metrics(r.best_possible->metrics);
  return {
      {"best_possible", best},
      {"model", metrics(r.model)},
      {"popularity", metrics(r.popularity)},
      {"repurchase", metrics(r.repurchase)},
      {"towers", metrics(r.towers)},
      {"ranker", r.ranker},
      {"segments", segments},
      {"snapshot",
       {{"dir", r.snapshot_dir},
        {"id", r.snapshot_id},
        {"step", r.snapshot_step},
        {"events_trained", r.snapshot_events_trained}}},
      {"test_start", r.test_start.ToString()},
      {"test_end", r.test_end.ToString()},
      {"test_purchases", r.test_purchases},
      {"customers_without_history", r.customers_without_history},
      {"catalogue_size", r.catalogue_size},
      {"seconds", r.seconds},
  };
}

}  // namespace towerstream::evaluation
