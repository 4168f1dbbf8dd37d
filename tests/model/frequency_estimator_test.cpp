// FrequencyEstimator: the paper's update rule, convergence on a Zipf stream, drift, persistence.
#include "common/model/frequency_estimator.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace towerstream::model {
namespace {

std::unique_ptr<FrequencyEstimator> MakeEstimator(const FrequencyEstimatorOptions& options) {
  auto estimator = FrequencyEstimator::Create(options);
  EXPECT_TRUE(estimator.ok()) << estimator.status().ToString();
  return std::move(estimator).value();
}

torch::Tensor Ids(const std::vector<int64_t>& ids) { return torch::tensor(ids, torch::kLong); }

// Estimated p for each id, as doubles.
std::vector<double> Probabilities(const FrequencyEstimator& estimator,
                                  const std::vector<int64_t>& ids) {
  const torch::Tensor p = estimator.LogProbability(Ids(ids)).exp().to(torch::kDouble).cpu();
  return std::vector<double>(p.data_ptr<double>(), p.data_ptr<double>() + p.numel());
}

// Items 0..n-1 drawn with probability proportional to 1 / rank^exponent; which item holds which
// rank is a permutation that Shift() redraws. Uses mt19937_64's raw output (fixed by the
// standard) and an inverse CDF, so the stream is the same on every platform.
class ZipfStream {
 public:
  ZipfStream(int64_t items, double exponent, uint64_t seed) : rng_(seed), item_of_rank_(items) {
    double total = 0;
    for (int64_t r = 0; r < items; ++r) {
      weight_.push_back(1.0 / std::pow(static_cast<double>(r + 1), exponent));
      total += weight_.back();
      cdf_.push_back(total);
    }
    for (double& w : weight_) w /= total;
    for (double& c : cdf_) c /= total;
    std::iota(item_of_rank_.begin(), item_of_rank_.end(), 0);
  }

  // A new, seeded assignment of items to ranks.
  void Shift() {
    for (size_t i = item_of_rank_.size() - 1; i > 0; --i) {
      std::swap(item_of_rank_[i], item_of_rank_[rng_() % (i + 1)]);
    }
  }

  torch::Tensor Draw(int64_t batch) {
    std::vector<int64_t> ids(batch);
    for (int64_t& id : ids) {
      const double u = static_cast<double>(rng_() >> 11) * 0x1.0p-53;
      const auto rank = std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
      id = item_of_rank_[std::min<size_t>(rank, cdf_.size() - 1)];
    }
    return Ids(ids);
  }

  int64_t ItemOfRank(int64_t rank) const { return item_of_rank_[rank]; }
  double ProbabilityOfRank(int64_t rank) const { return weight_[rank]; }

