// FusedInBatchSoftmaxLoss: in-batch softmax with logQ correction as one autograd node (host
// loops on a CPU; TensorOpsInBatchSoftmaxLoss on other devices).
//
// Forward: S = query · columnsᵀ (one GEMM), then per row, while the row is in cache: z = S / T -
// log_q, accidental hits -> -inf, log-sum-exp, the row's loss, and the row's gradient
// (softmax - one-hot) / (B T) written over S. Backward: two GEMMs with that gradient.
#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include "common/model/fast_ops.h"
#include "common/model/simd.h"
#include "common/model/two_tower.h"

namespace towerstream::model {
namespace {

// exp(x) for x <= 0 (the shifted logits), 0 below about -87 and for -inf: Cody-Waite range
// reduction and Cephes' degree-6 polynomial, written without branches or library calls so the
// compiler vectorises the loop calling it. Relative error about 2e-7. This file must not be
// built with -fassociative-math: the two-step reduction relies on evaluation order.
inline float ExpNonPositive(float x) {
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kC1 = 0.693359375f;
  constexpr float kC2 = -2.12194440e-4f;
  constexpr float kMin = -87.0f;
  const bool underflow = !(x >= kMin);  // also true for NaN and -inf
  const float xc = underflow ? kMin : x;
  // n = round(xc / ln 2) through an integer conversion (xc <= 0, so -trunc(0.5 - y) rounds).
  const int32_t n = -static_cast<int32_t>(0.5f - xc * kLog2e);
  const auto nf = static_cast<float>(n);
  const float r = (xc - nf * kC1) - nf * kC2;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t exponent = (n + 127) << 23;  // 2^n, n in [-126, 0]
  float scale;
  std::memcpy(&scale, &exponent, sizeof(scale));
  return underflow ? 0.0f : p * scale;
}

// The sum of z[0, n) in independent lanes, so that the compiler vectorises it without being
// allowed to reassociate float arithmetic (which would break the range reduction above).
inline float RowSum(const float* z, int64_t n) {
  constexpr int64_t kLanes = 16;
  float lanes[kLanes] = {};
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] += z[j + l];
  }
  float sum = 0;
  for (int64_t l = 0; l < kLanes; ++l) sum += lanes[l];
  for (; j < n; ++j) sum += z[j];
  return sum;
}

// The largest of z[0, n), in independent lanes so that the compiler vectorises it (a single
// running max is a chain it must keep in order).
inline float RowMax(const float* z, int64_t n) {
  constexpr int64_t kLanes = 16;
  float lanes[kLanes];
  for (int64_t l = 0; l < kLanes; ++l) lanes[l] = -std::numeric_limits<float>::infinity();
  int64_t j = 0;
  for (; j + kLanes <= n; j += kLanes) {
    for (int64_t l = 0; l < kLanes; ++l) lanes[l] = z[j + l] > lanes[l] ? z[j + l] : lanes[l];
  }
  float max = -std::numeric_limits<float>::infinity();
  for (int64_t l = 0; l < kLanes; ++l) max = lanes[l] > max ? lanes[l] : max;
  for (; j < n; ++j) max = z[j] > max ? z[j] : max;
  return max;
}

// One row of the loss: z holds the row's dot products on entry and its gradient
// (softmax - one-hot at column i) * row_scale on return; returns the row's loss.
TS_VECTOR_CLONES double SoftmaxRow(float* z, int64_t c, int64_t i, const float* log_q,
                                   const int64_t* masked, int64_t masked_count, float inv_t,
                                   float row_scale) {
  for (int64_t j = 0; j < c; ++j) z[j] = z[j] * inv_t - log_q[j];
  for (int64_t k = 0; k < masked_count; ++k) {
    z[masked[k]] = -std::numeric_limits<float>::infinity();
  }
  const float max = RowMax(z, c);  // finite: the diagonal is never masked
  const float own = z[i] - max;
  for (int64_t j = 0; j < c; ++j) z[j] = ExpNonPositive(z[j] - max);
  const float sum = RowSum(z, c);
  const float scale = row_scale / sum;
  for (int64_t j = 0; j < c; ++j) z[j] *= scale;
  z[i] -= row_scale;
  return std::log(static_cast<double>(sum)) - own;
}

