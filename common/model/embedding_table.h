// Collisionless, growing embedding table with row-wise Adagrad, for ids that keep arriving.
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <istream>
#include <memory>
#include <ostream>
#include <span>
#include <unordered_map>
#include <vector>

#include "common/base/status.h"
#include "common/model/row_wise_adagrad.h"

namespace towerstream::model {

// An id that is not there (padding of a recent-purchase list); real ids are >= 0.
inline constexpr int64_t kNoId = -1;

struct EmbeddingTableOptions {
  // Width of every row.
  int64_t dim = 64;
  // Sightings after which an id gets its own row; before, it shares a hashed cold row (so
  // one-off ids do not each cost a row). 1 admits on first sight.
  int64_t admit_after = 2;
  // Shared hashed rows for ids not yet admitted (or refused for lack of rows); more rows mean
  // fewer collisions among cold ids.
  int64_t cold_rows = 1024;
  // An id last seen more than this many steps ago is forgotten and its row reclaimed (stale
  // rows cost memory and hold outdated vectors); 0 keeps everything forever. Lookup sweeps at
  // most once every expire_after steps, so reclaiming lags by up to expire_after steps.
  int64_t expire_after = 0;
  // Own rows allocated up front; capacity doubles from here as ids are admitted.
  int64_t initial_capacity = 4096;
  // Most own rows ever held (0 = unlimited); when full, new ids stay on cold rows.
  int64_t max_rows = 0;
  // Standard deviation of the normal initialisation of every fresh or reused row.
  double init_std = 0.01;
  // Added to sqrt(accumulator) so a row with a zero history does not divide by zero.
  double eps = 1e-8;
  // Where the weights and accumulators live; the id map always stays on the host.
  torch::Device device = torch::kCPU;
  // On a CPU, run Adagrad as fused loops (several times faster at batch 2048) rather than
  // unique/index_add_ tensor ops; the arithmetic is the same. False only to cross-check them.
  bool fused_host_update = true;
  // Seeds every row initialisation: the same seed and the same calls give the same values.
  uint64_t seed = 1;

  Status Validate() const;
};

// Monotone counters (except rows_in_use, capacity and tracked_ids, which are levels).
struct EmbeddingTableStats {
  int64_t rows_in_use = 0;   // own rows currently assigned to an id
  int64_t capacity = 0;      // own rows allocated in the weight tensor
  int64_t tracked_ids = 0;   // ids in the map, admitted or still counting sightings
  int64_t admitted = 0;      // admissions ever (a re-admitted expired id counts again)
  int64_t expired = 0;       // own rows reclaimed by expiry
  int64_t cold_lookups = 0;  // lookups answered with a shared cold row
  int64_t refused = 0;       // admissions refused because max_rows was reached
};

// Maps int64 ids to rows of one float weight matrix: rows [0, cold_rows) are the shared hashed
// cold rows, the rest are own rows of admitted ids. Each row has one Adagrad accumulator.
// Not thread-safe: one trainer thread owns it. Move-only; Gather's results are copies.
//
// Training pattern: rows = Lookup(ids, step); emb = Gather(rows).requires_grad_(); ...;
// loss.backward(); ApplyRowWiseAdagrad(rows, emb.grad(), lr).
class EmbeddingTable {
 public:
  static Result<std::unique_ptr<EmbeddingTable>> Create(const EmbeddingTableOptions& options);

  EmbeddingTable(EmbeddingTable&&) = default;
  EmbeddingTable& operator=(EmbeddingTable&&) = default;
  EmbeddingTable(const EmbeddingTable&) = delete;
  EmbeddingTable& operator=(const EmbeddingTable&) = delete;

  // Row indices (int64, same shape, on options.device) for `ids` (int64, any device and shape),
  // recording one sighting per element at `step`; admits, grows and expires as needed. Passing
  // a non-int64 tensor is a bug (TORCH_CHECK throws).
  torch::Tensor Lookup(const torch::Tensor& ids, int64_t step);

  // Rows for `ids` as Lookup would give them, without recording sightings (no admission,
  // growth or expiry): for scoring, and for ids that are features rather than events (recent
  // purchases). kNoId elements map to -1.
  torch::Tensor RowsOf(const torch::Tensor& ids) const;

  // weight[rows], shape rows.sizes() + {dim}; a copy without autograd history.
  torch::Tensor Gather(const torch::Tensor& rows) const;