 private:
  std::mt19937_64 rng_;
  std::vector<int64_t> item_of_rank_;
  std::vector<double> weight_;
  std::vector<double> cdf_;
};

constexpr int64_t kItems = 1000;
constexpr int64_t kBatch = 64;
constexpr int64_t kTopItems = 50;
// Relative noise of the average gap is about sqrt(alpha / 2) = 3.5%.
constexpr double kAlpha = 0.0025;
constexpr int64_t kSteps = 16000;
// Estimates within about 20% of the truth (ln 1.2 = 0.18).
constexpr double kTolerance = 0.18;

FrequencyEstimatorOptions StreamOptions() {
  FrequencyEstimatorOptions options;
  options.buckets = 1 << 14;
  options.hash_functions = 2;
  options.alpha = kAlpha;
  return options;
}

// Runs `steps` batches of the stream starting at `*step`.
void Train(ZipfStream* stream, int64_t steps, int64_t* step, FrequencyEstimator* estimator) {
  for (int64_t i = 0; i < steps; ++i, ++*step) {
    ASSERT_TRUE(estimator->Update(stream->Draw(kBatch), *step).ok());
  }
}

struct LogError {
  double max = 0;   // largest |ln(estimate / truth)|
  double mean = 0;  // its mean
};

// |ln(estimate / truth)| over the `top` most frequent items, where the truth is the expected
// number of occurrences per step (batch size times the item's probability). Symmetric, unlike
// the relative error, which cannot exceed 1 for an underestimate.
LogError LogErrorOfTop(const ZipfStream& stream, const FrequencyEstimator& estimator, int64_t top) {
  std::vector<int64_t> ids;
  for (int64_t r = 0; r < top; ++r) ids.push_back(stream.ItemOfRank(r));
  const std::vector<double> p = Probabilities(estimator, ids);
  LogError error;
  for (int64_t r = 0; r < top; ++r) {
    const double e = std::abs(std::log(p[r] / (kBatch * stream.ProbabilityOfRank(r))));
    error.max = std::max(error.max, e);
    error.mean += e / static_cast<double>(top);
  }
  return error;
}

TEST(FrequencyEstimatorTest, ConvergesToTrueFrequenciesOfZipfStream) {
  auto estimator = MakeEstimator(StreamOptions());
  ZipfStream stream(kItems, /*exponent=*/1.0, /*seed=*/42);
  int64_t step = 0;
  Train(&stream, kSteps, &step, estimator.get());
  const double error = LogErrorOfTop(stream, *estimator, kTopItems).max;
  std::cout << "max |log error| of the top " << kTopItems << " after " << kSteps
            << " steps: " << error << "\n";
  EXPECT_LT(error, kTolerance);
}

TEST(FrequencyEstimatorTest, ReconvergesAfterDistributionShift) {
  auto estimator = MakeEstimator(StreamOptions());
  ZipfStream stream(kItems, /*exponent=*/1.0, /*seed=*/7);
  int64_t step = 0;
  Train(&stream, kSteps, &step, estimator.get());
  stream.Shift();
  // The new popular items were rare: the old estimates are far off, so the test can fail.
  const double before = LogErrorOfTop(stream, *estimator, kTopItems).max;
  EXPECT_GT(before, 1.0);
  Train(&stream, kSteps, &step, estimator.get());
  const double after = LogErrorOfTop(stream, *estimator, kTopItems).max;
  std::cout << "max |log error| of the top " << kTopItems << ": " << before
            << " right after the shift, " << after << " " << kSteps << " steps later\n";
  EXPECT_LT(after, kTolerance);
}

// The paper's loop over a batch, one item at a time, for items that share no bucket.
class SequentialReference {
 public:
  explicit SequentialReference(const FrequencyEstimatorOptions& options) : options_(options) {}

  void Update(const std::vector<int64_t>& ids, int64_t step) {
    for (int64_t id : ids) {
      auto [it, fresh] = state_.try_emplace(id, step, options_.initial_gap);
      if (!fresh) {
        auto& [last, gap] = it->second;
        gap = (1 - options_.alpha) * gap + options_.alpha * static_cast<double>(step - last);
        last = step;
      }
    }
  }

  double Probability(int64_t id) const {
    const auto it = state_.find(id);
    const double gap = it == state_.end() ? options_.initial_gap : it->second.second;
    return 1.0 / std::clamp(gap, options_.min_gap, options_.max_gap);
  }

