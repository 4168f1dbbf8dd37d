// Row-wise Adagrad: fused host loops and the equivalent tensor ops for other devices.
#include "common/model/row_wise_adagrad.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <cmath>
#include <tuple>

#include "common/model/simd.h"

namespace towerstream::model {
namespace {

// Pass 1 over one part: adds each element's scaled gradient to its row's slot in `sums`,
// giving rows seen for the first time the next slot (so slots follow first-seen order).
// Returns the number of slots in use afterwards. Bounds are checked by the caller.
TS_VECTOR_CLONES int64_t AccumulatePart(const int64_t* row_of, const float* g, const int64_t* src,
                                        const float* sc, int64_t n, int64_t dim, int64_t* slot_of,
                                        int64_t* unique_rows, int64_t used, float* sums) {
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = row_of[i];
    const float* gi = g + (src != nullptr ? src[i] : i) * dim;
    const float f = sc != nullptr ? sc[i] : 1.0f;
    int64_t slot = slot_of[r];
    if (slot < 0) {
      slot = used++;
      slot_of[r] = slot;
      unique_rows[slot] = r;
      float* sum = sums + slot * dim;
      for (int64_t j = 0; j < dim; ++j) sum[j] = f * gi[j];
    } else {
      float* sum = sums + slot * dim;
      for (int64_t j = 0; j < dim; ++j) sum[j] += f * gi[j];
    }
  }
  return used;
}

// Pass 2: one accumulator step and one weight step per distinct row; clears the slots. The
// rows are scattered over the table, so each is fetched a few rows ahead of its update.
TS_VECTOR_CLONES void UpdateRows(const int64_t* unique_rows, int64_t count, const float* sums,
                                 int64_t dim, float lr, float eps, float* w, float* acc,
                                 int64_t* slot_of) {
  const auto inv_dim = 1.0f / static_cast<float>(dim);
  constexpr int64_t kAhead = 4;
  for (int64_t slot = 0; slot < count; ++slot) {
    if (slot + kAhead < count) {
      const int64_t next = unique_rows[slot + kAhead];
      for (int64_t j = 0; j < dim; j += 16) __builtin_prefetch(w + next * dim + j, 1);
      __builtin_prefetch(acc + next, 1);
    }
    const int64_t r = unique_rows[slot];
    slot_of[r] = -1;
    const float* sum = sums + slot * dim;
    float square_sum = 0;
    for (int64_t j = 0; j < dim; ++j) square_sum += sum[j] * sum[j];
    acc[r] += square_sum * inv_dim;
    const float step = lr / (std::sqrt(acc[r]) + eps);
    float* wr = w + r * dim;
    for (int64_t j = 0; j < dim; ++j) wr[j] -= step * sum[j];
  }
}

// Pass 1 over every part: the summed gradient of each distinct row into the scratch, in
// first-seen order; returns the number of distinct rows.
int64_t AccumulateParts(std::span<const RowGradients> parts, int64_t table_rows, int64_t dim,
                        RowWiseAdagradScratch* scratch) {
  std::vector<int64_t>& slot_of = scratch->slot_of;
  std::vector<int64_t>& unique_rows = scratch->unique_rows;
  std::vector<float>& sums = scratch->grad_sums;
  if (static_cast<int64_t>(slot_of.size()) < table_rows) slot_of.resize(table_rows, -1);

  int64_t used = 0;
  for (const RowGradients& part : parts) {
    const torch::Tensor rows = part.rows.reshape({-1}).to(torch::kCPU).contiguous();
    const torch::Tensor grads = part.grads.reshape({-1, dim}).to(torch::kCPU).contiguous();
    const torch::Tensor source = part.source.defined()
                                     ? part.source.reshape({-1}).to(torch::kCPU).contiguous()
                                     : part.source;
    const torch::Tensor scale =
        part.scale.defined() ? part.scale.reshape({-1}).to(torch::kCPU).contiguous() : part.scale;
    const int64_t n = rows.numel();
    TORCH_CHECK(source.defined() || grads.size(0) == n,
                "ApplyRowWiseAdagrad: without a source, grads need one row per element");
    const int64_t* row_of = rows.data_ptr<int64_t>();
    const int64_t* src = source.defined() ? source.data_ptr<int64_t>() : nullptr;
    const int64_t grad_rows = grads.size(0);
    for (int64_t i = 0; i < n; ++i) {
      TORCH_CHECK(row_of[i] >= 0 && row_of[i] < table_rows, "ApplyRowWiseAdagrad: row ", row_of[i],
                  " out of range [0, ", table_rows, ")");
      TORCH_CHECK(src == nullptr || (src[i] >= 0 && src[i] < grad_rows),
                  "ApplyRowWiseAdagrad: source ", src[i], " out of range");
    }
    if (unique_rows.size() < static_cast<size_t>(used + n)) unique_rows.resize(used + n);
    if (sums.size() < static_cast<size_t>((used + n) * dim)) sums.resize((used + n) * dim);
    used = AccumulatePart(row_of, grads.data_ptr<float>(), src,
                          scale.defined() ? scale.data_ptr<float>() : nullptr, n, dim,
                          slot_of.data(), unique_rows.data(), used, sums.data());
  }
  return used;
}

void ApplyOnHost(torch::Tensor& weight, torch::Tensor& accumulator,
                 std::span<const RowGradients> parts, float lr, float eps,
                 RowWiseAdagradScratch* scratch) {
  const int64_t dim = weight.size(1);
  const int64_t used = AccumulateParts(parts, weight.size(0), dim, scratch);
  UpdateRows(scratch->unique_rows.data(), used, scratch->grad_sums.data(), dim, lr, eps,
             weight.data_ptr<float>(), accumulator.data_ptr<float>(), scratch->slot_of.data());
}

// The same update as tensor ops that never wait for the device: every shape depends on the
// number of gradient elements n alone, not on how many distinct rows there are (at::_unique's
// output size would make the host wait for the GPU at every step). The elements are sorted by
// row; each run of equal rows is one segment, numbered by a running count of run starts; the
// gradients are summed per segment into n slots, of which the unused ones (n minus the
// distinct rows) keep a zero gradient and row 0. Both tables get their change by index_add_: a
// used slot's row is distinct from every other used slot's, and an unused slot adds exactly 0.
void ApplyWithTensorOps(torch::Tensor& weight, torch::Tensor& accumulator,
                        std::span<const RowGradients> parts, float lr, float eps) {
  const int64_t dim = weight.size(1);
  std::vector<torch::Tensor> all_rows, all_grads;
  for (const RowGradients& part : parts) {
    torch::Tensor rows = part.rows.reshape({-1}).to(weight.device(), /*non_blocking=*/true);
    torch::Tensor grads = part.grads.reshape({-1, dim}).to(weight.device(), weight.scalar_type());
    if (part.source.defined()) {
      grads = grads.index_select(0, part.source.reshape({-1}).to(weight.device(), true));
    }
    if (part.scale.defined()) {
      grads = grads * part.scale.reshape({-1, 1}).to(weight.device(), weight.scalar_type());
    }
    all_rows.push_back(std::move(rows));
    all_grads.push_back(std::move(grads));
  }
  const torch::Tensor rows = all_rows.size() == 1 ? all_rows[0] : torch::cat(all_rows);
  const torch::Tensor grads = all_grads.size() == 1 ? all_grads[0] : torch::cat(all_grads);
  const int64_t n = rows.numel();
  if (n == 0) return;
  const auto [sorted, order] = rows.sort();
  torch::Tensor run_start = torch::ones({n}, rows.options().dtype(torch::kLong));
  if (n > 1) {
    run_start.narrow(0, 1, n - 1).copy_(sorted.narrow(0, 1, n - 1).ne(sorted.narrow(0, 0, n - 1)));
  }
  const torch::Tensor segment = run_start.cumsum(0).sub_(1);
  const torch::Tensor g =
      torch::zeros({n, dim}, grads.options()).index_add_(0, segment, grads.index_select(0, order));
  // Every element of a run writes the same row into its segment's slot.
  const torch::Tensor segment_rows =
      torch::zeros({n}, rows.options()).index_copy_(0, segment, sorted);
  const torch::Tensor mean_square = g.square().mean(1);
  const torch::Tensor updated = accumulator.index_select(0, segment_rows).add_(mean_square);
  // A slot whose gradient is all zero (an unused one, or a row only empty slots routed to)
  // moves nothing, even with eps 0 and an empty accumulator (0 / 0).
  const torch::Tensor step = updated.sqrt_().add_(eps).reciprocal_().mul_(-lr);
  g.mul_(step.masked_fill_(mean_square.eq(0), 0).unsqueeze(1));
  accumulator.index_add_(0, segment_rows, mean_square);
  weight.index_add_(0, segment_rows, g);
}

// Rows [first, last) of GatherMean's output `o` ([B, dim], zeroed) from rows `r` ([B, l]).
TS_VECTOR_CLONES void GatherMeanRows(const float* w, const int64_t* r, int64_t first, int64_t last,
                                     int64_t l, int64_t dim, float* o) {
  const int64_t total = last * l;
  for (int64_t i = first; i < last; ++i) {
    float* oi = o + i * dim;
    int64_t count = 0;
    for (int64_t k = 0; k < l; ++k) {
      const int64_t row = r[i * l + k];
      // The rows are scattered over the table: fetch the one a few slots ahead.
      const int64_t ahead = i * l + k + 4;
      if (ahead < total && r[ahead] >= 0) {
        for (int64_t j = 0; j < dim; j += 16) __builtin_prefetch(w + r[ahead] * dim + j);
      }
      if (row < 0) continue;
      const float* wr = w + row * dim;
      for (int64_t j = 0; j < dim; ++j) oi[j] += wr[j];
      ++count;
    }
    if (count > 1) {
      const float inv = 1.0f / static_cast<float>(count);
      for (int64_t j = 0; j < dim; ++j) oi[j] *= inv;
    }
  }
}

}  // namespace