// For each in-batch row i, the columns j != i holding row i's item (accidental hits), as CSR.
struct HitMask {
  std::vector<int64_t> begin;  // [B + 1]
  std::vector<int64_t> columns;
};

HitMask AccidentalHits(const int64_t* ids, int64_t rows, int64_t columns) {
  // Columns sorted by id: equal ids form runs, and most runs have one column.
  std::vector<std::pair<int64_t, int64_t>> order(static_cast<size_t>(columns));
  for (int64_t j = 0; j < columns; ++j) order[j] = {ids[j], j};
  std::sort(order.begin(), order.end());
  HitMask mask;
  mask.begin.assign(rows + 1, 0);
  std::vector<std::pair<int64_t, int64_t>> runs;  // [first, last) of runs longer than one
  for (int64_t a = 0; a < columns;) {
    int64_t z = a + 1;
    while (z < columns && order[z].first == order[a].first) ++z;
    if (z - a > 1) {
      runs.emplace_back(a, z);
      for (int64_t k = a; k < z; ++k) {
        if (order[k].second < rows) mask.begin[order[k].second + 1] = z - a - 1;
      }
    }
    a = z;
  }
  for (int64_t i = 0; i < rows; ++i) mask.begin[i + 1] += mask.begin[i];
  mask.columns.resize(mask.begin[rows]);
  std::vector<int64_t> fill(mask.begin.begin(), mask.begin.end() - 1);
  for (const auto& [a, z] : runs) {
    for (int64_t k = a; k < z; ++k) {
      const int64_t i = order[k].second;
      if (i >= rows) continue;
      for (int64_t m = a; m < z; ++m) {
        if (m != k) mask.columns[fill[i]++] = order[m].second;
      }
    }
  }
  return mask;
}