 private:
  FrequencyEstimatorOptions options_;
  std::map<int64_t, std::pair<int64_t, double>> state_;  // id -> (last step, average gap)
};

TEST(FrequencyEstimatorTest, BatchedUpdateMatchesPaperLoopIncludingDuplicates) {
  struct Case {
    std::string name;
    std::vector<std::pair<int64_t, std::vector<int64_t>>> batches;  // (step, ids)
  };
  const std::vector<Case> cases = {
      {"one item per step", {{0, {5}}, {3, {5}}, {4, {5}}, {10, {5}}}},
      {"three copies in one batch", {{0, {5}}, {10, {5, 5, 5}}}},
      {"duplicates on first sighting", {{2, {9, 9, 9, 9}}, {6, {9}}}},
      {"two calls at one step act as one batch", {{0, {5}}, {8, {5, 5}}, {8, {5}}}},
      {"mixed items and gaps", {{0, {1, 2, 2}}, {1, {2, 3}}, {5, {1, 1, 3, 2}}, {50, {3}}}},
  };
  FrequencyEstimatorOptions options;
  options.buckets = 1 << 20;
  options.hash_functions = 1;
  options.alpha = 0.25;
  options.initial_gap = 7.0;
  for (const Case& c : cases) {
    auto estimator = MakeEstimator(options);
    SequentialReference reference(options);
    for (const auto& [step, ids] : c.batches) {
      ASSERT_TRUE(estimator->Update(Ids(ids), step).ok()) << c.name;
      reference.Update(ids, step);
    }
    const std::vector<int64_t> probe = {1, 2, 3, 5, 9, 1234};
    const std::vector<double> p = Probabilities(*estimator, probe);
    for (size_t i = 0; i < probe.size(); ++i) {
      EXPECT_NEAR(p[i], reference.Probability(probe[i]), 1e-6 * reference.Probability(probe[i]))
          << c.name << ", item " << probe[i];
    }
  }
}

TEST(FrequencyEstimatorTest, UnseenItemsGetInitialGap) {
  FrequencyEstimatorOptions options;
  options.initial_gap = 250.0;
  auto estimator = MakeEstimator(options);
  ASSERT_TRUE(estimator->Update(Ids({1, 2, 3}), 0).ok());
  const torch::Tensor log_p = estimator->LogProbability(Ids({1000, 2000}));
  EXPECT_TRUE(torch::allclose(log_p, torch::full({2}, -std::log(250.0))));
}

TEST(FrequencyEstimatorTest, ClampsGapToMinAndMax) {
  FrequencyEstimatorOptions options;
  options.hash_functions = 1;
  options.alpha = 1.0;  // the gap is the last one seen
  options.min_gap = 0.5;
  options.max_gap = 20.0;
  auto estimator = MakeEstimator(options);
  ASSERT_TRUE(estimator->Update(Ids({1, 2}), 0).ok());
  ASSERT_TRUE(estimator->Update(Ids({1}), 1000).ok());     // gap 1000, above max_gap
  ASSERT_TRUE(estimator->Update(Ids({2, 2}), 1000).ok());  // gap 0, below min_gap
  const std::vector<double> p = Probabilities(*estimator, {1, 2});
  EXPECT_NEAR(p[0], 1.0 / 20.0, 1e-6);
  EXPECT_NEAR(p[1], 1.0 / 0.5, 1e-6);
}

TEST(FrequencyEstimatorTest, MoreHashFunctionsReduceCollisionError) {
  // 64 buckets for 1000 items: every bucket is shared, so one hash function gives most items the
  // gap of a more popular neighbour; the longest gap over four functions is less contaminated.
  auto error_with = [](int64_t hash_functions) {
    FrequencyEstimatorOptions options = StreamOptions();
    options.buckets = 64;
    options.hash_functions = hash_functions;
    options.alpha = 0.01;
    auto estimator = MakeEstimator(options);
    ZipfStream stream(kItems, /*exponent=*/1.0, /*seed=*/3);
    int64_t step = 0;
    Train(&stream, /*steps=*/3000, &step, estimator.get());
    return LogErrorOfTop(stream, *estimator, /*top=*/100).mean;
  };
  const double one = error_with(1);
  const double four = error_with(4);
  std::cout << "mean |log error| of the top 100 with 64 buckets: " << one << " (1 hash), " << four
            << " (4 hashes)\n";
  EXPECT_LT(four, 0.8 * one);  // about 0.66 over seeds 1-8
}

TEST(FrequencyEstimatorTest, SaveLoadRoundTripGivesIdenticalEstimates) {
  auto estimator = MakeEstimator(StreamOptions());
  ZipfStream stream(kItems, /*exponent=*/1.0, /*seed=*/11);
  int64_t step = 0;
  Train(&stream, /*steps=*/200, &step, estimator.get());
  std::stringstream saved;
  ASSERT_TRUE(estimator->Save(saved).ok());
  auto loaded = FrequencyEstimator::Load(saved, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->last_step(), estimator->last_step());
  const torch::Tensor all = torch::arange(kItems, torch::kLong);
  EXPECT_TRUE(torch::equal((*loaded)->LogProbability(all), estimator->LogProbability(all)));
  // Both go on identically.
  const torch::Tensor next = stream.Draw(kBatch);
  ASSERT_TRUE(estimator->Update(next, step).ok());
  ASSERT_TRUE((*loaded)->Update(next, step).ok());
  EXPECT_TRUE(torch::equal((*loaded)->LogProbability(all), estimator->LogProbability(all)));
}

TEST(FrequencyEstimatorTest, LoadRejectsForeignOrTruncatedData) {
  FrequencyEstimatorOptions options;
  options.buckets = 128;
  auto estimator = MakeEstimator(options);
  ASSERT_TRUE(estimator->Update(Ids({1, 2, 3}), 4).ok());
  std::stringstream saved;
  ASSERT_TRUE(estimator->Save(saved).ok());
  const std::string bytes = saved.str();
  std::string bad_version = bytes;
  bad_version[8] = 9;
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"foreign magic", "NOTANESTIMATOR" + bytes.substr(14)},
      {"unknown version", bad_version},
      {"truncated header", bytes.substr(0, 30)},
      {"truncated arrays", bytes.substr(0, bytes.size() - 1)},
  };
  for (const auto& [name, data] : cases) {
    std::istringstream in(data);
    auto loaded = FrequencyEstimator::Load(in, torch::kCPU);
    ASSERT_FALSE(loaded.ok()) << name;
    EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption) << name;
  }
}