RowGradients SumRowGradients(std::span<const RowGradients> parts, int64_t table_rows, int64_t dim,
                             RowWiseAdagradScratch* scratch) {
  const int64_t used = AccumulateParts(parts, table_rows, dim, scratch);
  torch::Tensor rows = torch::empty({used}, torch::kLong);
  torch::Tensor grads = torch::empty({used, dim}, torch::kFloat);
  std::copy_n(scratch->unique_rows.data(), used, rows.data_ptr<int64_t>());
  std::copy_n(scratch->grad_sums.data(), used * dim, grads.data_ptr<float>());
  for (int64_t slot = 0; slot < used; ++slot) scratch->slot_of[scratch->unique_rows[slot]] = -1;
  return {.rows = rows, .grads = grads, .source = {}, .scale = {}};
}

void ApplyRowWiseAdagrad(torch::Tensor& weight, torch::Tensor& accumulator,
                         std::span<const RowGradients> parts, float lr, float eps, bool fused_host,
                         RowWiseAdagradScratch* scratch) {
  TORCH_CHECK(weight.dim() == 2 && weight.scalar_type() == torch::kFloat,
              "ApplyRowWiseAdagrad: weight must be a float [rows, dim] tensor");
  for (const RowGradients& part : parts) {
    TORCH_CHECK(part.rows.scalar_type() == torch::kLong, "ApplyRowWiseAdagrad: rows must be int64");
    TORCH_CHECK(part.grads.numel() % weight.size(1) == 0,
                "ApplyRowWiseAdagrad: grads must hold dim values per row");
  }
  torch::NoGradGuard no_grad;
  if (weight.is_cpu() && fused_host) {
    ApplyOnHost(weight, accumulator, parts, lr, eps, scratch);
  } else {
    ApplyWithTensorOps(weight, accumulator, parts, lr, eps);
  }
}

