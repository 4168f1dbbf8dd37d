// The query and item towers of DESIGN.md §3 and their in-batch softmax loss with logQ correction.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/embedding.h>
#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "common/base/status.h"

namespace towerstream::model {

struct TwoTowerOptions {
  // Width of the id embeddings fed in and of both towers' outputs.
  int64_t dim = 64;
  // Hidden layer widths of each tower's MLP (ReLU between layers); empty is a single linear map.
  std::vector<int64_t> hidden = {128};
  // Width of the small embedding of each categorical code.
  int64_t field_dim = 16;
  // Softmax temperature: logits are cosine similarities divided by it, so smaller is sharper.
  double temperature = 0.05;
  // Buckets of the small query codes (club status, fashion news, FN, Active, sales channel).
  int64_t category_buckets = 16;
  // Hash buckets of postal codes (there are about 350k distinct ones, most seen once).
  int64_t postal_code_buckets = 4096;
  // Hash buckets of product codes (shared by colour variants, so new variants start informed).
  int64_t product_code_buckets = 16384;
  // Buckets of the other item codes (product type, department, section, ...: each < ~1k
  // distinct values, though some numbers are large, hence a modulo).
  int64_t item_code_buckets = 1024;
  // Where the parameters live.
  torch::Device device = torch::kCPU;
  // Seeds the parameter initialisation (a private generator: no global state is touched).
  uint64_t seed = 1;

  Status Validate() const;
};

// Columns of QueryFeatures::codes. Values are any int64 (hashes included): the tower reduces
// each modulo its bucket count. By convention 0 means missing.
enum QueryCode : int64_t {
  kClubMemberStatus = 0,
  kFashionNewsFrequency,
  kFn,
  kActive,
  kPostalCode,
  kSalesChannel,
  kQueryCodeCount,
};

// Columns of ItemFeatures::codes, with the same modulo convention (strings such as
// product_group_name and index_code are passed as hashes).
enum ItemCode : int64_t {
  kProductCode = 0,
  kProductType,
  kProductGroup,
  kGraphicalAppearance,
  kColourGroup,
  kPerceivedColourValue,
  kPerceivedColourMaster,
  kDepartment,
  kIndex,
  kIndexGroup,
  kSection,
  kGarmentGroup,
  kItemCodeCount,
};

// Age bands of the one-hot: [0,20) [20,25) [25,30) [30,40) [40,50) [50,60) [60,inf), missing.
inline constexpr int64_t kAgeBands = 8;

// The query side of a micro-batch of B examples; all tensors on the towers' device. The id
// embeddings are gathered by the caller from EmbeddingTables (the towers do not own them), so
// the caller can apply row-wise Adagrad with their gradients.
struct QueryFeatures {
  torch::Tensor customer_embedding;  // float [B, dim]: customer-id table row
  torch::Tensor age;                 // float [B]: age in years (ignored where age_missing)
  torch::Tensor age_missing;         // float [B]: 1 where the age is unknown, else 0
  torch::Tensor month;               // float [B]: month of the purchase, 1..12
  torch::Tensor codes;               // int64 [B, kQueryCodeCount]
  torch::Tensor recent_embeddings;   // float [B, L, dim]: item-id rows of recent purchases
  torch::Tensor recent_mask;         // float [B, L]: 1 for a real purchase, 0 for padding
};

// The item side of a micro-batch (or of a whole catalogue, for scoring).
struct ItemFeatures {
  torch::Tensor article_embedding;  // float [B, dim]: article-id table row
  torch::Tensor codes;              // int64 [B, kItemCodeCount]
};

// One micro-batch: row i of query bought row i of item.
struct Batch {
  QueryFeatures query;
  ItemFeatures item;
  torch::Tensor item_ids;  // int64 [B]: article ids, for accidental hits and the logQ lookup
};

// Maps a customer's features to an L2-normalised [B, dim] vector. Owns its dense parameters
// (code embeddings, MLP), registered as submodules; not thread-safe during training.
class QueryTower : public torch::nn::Module {
 public:
  explicit QueryTower(const TwoTowerOptions& options);
  torch::Tensor forward(const QueryFeatures& features);

 private:
  TwoTowerOptions options_;
  std::vector<torch::nn::Embedding> codes_;  // one per QueryCode column
  torch::nn::Sequential mlp_;
};

// Maps an article's features to an L2-normalised [B, dim] vector. Same ownership as QueryTower.
class ItemTower : public torch::nn::Module {
 public:
  explicit ItemTower(const TwoTowerOptions& options);
  torch::Tensor forward(const ItemFeatures& features);

 private:
  TwoTowerOptions options_;
  std::vector<torch::nn::Embedding> codes_;  // one per ItemCode column
  torch::nn::Sequential mlp_;
};

// Extra negatives appended as columns after the in-batch ones (mixed negative sampling, e.g.
// items drawn uniformly from the catalogue): [N, dim] item vectors, their int64 [N] ids and
// float [N] log sampling probabilities, with the same meaning as the in-batch ones.
struct ExtraNegatives {
  torch::Tensor item;
  torch::Tensor item_ids;
  torch::Tensor log_q;
};

// The corrected logits [B, B (+ N)]: query·itemᵀ / temperature - log_q[column], with accidental
// hits (a column j != i holding row i's item id) set to -inf. query and item are [B, dim];
// item_ids int64 [B]; log_q float [B] (log sampling probability of each row's item; zeros
// disable the correction). `extra`, if given, adds N columns masked the same way.
torch::Tensor InBatchLogits(const torch::Tensor& query, const torch::Tensor& item,
                            const torch::Tensor& item_ids, const torch::Tensor& log_q,
                            double temperature, const ExtraNegatives* extra = nullptr);

// Mean cross-entropy of InBatchLogits against the diagonal (sampled softmax, Yi et al. 2019).
torch::Tensor InBatchSoftmaxLoss(const torch::Tensor& query, const torch::Tensor& item,
                                 const torch::Tensor& item_ids, const torch::Tensor& log_q,
                                 double temperature, const ExtraNegatives* extra = nullptr);

}  // namespace towerstream::model
