// Recommendations from a snapshot: the query tower of the snapshot's model turns a customer's
// query into a vector, the ItemIndex over the snapshot's catalogue finds the nearest articles,
// and the snapshot's ranker (ranking::Ranker, the same scorer `evaluate` measures) re-ranks
// them beside the customer's own purchases and the week's best sellers. Thread-safe: the model
// (which is not) runs under a lock, the search and the ranking do not.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "common/base/status.h"
#include "common/model/example.h"
#include "common/ranking/ranker.h"
#include "common/serving/customer_histories.h"
#include "common/serving/item_index.h"
#include "common/snapshot/snapshot_store.h"

namespace towerstream::model {
class TwoTowerModel;
}

namespace towerstream::serving {

struct RecommenderOptions {
  // A snapshot directory, or a snapshot folder (its LATEST).
  std::filesystem::path snapshot;
  ItemIndexOptions index;

  Status Validate() const;
};

class Recommender {
 public:
  static Result<std::unique_ptr<Recommender>> Load(const RecommenderOptions& options);
  ~Recommender();
  Recommender(const Recommender&) = delete;
  Recommender& operator=(const Recommender&) = delete;

  // The k best articles for the customer as of histories.as_of(), best first (score: the
  // ranker's); with `exclude_purchased`, none of the customer's earlier purchases.
  Result<std::vector<ScoredArticle>> Recommend(const CustomerHistories& histories,
                                               int64_t customer_key, int64_t k,
                                               bool exclude_purchased = false);

  // Purchases per query the model was trained with.
  int64_t history_length() const;
  const std::filesystem::path& dir() const { return dir_; }
  const snapshot::Manifest& manifest() const { return manifest_; }
  const ItemIndex& index() const { return *index_; }
  const ranking::Ranker& ranker() const { return ranker_; }

 private:
  Recommender() = default;

  std::filesystem::path dir_;
  snapshot::Manifest manifest_;
  std::mutex model_mutex_;
  std::unique_ptr<model::TwoTowerModel> model_;
  std::unique_ptr<ItemIndex> index_;
  ranking::ItemVectors items_;
  ranking::Ranker ranker_;
};

}  // namespace towerstream::serving