torch::Tensor GatherMean(const torch::Tensor& weight, const torch::Tensor& rows) {
  TORCH_CHECK(rows.dim() == 2 && rows.scalar_type() == torch::kLong,
              "GatherMean: rows must be int64 [B, L]");
  const int64_t b = rows.size(0), l = rows.size(1), dim = weight.size(1);
  if (!weight.is_cpu()) {
    const torch::Tensor on_device = rows.to(weight.device());
    const torch::Tensor mask = on_device.ge(0);
    const torch::Tensor gathered =
        weight.index_select(0, on_device.clamp_min(0).reshape({-1})).view({b, l, dim});
    const torch::Tensor count = mask.sum(1, /*keepdim=*/true).clamp_min(1).to(weight.scalar_type());
    return (gathered * mask.unsqueeze(-1).to(weight.scalar_type())).sum(1) / count;
  }
  const torch::Tensor host_rows = rows.contiguous();
  torch::Tensor out = torch::zeros({b, dim}, weight.options());
  const float* w = weight.data_ptr<float>();
  const int64_t table_rows = weight.size(0);
  const int64_t* r = host_rows.data_ptr<int64_t>();
  float* o = out.data_ptr<float>();
  for (int64_t i = 0, n = b * l; i < n; ++i) {
    TORCH_CHECK(r[i] < table_rows, "GatherMean: row ", r[i], " out of range");
  }
  at::parallel_for(0, b, /*grain_size=*/64, [&](int64_t first, int64_t last) {
    GatherMeanRows(w, r, first, last, l, dim, o);
  });
  return out;
}

RowGradients MeanGradientsAllSlots(const torch::Tensor& rows, const torch::Tensor& pooled_grad) {
  const int64_t b = rows.size(0), l = rows.size(1);
  const torch::Tensor mask = rows.ge(0);
  const torch::Tensor inv_count =
      1.0f / mask.sum(1, /*keepdim=*/true).clamp_min(1).to(torch::kFloat);
  RowGradients g;
  g.rows = rows.clamp_min(0).reshape({-1});
  g.source = torch::arange(b, rows.options()).unsqueeze(1).expand({b, l}).reshape({-1});
  g.scale = (inv_count * mask.to(torch::kFloat)).reshape({-1});
  g.grads = pooled_grad;
  return g;
}

RowGradients MeanGradients(const torch::Tensor& rows, const torch::Tensor& pooled_grad) {
  // On a GPU masked_select's output size would make the host wait for the device.
  if (!rows.is_cpu()) return MeanGradientsAllSlots(rows, pooled_grad);
  const int64_t b = rows.size(0), l = rows.size(1);
  const torch::Tensor mask = rows.ge(0);
  const torch::Tensor inv_count = 1.0f / mask.sum(1).clamp_min(1).to(torch::kFloat);
  const torch::Tensor batch_row = torch::arange(b, rows.options()).unsqueeze(1).expand({b, l});
  RowGradients g;
  g.rows = rows.masked_select(mask);
  g.source = batch_row.masked_select(mask);
  g.scale = inv_count.index_select(0, g.source);
  g.grads = pooled_grad;
  return g;
}

}  // namespace towerstream::model
