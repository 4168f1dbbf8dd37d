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
  TS_ASSIGN_OR_RETURN(std::unique_ptr<ItemIndex> index,
                      ItemIndex::Build(std::move(items), options.index));
  std::unique_ptr<Recommender> r(new Recommender());
  r->dir_ = loaded.dir;
  r->manifest_ = loaded.manifest;
  r->model_ = std::move(loaded.model);
  r->index_ = std::move(index);
  return r;
}

int64_t Recommender::history_length() const { return model_->options().history_length; }

Result<std::vector<ScoredArticle>> Recommender::Recommend(const model::Example& query, int64_t k,
                                                          bool exclude_purchased) {
  torch::Tensor vector;
  {
    std::lock_guard lock(model_mutex_);
    TS_ASSIGN_OR_RETURN(vector, model_->QueryEmbeddings(std::span(&query, 1)));
  }
  std::vector<hm::ArticleId> purchased;
  if (exclude_purchased) {
    purchased = query.recent_article_ids;
    std::sort(purchased.begin(), purchased.end());
    purchased.erase(std::unique(purchased.begin(), purchased.end()), purchased.end());
  }
  TS_ASSIGN_OR_RETURN(auto found,
                      index_->Search(vector, k, exclude_purchased ? &purchased : nullptr));
  return std::move(found.front());
}

}  // namespace towerstream::serving
