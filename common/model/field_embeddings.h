// Embeddings of categorical codes: one small hashed table per field, trained by row-wise Adagrad.
//
// K fields (club status, postal code, product type, ...) each own `buckets[k]` rows of one
// [sum of buckets, field_dim] weight; a code c of field k uses row offset[k] + (c mod buckets[k])
// (Python-style modulo, so negative codes such as Kaggle's -1 work). Collisions are accepted:
// fields have few values or, for postal and product codes, more than a table should hold.
// Not thread-safe; movable, not copyable.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/model/row_wise_adagrad.h"

namespace towerstream::model {

struct FieldEmbeddingsOptions {
  // Rows of each field's table, in field order.
  std::vector<int64_t> buckets;
  // Width of each field's embedding.
  int64_t field_dim = 16;
  // Standard deviation of the initial normal values: near the scale of the MLP's other inputs.
  double init_std = 0.1;
  double eps = 1e-8;
  torch::Device device = torch::kCPU;
  // See EmbeddingTableOptions::fused_host_update.
  bool fused_host_update = true;
  uint64_t seed = 1;

  Status Validate() const;
};

class FieldEmbeddings {
 public:
  static Result<std::unique_ptr<FieldEmbeddings>> Create(const FieldEmbeddingsOptions& options);

  FieldEmbeddings(FieldEmbeddings&&) = default;
  FieldEmbeddings& operator=(FieldEmbeddings&&) = default;
  FieldEmbeddings(const FieldEmbeddings&) = delete;
  FieldEmbeddings& operator=(const FieldEmbeddings&) = delete;

  // Rows [B, K] (int64, on the device) for codes [B, K] (int64, any device).
  torch::Tensor Rows(const torch::Tensor& codes) const;
  // The concatenated embeddings of each example's fields: [B, K * field_dim], no autograd.
  torch::Tensor Gather(const torch::Tensor& rows) const;
  // Row-wise Adagrad with grads [B, K * field_dim] of Gather's output.
  void ApplyRowWiseAdagrad(const torch::Tensor& rows, const torch::Tensor& grads, float lr);

  // The summed gradient of each distinct row, as ApplyRowWiseAdagrad would apply it (see
  // model::SumRowGradients); rows and grads as ApplyRowWiseAdagrad takes them.
  RowGradients SumGradients(const torch::Tensor& rows, const torch::Tensor& grads);

  // Weights and accumulators, little-endian binary with a format version; Load requires the
  // same buckets and field_dim.
  Status Save(std::ostream& out) const;
  Status Load(std::istream& in);

  int64_t fields() const { return static_cast<int64_t>(options_.buckets.size()); }
  int64_t width() const { return fields() * options_.field_dim; }
  const torch::Tensor& weight() const { return weight_; }
  const FieldEmbeddingsOptions& options() const { return options_; }

 private:
  explicit FieldEmbeddings(const FieldEmbeddingsOptions& options);

  FieldEmbeddingsOptions options_;
  torch::Tensor offsets_;      // int64 [K] on the device
  torch::Tensor buckets_;      // int64 [K] on the device
  torch::Tensor weight_;       // float [sum buckets, field_dim]
  torch::Tensor accumulator_;  // float [sum buckets]
  RowWiseAdagradScratch scratch_;
};

}  // namespace towerstream::model
