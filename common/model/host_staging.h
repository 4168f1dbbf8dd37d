// Host tensors bound for the model's device, and their copies there that do not make the host
// wait: on a GPU, the host prepares the next micro-batch while the device trains on this one.
#pragma once

#include <torch/types.h>

namespace towerstream::model {

// An uninitialised host tensor, in pinned (page-locked) memory when `device` is a GPU so that
// ToDevice can copy it asynchronously. LibTorch's pinned allocator keeps such memory from reuse
// until the copies that read it have run, so the tensor may be dropped right after ToDevice.
inline torch::Tensor HostTensor(at::IntArrayRef sizes, torch::ScalarType dtype,
                                torch::Device device) {
  return torch::empty(sizes, torch::TensorOptions().dtype(dtype).pinned_memory(device.is_cuda()));
}

// `host` on `device`: the tensor itself for the CPU; otherwise a copy, asynchronous when `host`
// is pinned (a pageable source makes the host wait for the copy).
inline torch::Tensor ToDevice(const torch::Tensor& host, torch::Device device) {
  if (device.is_cpu() && host.is_cpu()) return host;
  return host.to(device, /*non_blocking=*/host.is_cpu() && device.is_cuda() && host.is_pinned());
}

}  // namespace towerstream::model