TEST(FrequencyEstimatorTest, SavesOnlyTheBucketsItHasSeen) {
  auto estimator = MakeEstimator(FrequencyEstimatorOptions());  // 2^20 buckets, 2 hashes
  ASSERT_TRUE(estimator->Update(Ids({1, 2, 3}), 4).ok());
  std::stringstream saved;
  ASSERT_TRUE(estimator->Save(saved).ok());
  // Header (76 bytes), the count, and 6 seen buckets of 24 bytes: not 2^21 x 16 bytes.
  EXPECT_EQ(saved.str().size(), 76u + 8u + 6u * 24u);
  auto loaded = FrequencyEstimator::Load(saved, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  const torch::Tensor ids = Ids({1, 2, 3, 4, 99});
  EXPECT_TRUE(torch::equal((*loaded)->LogProbability(ids), estimator->LogProbability(ids)));
}

TEST(FrequencyEstimatorTest, AnEstimatorThatSawNothingSavesAndLoads) {
  auto estimator = MakeEstimator(FrequencyEstimatorOptions());
  std::stringstream saved;
  ASSERT_TRUE(estimator->Save(saved).ok());
  EXPECT_EQ(saved.str().size(), 76u + 8u);  // the header and a count of 0
  auto loaded = FrequencyEstimator::Load(saved, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->last_step(), -1);
  const torch::Tensor ids = Ids({1, 2});
  EXPECT_TRUE(torch::equal((*loaded)->LogProbability(ids), estimator->LogProbability(ids)));
}

TEST(FrequencyEstimatorTest, ReadsTheDenseFormatOfVersionOne) {
  FrequencyEstimatorOptions options;
  options.buckets = 128;
  auto estimator = MakeEstimator(options);
  ASSERT_TRUE(estimator->Update(Ids({1, 2, 3}), 4).ok());
  ASSERT_TRUE(estimator->Update(Ids({2}), 9).ok());
  std::stringstream saved;
  ASSERT_TRUE(estimator->Save(saved).ok());
  const std::string sparse = saved.str();
  // Rebuild the version 1 file: the same header, then every bucket's last step and gap.
  constexpr size_t kHeader = 76;
  int64_t count = 0;
  std::memcpy(&count, sparse.data() + kHeader, sizeof(count));
  const int64_t n = options.buckets * options.hash_functions;
  std::vector<int64_t> last_seen(n, -1);
  std::vector<double> gap(n, options.initial_gap);
  const char* seen = sparse.data() + kHeader + 8;
  for (int64_t i = 0; i < count; ++i) {
    int64_t index = 0;
    std::memcpy(&index, seen + 8 * i, 8);
    std::memcpy(&last_seen[index], seen + 8 * count + 8 * i, 8);
    std::memcpy(&gap[index], seen + 16 * count + 8 * i, 8);
  }
  std::string dense = sparse.substr(0, kHeader);
  dense[8] = 1;  // format version 1
  dense.append(reinterpret_cast<const char*>(last_seen.data()), n * sizeof(int64_t));
  dense.append(reinterpret_cast<const char*>(gap.data()), n * sizeof(double));
  std::istringstream in(dense);
  auto loaded = FrequencyEstimator::Load(in, torch::kCPU);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ((*loaded)->last_step(), 9);
  const torch::Tensor ids = torch::arange(200, torch::kLong);
  EXPECT_TRUE(torch::equal((*loaded)->LogProbability(ids), estimator->LogProbability(ids)));
}

TEST(FrequencyEstimatorTest, LoadRejectsABucketIndexOutOfRange) {
  FrequencyEstimatorOptions options;
  options.buckets = 128;
  auto estimator = MakeEstimator(options);
  ASSERT_TRUE(estimator->Update(Ids({1}), 4).ok());
  std::stringstream saved;
  ASSERT_TRUE(estimator->Save(saved).ok());
  std::string bytes = saved.str();
  const int64_t out_of_range = 128 * 2;
  std::memcpy(bytes.data() + 76 + 8, &out_of_range, sizeof(out_of_range));
  std::istringstream in(bytes);
  auto loaded = FrequencyEstimator::Load(in, torch::kCPU);
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption);
  EXPECT_NE(loaded.status().message().find("out of range"), std::string::npos)
      << loaded.status().ToString();
}

