// Walker/Vose alias tables: O(1) sampling from a fixed discrete distribution.
//
// Build is O(n) and reuses the table's memory, so per-day tables can be rebuilt cheaply.
// Sampling uses one 64-bit random number. A value type; not thread-safe to Build while
// another thread samples.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "common/datagen/random.h"

namespace towerstream::datagen {

class AliasTable {
 public:
  AliasTable() = default;
  explicit AliasTable(std::span<const double> weights) { Build(weights); }

  // Weights must be finite and >= 0. All-zero (or no) weights leave the table empty.
  void Build(std::span<const double> weights);

  bool empty() const { return slots_.empty(); }
  uint32_t size() const { return static_cast<uint32_t>(slots_.size()); }
  double total_weight() const { return total_; }

  // An index in [0, size()) drawn with probability weight / total. Requires !empty().
  uint32_t Sample(Rng& rng) const {
    // The high half of r * n picks the slot; the low half is a fresh uniform for the coin.
    const unsigned __int128 product = static_cast<unsigned __int128>(rng.Next()) * slots_.size();
    const Slot& slot = slots_[static_cast<size_t>(product >> 64)];
    return static_cast<uint64_t>(product) < slot.threshold ? static_cast<uint32_t>(product >> 64)
                                                           : slot.alias;
  }

 private:
  struct Slot {
    uint64_t threshold;  // keep this slot when the coin (a 64-bit fraction) is below it
    uint32_t alias;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> small_, large_;  // scratch for Build, kept to avoid reallocations
  std::vector<double> scaled_;
  double total_ = 0;
};

}  // namespace towerstream::datagen
