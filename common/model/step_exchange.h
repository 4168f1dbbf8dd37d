// How a training step talks to the other ranks of a data-parallel group.
//
// The model needs only two collectives: an all-gather whose parts may differ in their first
// dimension (the batch's articles, the sparse row gradients), and a sum of one dense buffer
// (the towers' gradients). common/distributed implements them over c10d's Gloo process group;
// the model itself stays free of any networking, so the core-only build keeps it. A single
// trainer passes no exchange at all.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <vector>

#include "common/base/status.h"

namespace towerstream::model {

// What the collectives cost so far, for metrics and the scaling benchmark.
struct ExchangeStats {
  int64_t collectives = 0;  // operations started (a variable-size all-gather counts as one)
  int64_t bytes_sent = 0;   // payload this rank contributed, padding included
  int64_t bytes_received = 0;
  double seconds = 0;  // wall time inside collectives, waiting for slower ranks included
};

class StepExchange {
 public:
  virtual ~StepExchange() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // Every rank's `local`, in rank order. `local` is a CPU tensor of any dtype with at least
  // one dimension; all ranks pass the same dtype and the same sizes after the first, which
  // may differ (0 included). An error (Unavailable) means the group is broken: a rank died or
  // timed out, and no further collective of this exchange will succeed.
  virtual Result<std::vector<torch::Tensor>> AllGather(const torch::Tensor& local) = 0;

  // Sums `values` (a contiguous float32 CPU tensor of the same size on every rank) across the
  // group, in place; every rank ends with bit-identical sums. Errors as AllGather.
  virtual Status AllReduceSum(torch::Tensor& values) = 0;

  virtual ExchangeStats stats() const = 0;
};

}  // namespace towerstream::model
