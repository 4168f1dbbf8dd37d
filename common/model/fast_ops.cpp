// Gemm via oneDNN, and the Linear and L2Normalize autograd nodes.
#include "common/model/fast_ops.h"

#include <ATen/Parallel.h>
#include <dlfcn.h>
#include <torch/autograd.h>
#include <torch/nn/functional.h>

#include <algorithm>
#include <cmath>

#include "common/model/simd.h"

#ifdef TOWERSTREAM_HAVE_DNNL
#include <oneapi/dnnl/dnnl.h>
#endif

namespace towerstream::model {
namespace {

bool CpuFloat(const torch::Tensor& t) {
  return t.is_cpu() && t.scalar_type() == torch::kFloat && t.dim() == 2;
}

// Whether dnnl_sgemm can take these operands (`c` is the output).
bool UseDnnl(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& c) {
#ifdef TOWERSTREAM_HAVE_DNNL
  return CpuFloat(a) && CpuFloat(b) && CpuFloat(c) && c.is_contiguous();
#else
  (void)a, (void)b, (void)c;
  return false;
#endif
}

// y[i] = x[i] / max(|x[i]|, eps) for rows [first, last); inv_norm[i] = the divisor's inverse.
TS_VECTOR_CLONES void NormalizeRows(const float* x, int64_t first, int64_t last, int64_t dim,
                                    float eps, float* y, float* inv_norm) {
  for (int64_t i = first; i < last; ++i) {
    const float* xi = x + i * dim;
    float sum = 0;
    for (int64_t j = 0; j < dim; ++j) sum += xi[j] * xi[j];
    const float inv = 1.0f / std::max(std::sqrt(sum), eps);
    inv_norm[i] = inv;
    float* yi = y + i * dim;
    for (int64_t j = 0; j < dim; ++j) yi[j] = xi[j] * inv;
  }
}

// dx[i] = (g[i] - y[i] (y[i] . g[i])) * inv_norm[i]: the gradient of NormalizeRows.
TS_VECTOR_CLONES void NormalizeRowsBackward(const float* y, const float* g, const float* inv_norm,
                                            int64_t first, int64_t last, int64_t dim, float* dx) {
  for (int64_t i = first; i < last; ++i) {
    const float* yi = y + i * dim;
    const float* gi = g + i * dim;
    float dot = 0;
    for (int64_t j = 0; j < dim; ++j) dot += yi[j] * gi[j];
    float* di = dx + i * dim;
    for (int64_t j = 0; j < dim; ++j) di[j] = (gi[j] - yi[j] * dot) * inv_norm[i];
  }
}

class LinearFunction : public torch::autograd::Function<LinearFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               const torch::Tensor& weight, const torch::Tensor& bias) {
    torch::NoGradGuard no_grad;
    // A fresh buffer: for one row, expand(...).contiguous() would be the bias itself, and the
    // Gemm below (beta 1) would add into the parameter.
    torch::Tensor y = torch::empty({x.size(0), weight.size(0)}, x.options());
    y.copy_(bias.unsqueeze(0).expand_as(y));
    Gemm(false, true, 1.0f, x, weight, 1.0f, y);
    ctx->save_for_backward({x, weight});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& x = saved[0];
    const torch::Tensor& weight = saved[1];
    const torch::Tensor dy = grads[0].contiguous();
    torch::Tensor dx, dweight, dbias;
    if (ctx->needs_input_grad(0)) dx = MatMul(dy, weight);
    if (ctx->needs_input_grad(1)) dweight = MatMul(dy, x, /*transpose_a=*/true);
    if (ctx->needs_input_grad(2)) dbias = dy.sum(0);
    return {dx, dweight, dbias};
  }
};

class L2NormalizeFunction : public torch::autograd::Function<L2NormalizeFunction> {
 public:
  static torch::Tensor forward(torch::autograd::AutogradContext* ctx, const torch::Tensor& x,
                               double eps) {
    torch::NoGradGuard no_grad;
    const torch::Tensor in = x.contiguous();
    const int64_t rows = in.size(0), dim = in.size(1);
    torch::Tensor y = torch::empty_like(in);
    torch::Tensor inv_norm = torch::empty({rows}, in.options());
    const float* px = in.data_ptr<float>();
    float* py = y.data_ptr<float>();
    float* pn = inv_norm.data_ptr<float>();
    at::parallel_for(0, rows, /*grain_size=*/64, [&](int64_t first, int64_t last) {
      NormalizeRows(px, first, last, dim, static_cast<float>(eps), py, pn);
    });
    ctx->save_for_backward({y, inv_norm});
    return y;
  }

