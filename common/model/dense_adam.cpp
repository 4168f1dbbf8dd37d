// DenseAdam: the AdamW update fused per tensor, and its saved state.
#include "common/model/dense_adam.h"

#include <ATen/Parallel.h>

#include <cmath>
#include <string>

#include "common/model/binary_io.h"
#include "common/model/simd.h"

namespace towerstream::model {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'A', 'D', 'A', 'M', 'W', '1'};
constexpr uint32_t kFormatVersion = 1;

// The AdamW update of elements [first, last).
TS_VECTOR_CLONES void AdamUpdate(float* p, float* m, float* v, const float* g, int64_t first,
                                 int64_t last, float b1, float b2, float step, float decay,
                                 float inv_sqrt_c2, float eps) {
  for (int64_t i = first; i < last; ++i) {
    const float gi = g[i];
    m[i] = b1 * m[i] + (1.0f - b1) * gi;
    v[i] = b2 * v[i] + (1.0f - b2) * gi * gi;
    p[i] = p[i] * decay - step * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
  }
}

}  // namespace

Status DenseAdamOptions::Validate() const {
  if (!(learning_rate > 0) || !std::isfinite(learning_rate)) {
    return Status::InvalidArgument("adam: learning rate must be finite and > 0");
  }
  if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
    return Status::InvalidArgument("adam: betas must be in [0, 1)");
  }
  if (!(eps > 0) || !(weight_decay >= 0)) {
    return Status::InvalidArgument("adam: eps must be > 0 and weight decay >= 0");
  }
  return Status::Ok();
}

DenseAdam::DenseAdam(std::vector<torch::Tensor> parameters, const DenseAdamOptions& options)
    : parameters_(std::move(parameters)), options_(options) {
  torch::NoGradGuard no_grad;
  for (const torch::Tensor& p : parameters_) {
    exp_avg_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
    exp_avg_sq_.push_back(torch::zeros_like(p, torch::MemoryFormat::Contiguous));
  }
}

void DenseAdam::ZeroGrad() {
  for (torch::Tensor& p : parameters_) {
    if (p.grad().defined()) p.mutable_grad() = torch::Tensor();
  }
}

void DenseAdam::Step() {
  torch::NoGradGuard no_grad;
  ++steps_;
  const double b1 = options_.beta1, b2 = options_.beta2;
  const double correction1 = 1.0 - std::pow(b1, static_cast<double>(steps_));
  const double correction2 = 1.0 - std::pow(b2, static_cast<double>(steps_));
  const double step_size = options_.learning_rate / correction1;
  const double decay = 1.0 - options_.learning_rate * options_.weight_decay;
  const double inv_sqrt_c2 = 1.0 / std::sqrt(correction2);
  for (size_t t = 0; t < parameters_.size(); ++t) {
    torch::Tensor& p = parameters_[t];
    if (!p.grad().defined()) continue;
    torch::Tensor& m = exp_avg_[t];
    torch::Tensor& v = exp_avg_sq_[t];
    if (!p.is_cpu() || p.scalar_type() != torch::kFloat || !p.is_contiguous()) {
      const torch::Tensor g = p.grad();
      p.mul_(decay);
      m.mul_(b1).add_(g, 1.0 - b1);
      v.mul_(b2).addcmul_(g, g, 1.0 - b2);
      p.addcdiv_(m, v.sqrt().mul_(inv_sqrt_c2).add_(options_.eps), -step_size);
      continue;
    }
    const torch::Tensor g = p.grad().contiguous();
    float* pp = p.data_ptr<float>();
    float* pm = m.data_ptr<float>();
    float* pv = v.data_ptr<float>();
    const float* pg = g.data_ptr<float>();
    const auto fb1 = static_cast<float>(b1), fb2 = static_cast<float>(b2);
    const auto f_step = static_cast<float>(step_size), f_decay = static_cast<float>(decay);
    const auto f_inv = static_cast<float>(inv_sqrt_c2), f_eps = static_cast<float>(options_.eps);
    at::parallel_for(0, p.numel(), /*grain_size=*/16384, [&](int64_t first, int64_t last) {
      AdamUpdate(pp, pm, pv, pg, first, last, fb1, fb2, f_step, f_decay, f_inv, f_eps);
    });
  }
}

Status DenseAdam::Save(std::ostream& out) const {
  binary_io::WriteHeader(out, kMagic, kFormatVersion);
  binary_io::WritePod(out, steps_);
  binary_io::WritePod(out, static_cast<int64_t>(parameters_.size()));
  try {
    for (size_t t = 0; t < parameters_.size(); ++t) {
      binary_io::WritePod(out, parameters_[t].numel());
      binary_io::WriteTensorData(out, exp_avg_[t]);
      binary_io::WriteTensorData(out, exp_avg_sq_[t]);
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("adam state: ") + e.what());
  }
  if (!out) return Status::IoError("adam state: write failed");
  return Status::Ok();
}

Status DenseAdam::Load(std::istream& in) {
  TS_RETURN_IF_ERROR(binary_io::ReadHeader(in, kMagic, kFormatVersion, "adam state"));
  int64_t steps = 0, count = 0;
  if (!binary_io::ReadPod(in, &steps) || !binary_io::ReadPod(in, &count)) {
    return Status::Corruption("adam state: truncated header");
  }
  if (count != static_cast<int64_t>(parameters_.size())) {
    return Status::FailedPrecondition("adam state: " + std::to_string(count) +
                                      " parameter tensors, this model has " +
                                      std::to_string(parameters_.size()));
  }
  std::vector<torch::Tensor> m(parameters_.size()), v(parameters_.size());
  try {
    for (size_t t = 0; t < parameters_.size(); ++t) {
      int64_t numel = 0;
      if (!binary_io::ReadPod(in, &numel)) return Status::Corruption("adam state: truncated");
      if (numel != parameters_[t].numel()) {
        return Status::FailedPrecondition("adam state: tensor " + std::to_string(t) + " has " +
                                          std::to_string(numel) + " values, expected " +
                                          std::to_string(parameters_[t].numel()));
      }
      const auto host = torch::TensorOptions().dtype(torch::kFloat);
      m[t] = torch::empty(parameters_[t].sizes(), host);
      v[t] = torch::empty(parameters_[t].sizes(), host);
      if (!binary_io::ReadTensorData(in, m[t]) || !binary_io::ReadTensorData(in, v[t])) {
        return Status::Corruption("adam state: truncated moments");
      }
      m[t] = m[t].to(parameters_[t].device());
      v[t] = v[t].to(parameters_[t].device());
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("adam state: ") + e.what());
  }
  exp_avg_ = std::move(m);
  exp_avg_sq_ = std::move(v);
  steps_ = steps;
  return Status::Ok();
}

}  // namespace towerstream::model
