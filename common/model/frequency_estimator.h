// Streaming item-frequency estimate for the logQ correction of in-batch softmax (Yi et al. 2019).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <vector>

#include "common/base/status.h"

namespace towerstream::model {

struct FrequencyEstimatorOptions {
  // Buckets per hash function (H in the paper). More buckets, fewer collisions; each costs 16
  // bytes per hash function (last step seen as int64, average gap as double).
  int64_t buckets = int64_t{1} << 20;
  // Independent hash functions (m in algorithm 3). The estimate uses the largest gap over them,
  // since a collision can only shorten a bucket's gap; 1 is algorithm 2.
  int64_t hash_functions = 2;
  // Weight of the newest gap in the moving average: larger adapts faster to a changing
  // distribution, smaller is less noisy (relative noise is about sqrt(alpha / 2)).
  double alpha = 0.01;
  // Average gap, in steps, of a bucket never seen; an unseen item's probability is
  // 1 / initial_gap. The first sighting of a bucket only records its step (there is no gap yet).
  double initial_gap = 100.0;
  // The estimated gap is clamped to [min_gap, max_gap] before p = 1 / gap, so that log p stays
  // finite: min_gap bounds an item's expected occurrences per step, max_gap its rarity.
  double min_gap = 1e-3;
  double max_gap = 1e9;
  // Seed of the hash functions: the same seed gives the same buckets on every device.
  uint64_t seed = 0x5EED5EED;
  // Where the state lives and the arithmetic runs (the trainer's device).
  torch::Device device = torch::kCPU;
  // On a CPU, update and look up with loops over the batch (a few dozen small tensor ops cost
  // more than the arithmetic at micro-batch sizes); false runs the tensor ops a GPU runs, so
  // that a machine without one can check them against the loops. Not saved.
  bool host_loops = true;

  Status Validate() const;
};

// Estimates p(y), the expected number of occurrences of item y per step, from the average
// number of steps between its occurrences (algorithms 2 and 3 of Yi et al., RecSys 2019).
// Not thread-safe: one trainer thread updates and reads it. Owns its state tensors; movable,
// not copyable (a copy would share the tensors' storage).
//
// Update rule, per hash function i and bucket b = h_i(y), for each occurrence of y at step t:
//   B[b] <- (1 - alpha) * B[b] + alpha * (t - A[b]);  A[b] <- t
// (the first sighting of b only sets A[b]). Occurrences within one batch are applied as the
// paper's loop over the batch does: the first at step t sees the gap t - A[b], each further one
// a gap of 0; so k occurrences give B[b] <- (1 - alpha)^(k - 1) * ((1 - alpha) * B[b] +
// alpha * (t - A[b])), computed in closed form, and 1 / B tracks occurrences per step.
class FrequencyEstimator {
 public:
  static Result<std::unique_ptr<FrequencyEstimator>> Create(
      const FrequencyEstimatorOptions& options);

  // Reads the state written by Save onto `device` (the other options come from the stream).
  // With `expected`, a state of another shape (buckets, hash functions) is FailedPrecondition,
  // found before its arrays are allocated: a model loads only the estimator its options describe.
  static Result<std::unique_ptr<FrequencyEstimator>> Load(
      std::istream& in, torch::Device device, const FrequencyEstimatorOptions* expected = nullptr);

  FrequencyEstimator(FrequencyEstimator&&) = default;
  FrequencyEstimator& operator=(FrequencyEstimator&&) = default;
  FrequencyEstimator(const FrequencyEstimator&) = delete;
  FrequencyEstimator& operator=(const FrequencyEstimator&) = delete;

  // Records the items of one micro-batch (integer ids, any shape, any device) seen at global
  // step `step`. Steps must be >= 0 and never decrease across calls; several calls may share a
  // step (they act as one batch).
  Status Update(const torch::Tensor& item_ids, int64_t step);

  // log p for each id: float32, same shape as `item_ids`, on the estimator's device. The logQ
  // correction is logit - LogProbability(ids). Passing non-integer ids is a bug (TORCH_CHECK
  // throws).
  torch::Tensor LogProbability(const torch::Tensor& item_ids) const;

  // Writes options (except the device), the last step and the state as a versioned
  // little-endian binary.
  Status Save(std::ostream& out) const;

  const FrequencyEstimatorOptions& options() const { return options_; }
  // The largest step passed to Update, or -1 before the first.
  int64_t last_step() const { return last_step_; }

 private:
  explicit FrequencyEstimator(const FrequencyEstimatorOptions& options);

  // Indices into the flat [hash_functions * buckets] state, shape [hash_functions, numel]:
  // row i holds each item's bucket under hash function i, offset by i * buckets.
  torch::Tensor FlatBuckets(const torch::Tensor& item_ids) const;

  FrequencyEstimatorOptions options_;
  // The same update and lookup as loops over the batch, for state on the host: a few dozen
  // small tensor ops cost more than the arithmetic at micro-batch sizes.
  void UpdateOnHost(const torch::Tensor& item_ids, int64_t step);
  torch::Tensor LogProbabilityOnHost(const torch::Tensor& item_ids) const;
  int64_t HostBucket(int64_t id, int64_t function) const;

  std::vector<int64_t> seeds_;  // per-function offset of the mixer
  torch::Tensor hash_seeds_;    // int64 [hash_functions, 1]: seeds_ as a tensor on the device
  torch::Tensor last_seen_;     // int64 [hash_functions * buckets] (A), -1 where never seen
  torch::Tensor gap_;           // float64 [hash_functions * buckets] (B)
  int64_t last_step_ = -1;
};

}  // namespace towerstream::model
