#include "common/serving/recommender.h"

#include <algorithm>

#include "common/model/two_tower_model.h"
#include "common/trainer/model_config.h"

namespace towerstream::serving {

Status RecommenderOptions::Validate() const {
  if (snapshot.empty()) return Status::InvalidArgument("--snapshot is required");
  return index.Validate();
}

Recommender::~Recommender() = default;

Result<std::unique_ptr<Recommender>> Recommender::Load(const RecommenderOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  TS_ASSIGN_OR_RETURN(trainer::LoadedSnapshot loaded,
                      trainer::LoadModelSnapshot(options.snapshot, torch::kCPU));
  TS_ASSIGN_OR_RETURN(model::ItemEmbeddings items, loaded.model->CatalogueEmbeddings());
  if (items.ids.empty()) {
    return Status::FailedPrecondition("snapshot " + loaded.dir.string() +
                                      " has no article in its catalogue: nothing to recommend");
  }
  std::unique_ptr<Recommender> r(new Recommender());
  r->items_ = ranking::ItemVectors(items.ids, items.vectors);
  r->ranker_ = std::move(loaded.ranker);
  TS_ASSIGN_OR_RETURN(std::unique_ptr<ItemIndex> index,
                      ItemIndex::Build(std::move(items), options.index));
  r->dir_ = loaded.dir;
  r->manifest_ = loaded.manifest;
  r->model_ = std::move(loaded.model);
  r->index_ = std::move(index);
  return r;
}

int64_t Recommender::history_length() const { return model_->options().history_length; }

Result<std::vector<ScoredArticle>> Recommender::Recommend(const CustomerHistories& histories,
                                                          int64_t customer_key, int64_t k,
                                                          bool exclude_purchased) {
  const model::Example query = histories.QueryFor(customer_key);
  torch::Tensor vector;
  {
    std::lock_guard lock(model_mutex_);
    TS_ASSIGN_OR_RETURN(vector, model_->QueryEmbeddings(std::span(&query, 1)));
  }
  vector = vector.to(torch::kCPU, torch::kFloat32).contiguous();
  const std::span<const ranking::PastPurchase> purchases = histories.PastPurchases(customer_key);
  std::vector<hm::ArticleId> purchased;
  if (exclude_purchased) {
    for (const ranking::PastPurchase& p : purchases) purchased.push_back(p.article);
    for (hm::ArticleId a : query.recent_article_ids) purchased.push_back(a);
    std::sort(purchased.begin(), purchased.end());
    purchased.erase(std::unique(purchased.begin(), purchased.end()), purchased.end());
  }
  // A tower-only ranker ranks the towers' own top k.
  const int64_t from_towers = std::max(k, ranker_.candidates().from_towers);
  TS_ASSIGN_OR_RETURN(
      auto found, index_->Search(vector, from_towers, exclude_purchased ? &purchased : nullptr));
  std::vector<ranking::RankedArticle> nearest;
  nearest.reserve(found.front().size());
  for (const ScoredArticle& a : found.front()) nearest.push_back({a.article_id, a.score, a.score});
  ranking::CandidateOptions candidates = ranker_.candidates();
  candidates.from_towers = from_towers;
  if (exclude_purchased) candidates.from_purchases = 0;
  ranking::CustomerContext customer;
  customer.query = vector.data_ptr<float>();
  customer.purchases = purchases;
  customer.tower_nearest = nearest;
  std::vector<ranking::Candidate> gathered;
  ranking::GatherCandidates(customer, histories.articles_as_of(), items_, candidates, &gathered);
  if (exclude_purchased) {
    std::erase_if(gathered, [&](const ranking::Candidate& c) {
      return std::binary_search(purchased.begin(), purchased.end(), c.article);
    });
  }
  std::vector<ScoredArticle> ranked;
  for (const ranking::RankedArticle& a : ranker_.Rank(gathered, k)) {
    ranked.push_back({a.article_id, a.score});
  }
  return ranked;
}

}  // namespace towerstream::serving
