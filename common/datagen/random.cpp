// Seeding, the normal distribution and the arithmetic-only exp/log.
#include "common/datagen/random.h"

#include <cmath>
#include <limits>

namespace towerstream::datagen {
namespace {

// ln 2 split so that k * kLn2Hi is exact for the |k| < 2^11 used here.
constexpr double kLn2Hi = 6.93147180369123816490e-01;
constexpr double kLn2Lo = 1.90821492927058770002e-10;
constexpr double kLn2 = 0.69314718055994530942;
constexpr double kInvLn2 = 1.44269504088896338700;
constexpr double kSqrtHalf = 0.70710678118654752440;

}  // namespace

double PortableExp(double x) {
  if (x > 709.0) return std::numeric_limits<double>::infinity();
  if (x < -745.0) return 0.0;
  // x = k ln2 + r with |r| <= ln2 / 2; exp(r) by its Taylor series to r^15 / 15!, which is
  // below 2^-53 relative for |r| <= 0.35. std::floor and std::ldexp are exact operations.
  const double k = std::floor(x * kInvLn2 + 0.5);
  const double r = (x - k * kLn2Hi) - k * kLn2Lo;
  double term = 1.0;
  double sum = 1.0;
  for (int i = 1; i <= 15; ++i) {
    term = term * r / i;
    sum += term;
  }
  return std::ldexp(sum, static_cast<int>(k));
}

double PortableLog(double x) {
  if (!(x > 0)) return -std::numeric_limits<double>::infinity();
  if (x == std::numeric_limits<double>::infinity()) return x;
  // x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m - 1) / (m + 1),
  // |s| <= 0.1716, so the odd series to s^27 is below 2^-53 relative. frexp is exact.
  int e = 0;
  double m = std::frexp(x, &e);
  if (m < kSqrtHalf) {
    m *= 2;
    --e;
  }
  const double s = (m - 1) / (m + 1);
  const double s2 = s * s;
  double sum = 0.0;
  for (int i = 27; i >= 3; i -= 2) sum = (sum + 1.0 / i) * s2;
  return 2 * s * (1 + sum) + e * kLn2;
}

Rng::Rng(uint64_t seed) {
  // Consecutive SplitMix64 outputs; Mix64 is a bijection, so at most one word can be zero.
  for (uint64_t i = 0; i < 4; ++i) s_[i] = Mix64(seed + i * 0x9e3779b97f4a7c15ULL);
}

double Rng::Normal() {
  // std::sqrt is exactly rounded by IEEE 754, so it is portable.
  while (true) {
    const double u = 2 * Uniform() - 1;
    const double v = 2 * Uniform() - 1;
    const double s = u * u + v * v;
    if (s > 0 && s < 1) return u * std::sqrt(-2 * PortableLog(s) / s);
  }
}

}  // namespace towerstream::datagen
