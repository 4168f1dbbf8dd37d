// Fast CPU building blocks of the training step: GEMM through oneDNN, and linear and L2
// normalisation layers as single autograd nodes.
//
// LibTorch's CPU matmul goes through the system BLAS; Debian's OpenBLAS falls back to its
// generic kernels on CPUs it does not recognise (a virtualised Xeon, say), several times slower
// than oneDNN's JIT kernels, which read the CPU's features directly. LibTorch links oneDNN
// anyway (libdnnl); when the build finds its header (TOWERSTREAM_HAVE_DNNL) float32 CPU
// matrix products use dnnl_sgemm, elsewhere (other devices, builds without it) at::mm. Results
// agree to float rounding. Stateless functions; thread-safe.
#pragma once

#include <torch/types.h>

namespace towerstream::model {

// c = alpha * op(a) · op(b) + beta * c, op(x) = x or xᵀ: 2-D float tensors on one device, `c`
// contiguous and of the product's shape (with beta == 0 its contents are ignored).
void Gemm(bool transpose_a, bool transpose_b, float alpha, const torch::Tensor& a,
          const torch::Tensor& b, float beta, torch::Tensor& c);

// op(a) · op(b) as a new tensor.
torch::Tensor MatMul(const torch::Tensor& a, const torch::Tensor& b, bool transpose_a = false,
                     bool transpose_b = false);

// x · weightᵀ + bias ([B, in] x [out, in] -> [B, out]) as one autograd node whose forward and
// backward are Gemm calls: nn::Linear's arithmetic with fewer, faster kernels.
torch::Tensor Linear(const torch::Tensor& x, const torch::Tensor& weight,
                     const torch::Tensor& bias);

// Each row of x divided by its L2 norm (at least eps), as one autograd node (fused loops on a
// CPU; the usual ops elsewhere).
torch::Tensor L2Normalize(const torch::Tensor& x, double eps = 1e-12);

// Whether float CPU products use oneDNN in this build.
bool FastGemmAvailable();

// Asks the system BLAS, if it is OpenBLAS, to use `threads` threads. Its pthread pool spins
// while idle and competes with LibTorch's OpenMP threads for the same cores; the services run
// it single-threaded (their products go to oneDNN, on LibTorch's threads). Process-wide: call
// it once at start-up. Returns false when the BLAS has no such setting.
bool LimitBlasThreads(int threads);

}  // namespace towerstream::model
