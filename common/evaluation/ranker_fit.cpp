// FitRankerOnWeek: the validation week's candidates and labels, then ranking::FitRanker.
#include "common/evaluation/ranker_fit.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <random>
#include <unordered_map>
#include <vector>

#include "common/base/progress.h"
#include "common/evaluation/scoring.h"
#include "common/model/example.h"
#include "common/serving/customer_histories.h"

namespace towerstream::evaluation {
Status RankerFitWeekOptions::Validate() const {
  if (data_dir.empty()) return Status::InvalidArgument("ranker fit: no data folder");
  if (days < 1) return Status::InvalidArgument("ranker fit: the week must have >= 1 day");
  TS_RETURN_IF_ERROR(candidates.Validate());
  return fit.Validate();
}

struct RankerWeek::Data {
  RankerFitWeekOptions options;
  std::optional<serving::CustomerHistories> histories;
  // What each buyer of the week bought (distinct articles).
  std::unordered_map<int64_t, std::vector<hm::ArticleId>> bought;
};

RankerWeek::RankerWeek(std::unique_ptr<Data> data) : data_(std::move(data)) {}
RankerWeek::~RankerWeek() = default;

Result<ranking::Ranker> FitRankerOnWeek(model::TwoTowerModel& model,
                                        const RankerFitWeekOptions& options) {
  TS_ASSIGN_OR_RETURN(const std::unique_ptr<RankerWeek> week, RankerWeek::Load(options));
  return week->Fit(model);
}

Result<ranking::Ranker> FitRankerOnWindow(model::TwoTowerModel& model,
                                          const std::filesystem::path& data_dir, Date week_start,
                                          Date week_end) {
  RankerFitWeekOptions fit;
  fit.data_dir = data_dir;
  fit.week_start = week_start;
  fit.days = week_end - week_start;
  fit.history_length = model.options().history_length;
  fit.progress = false;
  return FitRankerOnWeek(model, fit);
}

Result<std::unique_ptr<RankerWeek>> RankerWeek::Load(const RankerFitWeekOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  auto data = std::make_unique<Data>();
  data->options = options;
  const Date week_end = options.week_start + options.days;
  serving::CustomerHistoryOptions history_options;
  history_options.data_dir = options.data_dir;
  history_options.as_of = options.week_start;
  history_options.history_length = static_cast<size_t>(options.history_length);
  history_options.purchase_log.trending = static_cast<size_t>(options.candidates.from_trending);
  std::unordered_map<int64_t, std::vector<hm::ArticleId>>& bought = data->bought;
  TS_ASSIGN_OR_RETURN(
      data->histories,
      serving::CustomerHistories::Load(history_options, [&](const hm::Transaction& t) {
        if (t.t_dat < options.week_start || !(t.t_dat < week_end)) return;
        std::vector<hm::ArticleId>& actual = bought[model::CustomerKey(t.customer_id)];
        if (std::find(actual.begin(), actual.end(), t.article_id) == actual.end()) {
          actual.push_back(t.article_id);
        }
      }));
  if (bought.empty()) {
    return Status::InvalidArgument("ranker fit: no purchase in the validation week from " +
                                   options.week_start.ToString());
  }
  return std::unique_ptr<RankerWeek>(new RankerWeek(std::move(data)));
}

Result<ranking::Ranker> RankerWeek::Fit(model::TwoTowerModel& model) const {
  const RankerFitWeekOptions& options = data_->options;
  const serving::CustomerHistories& histories = *data_->histories;
  const auto& bought = data_->bought;
  const Date week_end = options.week_start + options.days;
  // Buyers in a fixed order, then a seeded sample: twice what the fit keeps, since buyers
  // without a bought candidate are dropped.
  std::vector<int64_t> buyers;
  buyers.reserve(bought.size());
  for (const auto& [key, actual] : bought) buyers.push_back(key);
  std::sort(buyers.begin(), buyers.end());
  std::mt19937_64 rng(options.fit.seed);
  std::shuffle(buyers.begin(), buyers.end(), rng);
  const size_t sample = static_cast<size_t>(2 * options.fit.max_customers);
  if (buyers.size() > sample) buyers.resize(sample);

  TS_ASSIGN_OR_RETURN(const ScoringCatalogue catalogue,
                      ScoringCatalogue::Of(model, model.options().device));
  std::unique_ptr<ProgressBar> bar;
  if (options.progress) {
    ProgressOptions p;
    p.label = "fit ranker";
    p.unit = "customers";
    bar = std::make_unique<ProgressBar>(static_cast<int64_t>(buyers.size()), p);
  }
  std::vector<ranking::FitGroup> groups(buyers.size());
  TS_RETURN_IF_ERROR(GatherCandidatesFor(
      model, histories, catalogue, buyers, options.candidates,
      [&](size_t i, std::span<const ranking::RankedArticle>,
          std::span<const ranking::Candidate> candidates) {
        ranking::FitGroup& group = groups[i];
        group.candidates.assign(candidates.begin(), candidates.end());
        const std::vector<hm::ArticleId>& actual = bought.at(buyers[i]);
        for (const ranking::Candidate& c : candidates) {
          group.bought.push_back(std::find(actual.begin(), actual.end(), c.article) !=
                                 actual.end());
        }
        if (bar) bar->Add(1);
      }));
  if (bar) bar->Finish();
  nlohmann::json summary = {{"week_start", options.week_start.ToString()},
                            {"week_end", week_end.ToString()},
                            {"buyers", static_cast<int64_t>(bought.size())},
                            {"buyers_sampled", static_cast<int64_t>(buyers.size())}};
  return ranking::FitRanker(groups, options.candidates, options.fit, std::move(summary));
}

}  // namespace towerstream::evaluation