  // The mean of weight[rows] over the valid (>= 0) entries of each row of `rows` [B, L]: [B, dim].
  torch::Tensor GatherMean(const torch::Tensor& rows) const;

  // Row-wise Adagrad over the unique rows of `rows` (grads: rows.sizes() + {dim}); gradients of
  // a row repeated in the batch are summed first. acc[r] += mean(g_r^2);
  // w[r] -= lr * g_r / (sqrt(acc[r]) + eps).
  void ApplyRowWiseAdagrad(const torch::Tensor& rows, const torch::Tensor& grads, float lr);
  // The same over several gradient sources at once (one Adagrad step per row, whatever the
  // number of sources that touched it): e.g. an article's own row and its uses in histories.
  void ApplyRowWiseAdagrad(std::span<const RowGradients> parts, float lr);

  // The summed gradient of each distinct row `parts` touch, without applying it (see
  // model::SumRowGradients): a trainer group exchanges these. Host tables only.
  RowGradients SumGradients(std::span<const RowGradients> parts);

  // Forgets every id last seen more than expire_after steps before `step` (admitted or not) and
  // frees their rows; returns the rows freed. Lookup calls it itself; no-op if expire_after is 0.
  int64_t ExpireStale(int64_t step);

  // The row an id would get now without recording a sighting (own row or its cold row).
  int64_t RowOf(int64_t id) const;

  // State for snapshots: weights, accumulators, id map (counts, last-seen steps), free list,
  // counters. Little-endian binary with a format version.
  Status Save(std::ostream& out) const;
  // Replaces this table's state with one written by Save; dim and cold_rows must match the
  // options this table was created with; the other options stay those of this table.
  Status Load(std::istream& in);

  // One table holding every shard's ids, for serving what a trainer group saved: each rank of
  // the group keeps its own customers' rows, while the shared cold rows are kept identical on
  // every rank. The shards must come from tables with the same options, hold disjoint ids and
  // bit-identical cold rows (FailedPrecondition naming the shard otherwise); their own rows are
  // renumbered shard after shard, and the counters added up. The merged table is for lookups
  // (RowsOf, Gather); training it further works too, with the options of shards[0].
  static Result<std::unique_ptr<EmbeddingTable>> Merge(
      std::span<const EmbeddingTable* const> shards);

  EmbeddingTableStats stats() const;
  const EmbeddingTableOptions& options() const { return options_; }
  const torch::Tensor& weight() const { return weight_; }
  const torch::Tensor& accumulator() const { return accumulator_; }

 private:
  struct Entry {
    int64_t row;        // own row, or -1 while counting sightings (or refused)
    int64_t count;      // sightings so far, saturating once admitted
    int64_t last_seen;  // step of the latest sighting
  };

  explicit EmbeddingTable(const EmbeddingTableOptions& options);

  int64_t ColdRow(int64_t id) const;
  // Pops a free row or takes the next never-used one; -1 when max_rows is reached.
  int64_t AllocateRow();
  // Grows weight and accumulator (doubling) to hold at least `rows` rows in total.
  void EnsureCapacity(int64_t rows);
  // Fresh normal values and zero accumulators for `rows`, from the seed and a draw counter.
  void InitRows(const std::vector<int64_t>& rows);

  EmbeddingTableOptions options_;
  torch::Tensor weight_;       // [cold_rows + capacity, dim] float32
  torch::Tensor accumulator_;  // [cold_rows + capacity] float32
  std::unordered_map<int64_t, Entry> ids_;
  std::vector<int64_t> free_rows_;  // popped from the back: kept sorted descending per sweep
  int64_t next_row_ = 0;            // first never-used row (a full index, >= cold_rows)
  int64_t rows_in_use_ = 0;
  int64_t init_draws_ = 0;  // initialisations so far: seeds the next one
  int64_t last_sweep_step_ = 0;
  int64_t admitted_ = 0;
  int64_t expired_ = 0;
  int64_t cold_lookups_ = 0;
  int64_t refused_ = 0;
  // Scratch kept between calls to avoid reallocating: Lookup's newly assigned rows and the
  // host Adagrad's.
  std::vector<int64_t> fresh_rows_;
  RowWiseAdagradScratch adagrad_scratch_;
};

}  // namespace towerstream::model
