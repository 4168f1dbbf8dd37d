#include "common/serving/item_index.h"

#include <algorithm>
#include <atomic>
#include <mutex>
#include <thread>

#include <hnswlib/hnswlib.h>

#include "common/model/fast_ops.h"

namespace towerstream::serving {

// hnswlib keeps a pointer to its space, so both live together.
struct ItemIndex::Graph {
  explicit Graph(int64_t dim) : space(static_cast<size_t>(dim)) {}
  hnswlib::InnerProductSpace space;
  std::unique_ptr<hnswlib::HierarchicalNSW<float>> hnsw;
};

Status ItemIndexOptions::Validate() const {
  if (exact_below < 0) return Status::InvalidArgument("index: exact_below must be >= 0");
  if (hnsw_links < 2 || hnsw_links > 100) {
    return Status::InvalidArgument("index: hnsw links must be in [2, 100]");
  }
  if (hnsw_ef_construction < 1 || hnsw_ef_search < 1) {
    return Status::InvalidArgument("index: hnsw ef values must be >= 1");
  }
  if (build_threads < 0) return Status::InvalidArgument("index: build threads must be >= 0");
  return Status::Ok();
}

ItemIndex::~ItemIndex() = default;

Result<std::unique_ptr<ItemIndex>> ItemIndex::Build(model::ItemEmbeddings items,
                                                    const ItemIndexOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  const torch::Tensor& v = items.vectors;
  if (!v.defined() || v.dim() != 2 || v.scalar_type() != torch::kFloat || !v.is_cpu() ||
      v.size(0) != static_cast<int64_t>(items.ids.size())) {
    return Status::InvalidArgument(
        "index: item vectors must be a host float32 [articles, dim] matrix, one row per id");
  }
  if (items.ids.empty()) return Status::InvalidArgument("index: the catalogue is empty");
  std::unique_ptr<ItemIndex> index(new ItemIndex());
  index->dim_ = v.size(1);
  const torch::Tensor vectors = v.contiguous();
  if (static_cast<int64_t>(items.ids.size()) < options.exact_below || items.ids.size() < 2) {
    index->vectors_ = vectors;
    index->ids_ = std::move(items.ids);
    return index;
  }
  index->ids_ = std::move(items.ids);
  try {
    auto graph = std::make_unique<Graph>(index->dim_);
    graph->hnsw = std::make_unique<hnswlib::HierarchicalNSW<float>>(
        &graph->space, index->ids_.size(), static_cast<size_t>(options.hnsw_links),
        static_cast<size_t>(options.hnsw_ef_construction), /*random_seed=*/100);
    const float* data = vectors.data_ptr<float>();
    const int64_t rows = index->size();
    // One inserting thread (about a second per 10k articles): concurrent insertion is what
    // hnswlib supports, but it has not been checked under a thread sanitizer here, so
    // build_threads is not used yet.
    const int threads = 1;
    // The first row goes in alone (it becomes the entry point).
    graph->hnsw->addPoint(data, 0);
    std::atomic<int64_t> next{1};
    std::vector<std::jthread> workers;
    std::exception_ptr failure;
    std::mutex failure_mutex;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&] {
        try {
          for (int64_t r = next++; r < rows; r = next++) {
            graph->hnsw->addPoint(data + r * index->dim_, static_cast<hnswlib::labeltype>(r));
          }
        } catch (...) {
          std::lock_guard lock(failure_mutex);
          failure = std::current_exception();
          next = rows;
        }
      });
    }
    workers.clear();  // joins
    if (failure) std::rethrow_exception(failure);
    graph->hnsw->setEf(static_cast<size_t>(options.hnsw_ef_search));
    index->graph_ = std::move(graph);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index: building the HNSW graph failed: ") + e.what());
  }
  return index;
}

Result<std::vector<std::vector<ScoredArticle>>> ItemIndex::Search(
    const torch::Tensor& queries, int64_t k, const std::vector<hm::ArticleId>* exclude) const {
  if (!queries.defined() || queries.dim() != 2 || queries.size(1) != dim_ ||
      queries.scalar_type() != torch::kFloat || !queries.is_cpu()) {
    return Status::InvalidArgument("index: queries must be a host float32 [n, " +
                                   std::to_string(dim_) + "] matrix");
  }
  if (k < 1) return Status::InvalidArgument("index: k must be >= 1");
  const auto excluded = [exclude](hm::ArticleId id) {
    return exclude != nullptr && std::binary_search(exclude->begin(), exclude->end(), id);
  };
  // Ask for enough that k remain after the exclusions.
  const int64_t excluded_count = exclude != nullptr ? static_cast<int64_t>(exclude->size()) : 0;
  const int64_t wanted = std::min(size(), k + excluded_count);
  const torch::Tensor q = queries.contiguous();
  std::vector<std::vector<ScoredArticle>> out(static_cast<size_t>(q.size(0)));
  try {
    if (!graph_) {
      torch::NoGradGuard no_grad;
      const torch::Tensor scores = model::MatMul(q, vectors_, false, /*transpose_b=*/true);
      const auto [top_scores, top_index] = scores.topk(wanted, /*dim=*/1);
      const torch::Tensor s = top_scores.contiguous();
      const torch::Tensor i = top_index.contiguous();
      for (int64_t row = 0; row < q.size(0); ++row) {
        const float* srow = s.data_ptr<float>() + row * wanted;
        const int64_t* irow = i.data_ptr<int64_t>() + row * wanted;
        auto& hits = out[static_cast<size_t>(row)];
        for (int64_t r = 0; r < wanted && static_cast<int64_t>(hits.size()) < k; ++r) {
          const hm::ArticleId id = ids_[static_cast<size_t>(irow[r])];
          if (!excluded(id)) hits.push_back({id, srow[r]});
        }
      }
      return out;
    }
    // searchKnn explores max(ef, wanted) candidates, so a large k stays accurate.
    for (int64_t row = 0; row < q.size(0); ++row) {
      auto found =
          graph_->hnsw->searchKnn(q.data_ptr<float>() + row * dim_, static_cast<size_t>(wanted));
      // A max-heap on distance (1 - inner product): worst first.
      std::vector<ScoredArticle> ranked(found.size());
      for (size_t r = found.size(); r-- > 0;) {
        ranked[r] = {ids_[static_cast<size_t>(found.top().second)], 1.0f - found.top().first};
        found.pop();
      }
      auto& hits = out[static_cast<size_t>(row)];
      for (const ScoredArticle& a : ranked) {
        if (static_cast<int64_t>(hits.size()) == k) break;
        if (!excluded(a.article_id)) hits.push_back(a);
      }
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("index: search failed: ") + e.what());
  }
  return out;
}

}  // namespace towerstream::serving
