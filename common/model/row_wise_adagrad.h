// Row-wise Adagrad on embedding tables, with gradients from several sources summed per row.
//
// One accumulator per row (the mean of the squared row gradient, summed over steps) instead of
// one per element: a quarter of Adagrad's memory for tables and, unlike sparse tensors, a
// gather/scatter of the rows a batch touched. Stateless functions plus a scratch object; the
// caller owns the tensors. Not thread-safe for the same tables.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <span>
#include <vector>

namespace towerstream::model {

// One source of gradients for rows of a [rows, dim] table: element n adds
// scale[n] * grads[source[n]] to the gradient of row rows[n].
struct RowGradients {
  torch::Tensor rows;    // int64 [N], any shape (flattened); must be valid rows of the table
  torch::Tensor grads;   // float [G, dim] (or any shape with G * dim elements)
  torch::Tensor source;  // int64 [N] into grads; undefined: element n uses grads[n] (G == N)
  torch::Tensor scale;   // float [N]; undefined: 1 for every element
};

// Scratch reused across calls by the host path (sized to the table on first use).
struct RowWiseAdagradScratch {
  std::vector<int64_t> slot_of;  // per table row: its slot in this call, -1 outside a call
  std::vector<int64_t> unique_rows;
  std::vector<float> grad_sums;
};

// For every distinct row r touched by `parts`: g = the sum of its gradients over all parts;
// acc[r] += mean(g^2); weight[r] -= lr * g / (sqrt(acc[r]) + eps). A row whose gradients are all
// zero keeps its values. `weight` [rows, dim] and `accumulator` [rows] float32 on one device.
// On a CPU with `fused_host` true the update runs as fused loops visiting rows in first-seen
// order (deterministic; several times faster than the tensor ops at batch 2048, same
// arithmetic); otherwise as sort/index_add_ tensor ops whose shapes depend only on the number of
// gradient elements, so that on a GPU the host never waits (the order of the sums there is the
// GPU's atomics').
void ApplyRowWiseAdagrad(torch::Tensor& weight, torch::Tensor& accumulator,
                         std::span<const RowGradients> parts, float lr, float eps, bool fused_host,
                         RowWiseAdagradScratch* scratch);

// The summed gradient of every distinct row `parts` touch (rows < table_rows, gradients of width
// `dim`, on the host), rows in first-seen order and one gradient each: what ApplyRowWiseAdagrad
// would apply, without applying it. A trainer group exchanges these, each row once.
RowGradients SumRowGradients(std::span<const RowGradients> parts, int64_t table_rows, int64_t dim,
                             RowWiseAdagradScratch* scratch);

// weight[rows] averaged over the valid entries of each row of `rows` ([B, L] int64, -1 marks an
// empty slot): [B, dim]; a row with no valid entry gives zeros. Fused on a CPU.
torch::Tensor GatherMean(const torch::Tensor& weight, const torch::Tensor& rows);

// The RowGradients that route the gradient of GatherMean's output ([B, dim]) back to its
// valid entries: rows, source (the batch row) and scale (1 / valid entries of that row). For
// rows on a GPU, MeanGradientsAllSlots.
RowGradients MeanGradients(const torch::Tensor& rows, const torch::Tensor& pooled_grad);

// The same gradients as B * L elements, one per slot, whatever the number of valid ones: an
// empty slot routes a zero-scaled gradient to row 0, which changes no row under
// ApplyRowWiseAdagrad. Its shapes depend on the batch alone, so nothing waits for the device.
RowGradients MeanGradientsAllSlots(const torch::Tensor& rows, const torch::Tensor& pooled_grad);

}  // namespace towerstream::model
