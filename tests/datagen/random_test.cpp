// Portable math, the seeded random streams and alias tables behave the same everywhere.
#include "common/datagen/random.h"

#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/datagen/alias_table.h"

namespace towerstream::datagen {
namespace {

TEST(PortableMathTest, ExpMatchesTheStandardLibrary) {
  for (double x :
       {-700.0, -30.5, -1.0, -1e-9, 0.0, 1e-12, 0.3465, 0.5, 1.0, 2.302585, 10.0, 88.7, 700.0}) {
    EXPECT_NEAR(PortableExp(x) / std::exp(x), 1.0, 1e-14) << "x = " << x;
  }
  EXPECT_EQ(PortableExp(0.0), 1.0);
  EXPECT_EQ(PortableExp(-1000.0), 0.0);
  EXPECT_TRUE(std::isinf(PortableExp(1000.0)));
}

TEST(PortableMathTest, LogMatchesTheStandardLibrary) {
  for (double x : {1e-300, 1e-10, 0.01, 0.5, 0.7071, 0.99999, 1.00001, 2.0, 45.0, 1e10, 1e300}) {
    EXPECT_NEAR(PortableLog(x), std::log(x), 1e-14 * std::max(1.0, std::fabs(std::log(x))))
        << "x = " << x;
  }
  EXPECT_EQ(PortableLog(1.0), 0.0);
  EXPECT_TRUE(std::isinf(PortableLog(0.0)));
}

// These values are the contract that a seed means the same data everywhere: if they change,
// every generated dataset changes.
TEST(RngTest, ProducesTheSameNumbersOnEveryPlatform) {
  EXPECT_EQ(Mix64(0), 0xe220a8397b1dcdafULL);  // SplitMix64's first output from state 0
  Rng rng(42);
  EXPECT_EQ(rng.Next(), 0x15780b2e0c2ec716ULL);
  EXPECT_EQ(rng.Next(), 0x6104d9866d113a7eULL);
  EXPECT_EQ(rng.Next(), 0xae17533239e499a1ULL);
  EXPECT_EQ(Rng::Stream(42, 7).Next(), 0x198a93c238b57ba4ULL);
  Rng normal(1);
  EXPECT_EQ(normal.Normal(), 1.8843961047879769);
  EXPECT_EQ(normal.Normal(), 1.302090250702661);
}

TEST(RngTest, StreamsForDifferentPurposesDiffer) {
  EXPECT_NE(Rng::Stream(1, 1).Next(), Rng::Stream(1, 2).Next());
  EXPECT_NE(Rng::Stream(1, 1).Next(), Rng::Stream(2, 1).Next());
}

TEST(RngTest, UniformAndBelowStayInRange) {
  Rng rng(3);
  for (uint64_t n : {1ULL, 2ULL, 7ULL, 1000ULL, 1ULL << 40}) {
    for (int i = 0; i < 10000; ++i) {
      const double u = rng.Uniform();
      ASSERT_GE(u, 0.0);
      ASSERT_LT(u, 1.0);
      ASSERT_LT(rng.Below(n), n) << "n = " << n;
    }
  }
  for (int i = 0; i < 1000; ++i) {
    const int64_t v = rng.Between(-3, 3);
    ASSERT_GE(v, -3);
    ASSERT_LE(v, 3);
  }
}

TEST(RngTest, NormalHasZeroMeanAndUnitVariance) {
  Rng rng(5);
  constexpr int kDraws = 200000;
  double sum = 0, squares = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = rng.Normal();
    sum += x;
    squares += x * x;
  }
  EXPECT_NEAR(sum / kDraws, 0.0, 0.01);
  EXPECT_NEAR(squares / kDraws, 1.0, 0.02);
}

TEST(AliasTableTest, SamplesInProportionToWeights) {
  const std::vector<double> weights = {1, 0, 3, 6, 0.5, 9.5};  // total 20
  AliasTable table(weights);
  ASSERT_EQ(table.size(), weights.size());
  EXPECT_DOUBLE_EQ(table.total_weight(), 20);
  Rng rng(11);
  constexpr int kDraws = 400000;
  std::vector<int> counts(weights.size(), 0);
  for (int i = 0; i < kDraws; ++i) ++counts[table.Sample(rng)];
  for (size_t i = 0; i < weights.size(); ++i) {
    const double p = weights[i] / 20;
    const double sigma = std::sqrt(kDraws * p * (1 - p));
    EXPECT_NEAR(counts[i], kDraws * p, 5 * sigma + 1) << "index " << i << ", weight " << weights[i];
  }
}

TEST(AliasTableTest, NeverDrawsZeroWeights) {
  std::vector<double> weights(1000, 0.0);
  weights[17] = 1e-9;
  weights[998] = 5;
  AliasTable table(weights);
  Rng rng(2);
  for (int i = 0; i < 100000; ++i) {
    const uint32_t k = table.Sample(rng);
    ASSERT_TRUE(k == 17 || k == 998) << k;
  }
}

TEST(AliasTableTest, IsEmptyWithoutPositiveWeights) {
  EXPECT_TRUE(AliasTable(std::vector<double>{}).empty());
  EXPECT_TRUE(AliasTable(std::vector<double>{0, 0}).empty());
  AliasTable table(std::vector<double>{1, 2});
  EXPECT_FALSE(table.empty());
  table.Build(std::vector<double>{0});  // rebuilding reuses the table
  EXPECT_TRUE(table.empty());
}

}  // namespace
}  // namespace towerstream::datagen
