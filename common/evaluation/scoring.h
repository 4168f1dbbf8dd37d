// The snapshot's scorer applied to many customers at once, as `evaluate` (weekly and online)
// and the ranker's fit need it: the towers' exact nearest articles, the candidates around them,
// the ranker's order. Serving ranks one customer at a time the same way (serving::Recommender).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include <torch/types.h>

#include "common/base/status.h"
#include "common/hm/records.h"
#include "common/model/two_tower_model.h"
#include "common/ranking/ranker.h"
#include "common/replay/data_files.h"
#include "common/serving/customer_histories.h"

namespace towerstream::evaluation {

// The H&M files of a data folder and the test window [start, end): from `test_start`, or the
// file's last `test_days` days. `command` prefixes errors ("evaluate").
struct TestWindow {
  replay::DataFiles files;
  Date start;
  Date end;
};
Result<TestWindow> FindTestWindow(const std::filesystem::path& data_dir,
                                  std::optional<Date> test_start, int test_days,
                                  std::string_view command);

// Calls `add` with every article of articles.csv and its model codes, in file order (none when
// the folder has no articles file): every article is a candidate, bought yet or not.
Status ForEachArticle(const replay::DataFiles& files,
                      const std::function<void(hm::ArticleId, const model::ArticleCodes&)>& add);

// A catalogue's item vectors in the two forms scoring needs.
struct ScoringCatalogue {
  model::ItemEmbeddings items;  // host
  torch::Tensor matrix;         // items.vectors on the scoring device
  ranking::ItemVectors by_id;   // for candidates the towers did not propose

  static Result<ScoringCatalogue> Of(model::TwoTowerModel& model, torch::Device device);
};

// For each of `customers` (as of histories.as_of()), in order: the towers' `from_towers`
// nearest articles and the candidates `options` gathers around them, given to `visit` with the
// customer's index in `customers`.
Status GatherCandidatesFor(
    model::TwoTowerModel& model, const serving::CustomerHistories& histories,
    const ScoringCatalogue& catalogue, std::span<const int64_t> customers,
    const ranking::CandidateOptions& options,
    const std::function<void(size_t index, std::span<const ranking::RankedArticle> nearest,
                             std::span<const ranking::Candidate> candidates)>& visit);

struct RankedCustomers {
  std::vector<std::vector<hm::ArticleId>> ranked;  // the scorer's top k, per customer
  std::vector<std::vector<hm::ArticleId>> towers;  // the towers' own top k, per customer
};

// Ranks `customers` as of histories.as_of(), `k` articles each.
Result<RankedCustomers> RankCustomers(model::TwoTowerModel& model, const ranking::Ranker& ranker,
                                      const serving::CustomerHistories& histories,
                                      const ScoringCatalogue& catalogue,
                                      std::span<const int64_t> customers, int64_t k);

}  // namespace towerstream::evaluation