TEST(FrequencyEstimatorTest, ValidateNamesTheBadField) {
  const std::vector<std::pair<std::string, void (*)(FrequencyEstimatorOptions*)>> cases = {
      {"buckets", [](FrequencyEstimatorOptions* o) { o->buckets = 0; }},
      {"hash_functions", [](FrequencyEstimatorOptions* o) { o->hash_functions = 0; }},
      {"hash_functions", [](FrequencyEstimatorOptions* o) { o->hash_functions = 100; }},
      {"alpha", [](FrequencyEstimatorOptions* o) { o->alpha = 0.0; }},
      {"alpha", [](FrequencyEstimatorOptions* o) { o->alpha = 1.5; }},
      {"alpha", [](FrequencyEstimatorOptions* o) { o->alpha = std::nan(""); }},
      {"initial_gap", [](FrequencyEstimatorOptions* o) { o->initial_gap = -1.0; }},
      {"min_gap", [](FrequencyEstimatorOptions* o) { o->min_gap = 0.0; }},
      {"max_gap", [](FrequencyEstimatorOptions* o) { o->max_gap = o->min_gap / 2; }},
  };
  EXPECT_TRUE(FrequencyEstimatorOptions().Validate().ok());
  for (const auto& [field, spoil] : cases) {
    FrequencyEstimatorOptions options;
    spoil(&options);
    const Status status = options.Validate();
    ASSERT_FALSE(status.ok()) << field;
    EXPECT_NE(status.message().find("'" + field + "'"), std::string::npos)
        << field << ": " << status.message();
    EXPECT_FALSE(FrequencyEstimator::Create(options).ok()) << field;
  }
}

TEST(FrequencyEstimatorTest, UpdateRejectsDecreasingStepsAndNonIntegerIds) {
  auto estimator = MakeEstimator(FrequencyEstimatorOptions());
  ASSERT_TRUE(estimator->Update(Ids({1}), 5).ok());
  EXPECT_FALSE(estimator->Update(Ids({1}), 4).ok());
  EXPECT_FALSE(estimator->Update(Ids({1}), -1).ok());
  EXPECT_FALSE(estimator->Update(torch::ones({2}), 6).ok());
  EXPECT_EQ(estimator->last_step(), 5);
}

// The tensor ops a GPU runs (here on the CPU) against the host loops, over batches with
// repeated items and several updates in one step.
TEST(FrequencyEstimatorTest, TensorOpsMatchHostLoops) {
  FrequencyEstimatorOptions options = StreamOptions();
  auto loops = MakeEstimator(options);
  options.host_loops = false;
  auto tensor_ops = MakeEstimator(options);
  ZipfStream stream(kItems, /*exponent=*/1.0, /*seed=*/9);
  for (int64_t step = 0; step < 300; ++step) {
    const torch::Tensor ids = stream.Draw(kBatch);
    ASSERT_TRUE(loops->Update(ids, step).ok());
    ASSERT_TRUE(tensor_ops->Update(ids, step).ok());
    if (step % 50 == 7) {  // a second batch in the same step acts as part of the first
      const torch::Tensor more = stream.Draw(kBatch / 4);
      ASSERT_TRUE(loops->Update(more, step).ok());
      ASSERT_TRUE(tensor_ops->Update(more, step).ok());
    }
  }
  const torch::Tensor all = torch::arange(kItems, torch::kLong);
  const torch::Tensor expected = loops->LogProbability(all);
  EXPECT_TRUE(torch::allclose(tensor_ops->LogProbability(all), expected, 1e-6, 1e-6));
  EXPECT_GT(expected.max().item<float>() - expected.min().item<float>(), 1.0f)
      << "the stream should give items different frequencies";
}

TEST(FrequencyEstimatorTest, CudaMatchesCpu) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device: CPU/GPU agreement not checked";
  FrequencyEstimatorOptions options = StreamOptions();
  auto cpu = MakeEstimator(options);
  options.device = torch::Device(torch::kCUDA, 0);
  auto cuda = MakeEstimator(options);
  ZipfStream stream(kItems, /*exponent=*/1.0, /*seed=*/5);
  for (int64_t step = 0; step < 300; ++step) {
    const torch::Tensor ids = stream.Draw(kBatch);
    ASSERT_TRUE(cpu->Update(ids, step).ok());
    ASSERT_TRUE(cuda->Update(ids.cuda(), step).ok());
  }
  const torch::Tensor all = torch::arange(kItems, torch::kLong);
  EXPECT_TRUE(torch::allclose(cuda->LogProbability(all).cpu(), cpu->LogProbability(all),
                              /*rtol=*/1e-6, /*atol=*/1e-6));
}

}  // namespace
}  // namespace towerstream::model