  // d/dx (x / |x|) applied to g: (g - y (y · g)) / |x|.
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grads) {
    torch::NoGradGuard no_grad;
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& y = saved[0];
    const torch::Tensor& inv_norm = saved[1];
    const torch::Tensor g = grads[0].contiguous();
    const int64_t rows = y.size(0), dim = y.size(1);
    torch::Tensor dx = torch::empty_like(g);
    const float* py = y.data_ptr<float>();
    const float* pg = g.data_ptr<float>();
    const float* pn = inv_norm.data_ptr<float>();
    float* pd = dx.data_ptr<float>();
    at::parallel_for(0, rows, /*grain_size=*/64, [&](int64_t first, int64_t last) {
      NormalizeRowsBackward(py, pg, pn, first, last, dim, pd);
    });
    return {dx, torch::Tensor()};
  }
};

}  // namespace

bool LimitBlasThreads(int threads) {
  using SetThreads = void (*)(int);
  void* symbol = dlsym(RTLD_DEFAULT, "openblas_set_num_threads");
  if (symbol == nullptr) return false;
  reinterpret_cast<SetThreads>(symbol)(threads);
  return true;
}

bool FastGemmAvailable() {
#ifdef TOWERSTREAM_HAVE_DNNL
  return true;
#else
  return false;
#endif
}

void Gemm(bool transpose_a, bool transpose_b, float alpha, const torch::Tensor& a,
          const torch::Tensor& b, float beta, torch::Tensor& c) {
#ifdef TOWERSTREAM_HAVE_DNNL
  if (UseDnnl(a, b, c)) {
    const torch::Tensor ac = a.contiguous(), bc = b.contiguous();
    const int64_t m = transpose_a ? ac.size(1) : ac.size(0);
    const int64_t k = transpose_a ? ac.size(0) : ac.size(1);
    const int64_t n = transpose_b ? bc.size(0) : bc.size(1);
    TORCH_CHECK((transpose_b ? bc.size(1) : bc.size(0)) == k && c.size(0) == m && c.size(1) == n,
                "Gemm: shapes do not match");
    if (m == 0 || n == 0) return;
    // dnnl_sgemm is row-major: the leading dimension is the stored row length.
    const dnnl_status_t status = dnnl_sgemm(
        transpose_a ? 'T' : 'N', transpose_b ? 'T' : 'N', m, n, k, alpha, ac.data_ptr<float>(),
        ac.size(1), bc.data_ptr<float>(), bc.size(1), beta, c.data_ptr<float>(), n);
    TORCH_CHECK(status == dnnl_success, "dnnl_sgemm failed with status ", static_cast<int>(status));
    return;
  }
#endif
  const torch::Tensor op_a = transpose_a ? a.t() : a;
  const torch::Tensor op_b = transpose_b ? b.t() : b;
  if (beta == 0.0f) {
    at::mm_out(c, op_a, op_b);
    if (alpha != 1.0f) c.mul_(alpha);
  } else {
    c.addmm_(op_a, op_b, beta, alpha);
  }
}

torch::Tensor MatMul(const torch::Tensor& a, const torch::Tensor& b, bool transpose_a,
                     bool transpose_b) {
  if (!FastGemmAvailable() || !CpuFloat(a) || !CpuFloat(b)) {
    return (transpose_a ? a.t() : a).matmul(transpose_b ? b.t() : b);
  }
  torch::Tensor c = torch::empty(
      {transpose_a ? a.size(1) : a.size(0), transpose_b ? b.size(0) : b.size(1)}, a.options());
  Gemm(transpose_a, transpose_b, 1.0f, a, b, 0.0f, c);
  return c;
}

torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias) {
  if (!x.is_cpu() || x.scalar_type() != torch::kFloat) {
    return torch::nn::functional::linear(x, weight, bias);
  }
  return LinearFunction::apply(x, weight, bias);
}

torch::Tensor L2Normalize(const torch::Tensor& x, double eps) {
  if (!x.is_cpu() || x.scalar_type() != torch::kFloat || x.dim() != 2) {
    return x / x.norm(2, /*dim=*/1, /*keepdim=*/true).clamp_min(eps);
  }
  return L2NormalizeFunction::apply(x, eps);
}

}  // namespace towerstream::model
