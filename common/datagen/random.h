// Portable randomness for the generator: a seeded xoshiro256** stream, stateless hashing, and
// exp/log written with + - * / only.
//
// Output must be identical for a seed on every platform, so nothing here uses std::mt19937
// with std distributions (their algorithms differ between standard libraries) or libm (whose
// last bits differ between vendors). Rng is a value type, not thread-safe; give each thread
// or purpose its own stream (Rng::Stream).
#pragma once

#include <cstdint>

namespace towerstream::datagen {

// SplitMix64's finaliser: a bijective 64-bit mix, good for hashing counters into seeds.
constexpr uint64_t Mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// Hash of several 64-bit words (order matters).
constexpr uint64_t Hash64(uint64_t a, uint64_t b) {
  return Mix64(Mix64(a) ^ (b * 0xd6e8feb86659fd93ULL));
}
constexpr uint64_t Hash64(uint64_t a, uint64_t b, uint64_t c) { return Hash64(Hash64(a, b), c); }

// A double in [0, 1) from the top 53 bits of `bits`.
constexpr double ToUnit(uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// exp and natural log accurate to a few ulp, built from arithmetic only (see the file comment).
double PortableExp(double x);
double PortableLog(double x);  // x > 0

class Rng {
 public:
  // Seeds the four state words from SplitMix64 so that any 64-bit seed (0 included) is good.
  explicit Rng(uint64_t seed);

  // An independent stream for one purpose (e.g. "customers"), so that changing how many numbers
  // one part of the generator draws leaves the others' output unchanged.
  static Rng Stream(uint64_t seed, uint64_t purpose) { return Rng(Hash64(seed, purpose)); }

  uint64_t Next() {
    const uint64_t result = Rotl(s_[1] * 5, 7) * 9;
    const uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = Rotl(s_[3], 45);
    return result;
  }

  double Uniform() { return ToUnit(Next()); }  // [0, 1)
  // Uniform in [0, n), n > 0 (Lemire's multiply-shift; the bias is below 2^-32 for n < 2^32).
  uint64_t Below(uint64_t n) {
    return static_cast<uint64_t>((static_cast<unsigned __int128>(Next()) * n) >> 64);
  }
  int64_t Between(int64_t lo, int64_t hi) {  // inclusive
    return lo + static_cast<int64_t>(Below(static_cast<uint64_t>(hi - lo) + 1));
  }
  bool Bernoulli(double p) { return Uniform() < p; }
  // Standard normal (Marsaglia's polar method).
  double Normal();
  // exp(Normal() * sigma + mu).
  double LogNormal(double mu, double sigma) { return PortableExp(mu + sigma * Normal()); }

 private:
  static constexpr uint64_t Rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
};

}  // namespace towerstream::datagen
