// Adam with decoupled weight decay (AdamW) for the towers' dense parameters, in one fused pass
// per tensor on a CPU.
//
// LibTorch's optimiser runs about ten tensor ops per parameter per step, which at micro-batch
// sizes costs more than the arithmetic; this does the same update (Loshchilov and Hutter's
// AdamW, LibTorch's formula: p -= lr * (m_hat / (sqrt(v_hat) + eps) + wd * p)) as one loop over
// each tensor, and as tensor ops on other devices. Not thread-safe; holds its parameters by
// reference (the modules own them). Neither copyable nor movable.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <istream>
#include <ostream>
#include <vector>

#include "common/base/status.h"

namespace towerstream::model {

struct DenseAdamOptions {
  double learning_rate = 2e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Decoupled weight decay; 0 is plain Adam.
  double weight_decay = 0.0;

  Status Validate() const;
};

class DenseAdam {
 public:
  DenseAdam(std::vector<torch::Tensor> parameters, const DenseAdamOptions& options);
  DenseAdam(const DenseAdam&) = delete;
  DenseAdam& operator=(const DenseAdam&) = delete;

  // Clears the parameters' gradients (sets them undefined, as LibTorch's zero_grad(true)).
  void ZeroGrad();
  // One update of every parameter that has a gradient.
  void Step();

  // Step count and moments, little-endian binary with a format version; Load requires the same
  // parameter shapes.
  Status Save(std::ostream& out) const;
  Status Load(std::istream& in);

  int64_t steps() const { return steps_; }

 private:
  std::vector<torch::Tensor> parameters_;
  std::vector<torch::Tensor> exp_avg_;
  std::vector<torch::Tensor> exp_avg_sq_;
  DenseAdamOptions options_;
  int64_t steps_ = 0;
};

}  // namespace towerstream::model
