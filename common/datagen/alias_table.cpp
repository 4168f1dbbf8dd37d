// Vose's construction of alias tables.
#include "common/datagen/alias_table.h"

#include <cmath>

namespace towerstream::datagen {
namespace {

// A probability in [0, 1] as a threshold on a 64-bit fraction; 1 maps to "always keep".
uint64_t Threshold(double p) {
  if (p >= 1.0) return UINT64_MAX;
  if (p <= 0.0) return 0;
  return static_cast<uint64_t>(std::ldexp(p, 64));
}

}  // namespace

void AliasTable::Build(std::span<const double> weights) {
  slots_.clear();
  total_ = 0;
  for (double w : weights) total_ += w;
  if (!(total_ > 0)) {
    total_ = 0;
    return;
  }
  const size_t n = weights.size();
  slots_.resize(n);
  scaled_.resize(n);
  small_.clear();
  large_.clear();
  const double scale = static_cast<double>(n) / total_;
  for (size_t i = 0; i < n; ++i) {
    scaled_[i] = weights[i] * scale;
    (scaled_[i] < 1.0 ? small_ : large_).push_back(static_cast<uint32_t>(i));
  }
  while (!small_.empty() && !large_.empty()) {
    const uint32_t s = small_.back();
    small_.pop_back();
    const uint32_t l = large_.back();
    slots_[s] = {Threshold(scaled_[s]), l};
    scaled_[l] -= 1.0 - scaled_[s];
    if (scaled_[l] < 1.0) {
      large_.pop_back();
      small_.push_back(l);
    }
  }
  // What is left is 1 up to rounding: always keep.
  for (uint32_t i : large_) slots_[i] = {UINT64_MAX, i};
  for (uint32_t i : small_) slots_[i] = {UINT64_MAX, i};
}

}  // namespace towerstream::datagen
