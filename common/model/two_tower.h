// The query and item towers of docs/design.md §5 and their in-batch softmax loss with logQ
// correction.
#pragma once

#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/linear.h>
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

  // Buckets of each field's code table, in QueryCode / ItemCode order.
  std::vector<int64_t> QueryFieldBuckets() const;
  std::vector<int64_t> ItemFieldBuckets() const;
};

// Columns of the query code matrix. Values are any int64 (hashes included): the tower reduces
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

// Columns of the item code matrix, with the same modulo convention (strings such as
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
// Dense query inputs per example: normalised age, age missing, month sin and cos, the size of
// the purchase history (log scale, 0..1), then the age band one-hot.
inline constexpr int64_t kQueryDenseFeatures = 5 + kAgeBands;

// Writes the kQueryDenseFeatures values of one example to `out`: `age` in years (ignored when
// `age_known` is false), `month` 1..12, `recent` purchases in the history out of at most
// `history_length`.
void FillQueryDense(bool age_known, float age, int month, int64_t recent, int64_t history_length,
                    float* out);

// The inputs of the query tower for a micro-batch of B examples, on the towers' device. The
// embeddings are gathered by the caller from its tables (EmbeddingTable, FieldEmbeddings), which
// it trains with row-wise Adagrad from the gradients these tensors receive.
struct QueryInputs {
  torch::Tensor customer_embedding;  // float [B, dim]: customer-id row
  torch::Tensor recent_pooled;       // float [B, dim]: mean of the recent purchases' item-id rows
  torch::Tensor dense;               // float [B, kQueryDenseFeatures] (FillQueryDense)
  torch::Tensor codes;               // float [B, kQueryCodeCount * field_dim]: code embeddings
};

// The inputs of the item tower for B articles.
struct ItemInputs {
  torch::Tensor article_embedding;  // float [B, dim]: article-id row
  torch::Tensor codes;              // float [B, kItemCodeCount * field_dim]: code embeddings
};

// Maps a customer in context to an L2-normalised [B, dim] vector: an MLP over the concatenated
// inputs. Owns only its dense layers (registered as submodules, trained with Adam); not
// thread-safe during training.
class QueryTower : public torch::nn::Module {
 public:
  explicit QueryTower(const TwoTowerOptions& options);
  torch::Tensor forward(const QueryInputs& inputs);

 private:
  torch::nn::Sequential mlp_;              // registered as "mlp": parameter names in saved state
  std::vector<torch::nn::Linear> layers_;  // mlp_'s linear layers, run by fast_ops::Linear
};

// Maps an article to an L2-normalised [B, dim] vector. Same ownership as QueryTower.
class ItemTower : public torch::nn::Module {
 public:
  explicit ItemTower(const TwoTowerOptions& options);
  torch::Tensor forward(const ItemInputs& inputs);

 private:
  torch::nn::Sequential mlp_;
  std::vector<torch::nn::Linear> layers_;
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

// Mean cross-entropy of InBatchLogits against the diagonal (sampled softmax, Yi et al. 2019),
// in plain autograd ops: the reference for FusedInBatchSoftmaxLoss.
torch::Tensor InBatchSoftmaxLoss(const torch::Tensor& query, const torch::Tensor& item,
                                 const torch::Tensor& item_ids, const torch::Tensor& log_q,
                                 double temperature, const ExtraNegatives* extra = nullptr);

// The same loss and gradients as InBatchSoftmaxLoss, as one autograd node whose forward and
// backward are two matrix products around a single pass over the logits (mask, logQ, softmax
// and its gradient fused), instead of a dozen [B, B] temporaries: on a CPU most of the cost
// of in-batch softmax at batch 2048 is memory traffic, not arithmetic. float32 only.
torch::Tensor FusedInBatchSoftmaxLoss(const torch::Tensor& query, const torch::Tensor& item,
                                      const torch::Tensor& item_ids, const torch::Tensor& log_q,
                                      double temperature, const ExtraNegatives* extra = nullptr);

// The same loss and gradients again, as one autograd node of tensor ops over a single [B, C]
// buffer (logits, masked in place, then their gradient in place): what FusedInBatchSoftmaxLoss
// runs on a GPU, where it never waits for the device. Any device; float32 or wider.
torch::Tensor TensorOpsInBatchSoftmaxLoss(const torch::Tensor& query, const torch::Tensor& item,
                                          const torch::Tensor& item_ids, const torch::Tensor& log_q,
                                          double temperature,
                                          const ExtraNegatives* extra = nullptr);

}  // namespace towerstream::model
