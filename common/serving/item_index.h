// Nearest-neighbour search over a snapshot's item embeddings (maximum inner product on
// L2-normalised vectors, i.e. cosine similarity).
//
// Below `exact_below` articles the search is exact: one matrix product with the catalogue and
// a top-k, which on a CPU beats building a graph and is always right. From that size on it is
// an HNSW graph (hnswlib), built once over every article; its recall against the
// exact search is tested (item_index_test). Immutable after Build, so Search may run on many
// threads at once.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include <torch/types.h>

#include "common/base/status.h"
#include "common/hm/records.h"
#include "common/model/two_tower_model.h"

namespace towerstream::serving {

struct ItemIndexOptions {
  // Catalogues smaller than this are searched exactly. H&M's 105,542 articles get the graph.
  int64_t exact_below = 50'000;
  // HNSW graph: links per node, candidate list while building and while searching (raised to
  // k when k is larger). Higher is more accurate and slower.
  int hnsw_links = 16;
  int hnsw_ef_construction = 200;
  int hnsw_ef_search = 128;
  // Threads that build the graph; 0: every core.
  int build_threads = 0;

  Status Validate() const;
};

struct ScoredArticle {
  hm::ArticleId article_id = 0;
  float score = 0;  // cosine similarity with the query
};

class ItemIndex {
 public:
  // `items.vectors` is [ids.size(), dim], L2-normalised float32 on the host.
  static Result<std::unique_ptr<ItemIndex>> Build(model::ItemEmbeddings items,
                                                  const ItemIndexOptions& options);
  ~ItemIndex();
  ItemIndex(const ItemIndex&) = delete;
  ItemIndex& operator=(const ItemIndex&) = delete;

  // For each row of `queries` ([n, dim] float32, host), the k best articles, best first (fewer
  // when the catalogue is smaller), skipping those in `exclude` (sorted ascending) if given.
  Result<std::vector<std::vector<ScoredArticle>>> Search(
      const torch::Tensor& queries, int64_t k,
      const std::vector<hm::ArticleId>* exclude = nullptr) const;

  int64_t size() const { return static_cast<int64_t>(ids_.size()); }
  int64_t dim() const { return dim_; }
  bool approximate() const { return graph_ != nullptr; }

 private:
  struct Graph;
  ItemIndex() = default;

  std::vector<hm::ArticleId> ids_;
  torch::Tensor vectors_;  // exact search only
  int64_t dim_ = 0;
  std::unique_ptr<Graph> graph_;
};

}  // namespace towerstream::serving