class FusedSoftmax : public torch::autograd::Function<FusedSoftmax> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& query,
                               const torch::Tensor& columns, const torch::Tensor& column_ids,
                               const torch::Tensor& column_log_q, double temperature) {
    torch::NoGradGuard no_grad;
    const int64_t b = query.size(0);
    const int64_t c = columns.size(0);
    torch::Tensor grad =
        MatMul(query, columns, false, /*transpose_b=*/true);  // S, then overwritten
    const torch::Tensor ids = column_ids.contiguous();
    const torch::Tensor log_q = column_log_q.to(torch::kFloat).contiguous();
    const HitMask mask = AccidentalHits(ids.data_ptr<int64_t>(), b, c);
    const auto inv_t = static_cast<float>(1.0 / temperature);
    const auto row_scale = static_cast<float>(1.0 / (static_cast<double>(b) * temperature));
    float* g = grad.data_ptr<float>();
    const float* lq = log_q.data_ptr<float>();
    std::vector<double> row_loss(static_cast<size_t>(b));

    at::parallel_for(0, b, /*grain_size=*/16, [&](int64_t first, int64_t last) {
      for (int64_t i = first; i < last; ++i) {
        row_loss[i] = SoftmaxRow(g + i * c, c, i, lq, mask.columns.data() + mask.begin[i],
                                 mask.begin[i + 1] - mask.begin[i], inv_t, row_scale);
      }
    });
    double loss = 0;
    for (double l : row_loss) loss += l;
    ctx->save_for_backward({query, columns, grad});
    return torch::tensor(static_cast<float>(loss / static_cast<double>(b)), query.options());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& query = saved[0];
    const torch::Tensor& columns = saved[1];
    const auto upstream = grad_outputs[0].item<float>();
    const torch::Tensor& grad = saved[2];
    torch::Tensor d_query = torch::empty(query.sizes(), query.options());
    torch::Tensor d_columns = torch::empty(columns.sizes(), columns.options());
    Gemm(false, false, upstream, grad, columns, 0.0f, d_query);
    Gemm(/*transpose_a=*/true, false, upstream, grad, query, 0.0f, d_columns);
    return {d_query, d_columns, torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The loss as tensor ops around one [B, C] buffer, for a GPU: the logits are written once (bias
// and scale in the product's epilogue), masked in place, and turned into the gradient in place
// in backward. The plain autograd ops make about a dozen [B, C] temporaries, whose memory
// traffic, not the matrix products, bounds a large in-batch softmax on a GPU. Nothing here
// reads a value back to the host, so the step never waits for the device.
class TensorOpsSoftmax : public torch::autograd::Function<TensorOpsSoftmax> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& query,
                               const torch::Tensor& columns, const torch::Tensor& column_ids,
                               const torch::Tensor& column_log_q, double temperature) {
    torch::NoGradGuard no_grad;
    const int64_t b = query.size(0);
    // z = query · columnsᵀ / T - log_q.
    torch::Tensor z = torch::addmm(column_log_q.to(query.scalar_type()).neg(), query, columns.t(),
                                   /*beta=*/1, /*alpha=*/1.0 / temperature);
    const torch::Tensor own = z.diagonal().clone();
    // Accidental hits: every column holding row i's item, then the diagonal put back.
    z.masked_fill_(column_ids.narrow(0, 0, b).unsqueeze(1) == column_ids.unsqueeze(0),
                   -std::numeric_limits<float>::infinity());
    z.diagonal().copy_(own);
    const torch::Tensor log_sum = z.logsumexp(1);
    ctx->save_for_backward({query, columns, z, log_sum});
    ctx->saved_data["temperature"] = temperature;
    return (log_sum - own).mean();
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_outputs) {
    torch::NoGradGuard no_grad;
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& query = saved[0];
    const torch::Tensor& columns = saved[1];
    torch::Tensor z = saved[2];
    const torch::Tensor& log_sum = saved[3];
    const double temperature = ctx->saved_data["temperature"].toDouble();
    const int64_t b = query.size(0);
    // softmax(z) - one-hot(diagonal), over the saved logits (a masked -inf gives 0).
    torch::Tensor grad = z.sub_(log_sum.unsqueeze(1)).exp_();
    grad.diagonal().sub_(1);
    // A 0-dim tensor on the device: no upstream value is read on the host.
    const torch::Tensor scale = grad_outputs[0] / (static_cast<double>(b) * temperature);
    return {torch::mm(grad, columns).mul_(scale), torch::mm(grad.t(), query).mul_(scale),
            torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

// The in-batch columns followed by any extra negatives.
struct Columns {
  torch::Tensor vectors, ids, log_q;
};

Columns ColumnsOf(const torch::Tensor& item, const torch::Tensor& item_ids,
                  const torch::Tensor& log_q, const ExtraNegatives* extra) {
  if (extra == nullptr) return {item, item_ids, log_q};
  return {torch::cat({item, extra->item}, 0), torch::cat({item_ids, extra->item_ids}, 0),
          torch::cat({log_q, extra->log_q.to(log_q.scalar_type())}, 0)};
}

}  // namespace

torch::Tensor TensorOpsInBatchSoftmaxLoss(const torch::Tensor& query, const torch::Tensor& item,
                                          const torch::Tensor& item_ids, const torch::Tensor& log_q,
                                          double temperature, const ExtraNegatives* extra) {
  const Columns c = ColumnsOf(item, item_ids, log_q, extra);
  return TensorOpsSoftmax::apply(query, c.vectors, c.ids.to(torch::kLong), c.log_q, temperature);
}

torch::Tensor FusedInBatchSoftmaxLoss(const torch::Tensor& query, const torch::Tensor& item,
                                      const torch::Tensor& item_ids, const torch::Tensor& log_q,
                                      double temperature, const ExtraNegatives* extra) {
  if (!query.is_cpu() || query.scalar_type() != torch::kFloat) {
    // The fused loop is host code; elsewhere the same pass structure as tensor ops.
    return TensorOpsInBatchSoftmaxLoss(query, item, item_ids, log_q, temperature, extra);
  }
  const Columns c = ColumnsOf(item, item_ids, log_q, extra);
  return FusedSoftmax::apply(query, c.vectors, c.ids.to(torch::kLong), c.log_q, temperature);
}

}  // namespace towerstream::model
