// Streaming item-frequency estimate (Yi et al. 2019, algorithms 2 and 3) on LibTorch tensors.
#include "common/model/frequency_estimator.h"

#include <torch/cuda.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <tuple>

namespace towerstream::model {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the saved state is written as host bytes and documented as little-endian");

constexpr char kMagic[8] = {'T', 'S', 'F', 'R', 'E', 'Q', 'E', 'S'};
// Version 2 writes only the buckets ever seen (version 1, still read, wrote all of them: 33.5 MB
// at the default size however few items there were).
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kDenseFormatVersion = 1;
// Bounds that keep the state allocatable and the saved header trustworthy.
constexpr int64_t kMaxBuckets = int64_t{1} << 31;
constexpr int64_t kMaxHashFunctions = 16;

// SplitMix64 finaliser constants (Steele et al.), as two's-complement int64 for tensor ops.
constexpr uint64_t kMix1 = 0xbf58476d1ce4e5b9ULL;
constexpr uint64_t kMix2 = 0x94d049bb133111ebULL;
constexpr uint64_t kGolden = 0x9e3779b97f4a7c15ULL;

uint64_t SplitMix64(uint64_t* state) {
  uint64_t z = (*state += kGolden);
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  return z ^ (z >> 31);
}

// z ^ (z >>> shift) on int64 tensors: the arithmetic shift's sign copies are masked off.
torch::Tensor XorShiftRight(const torch::Tensor& z, int64_t shift) {
  const int64_t mask = static_cast<int64_t>(~uint64_t{0} >> shift);
  return torch::bitwise_xor(z, torch::bitwise_and(torch::bitwise_right_shift(z, shift), mask));
}

Status OptionError(std::string_view field, std::string_view expected, const std::string& got) {
  return Status::InvalidArgument("frequency estimator option '" + std::string(field) + "' must " +
                                 std::string(expected) + ", got " + got);
}

template <typename T>
void WritePod(std::ostream& out, const T& value) {
  out.write(reinterpret_cast<const char*>(&value), sizeof(T));
}

template <typename T>
bool ReadPod(std::istream& in, T* value) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(value), sizeof(T)));
}

void WriteTensor(std::ostream& out, const torch::Tensor& t) {
  if (t.numel() == 0) return;  // an empty tensor's data pointer may be null
  const torch::Tensor host = t.to(torch::kCPU).contiguous();
  out.write(static_cast<const char*>(host.data_ptr()), static_cast<std::streamsize>(host.nbytes()));
}

bool ReadTensor(std::istream& in, torch::Tensor* t) {
  if (t->numel() == 0) return true;
  return static_cast<bool>(
      in.read(static_cast<char*>(t->data_ptr()), static_cast<std::streamsize>(t->nbytes())));
}

}  // namespace

Status FrequencyEstimatorOptions::Validate() const {
  if (buckets < 1 || buckets > kMaxBuckets) {
    return OptionError("buckets", "be in [1, " + std::to_string(kMaxBuckets) + "]",
                       std::to_string(buckets));
  }
  if (hash_functions < 1 || hash_functions > kMaxHashFunctions) {
    return OptionError("hash_functions", "be in [1, " + std::to_string(kMaxHashFunctions) + "]",
                       std::to_string(hash_functions));
  }
  if (!(alpha > 0.0 && alpha <= 1.0))
    return OptionError("alpha", "be in (0, 1]", std::to_string(alpha));
  if (!(min_gap > 0.0 && std::isfinite(min_gap))) {
    return OptionError("min_gap", "be finite and > 0", std::to_string(min_gap));
  }
  if (!(max_gap >= min_gap && std::isfinite(max_gap))) {
    return OptionError("max_gap", "be finite and >= min_gap", std::to_string(max_gap));
  }
  if (!(initial_gap > 0.0 && std::isfinite(initial_gap))) {
    return OptionError("initial_gap", "be finite and > 0", std::to_string(initial_gap));
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    return OptionError("device", "be available", device.str() + " (no CUDA device found)");
  }
  return Status::Ok();
}

FrequencyEstimator::FrequencyEstimator(const FrequencyEstimatorOptions& options)
    : options_(options) {
  const int64_t m = options_.hash_functions;
  std::vector<int64_t> seeds(m);
  uint64_t state = options_.seed;
  for (int64_t& s : seeds) s = static_cast<int64_t>(SplitMix64(&state));
  seeds_ = seeds;
  hash_seeds_ = torch::tensor(seeds, torch::kLong).reshape({m, 1}).to(options_.device);
  const auto on_device = torch::TensorOptions().device(options_.device);
  last_seen_ = torch::full({m * options_.buckets}, -1, on_device.dtype(torch::kLong));
  gap_ = torch::full({m * options_.buckets}, options_.initial_gap, on_device.dtype(torch::kDouble));
}

Result<std::unique_ptr<FrequencyEstimator>> FrequencyEstimator::Create(
    const FrequencyEstimatorOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  try {
    return std::unique_ptr<FrequencyEstimator>(new FrequencyEstimator(options));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("frequency estimator: cannot allocate state: ") + e.what());
  }
}

torch::Tensor FrequencyEstimator::FlatBuckets(const torch::Tensor& item_ids) const {
  TORCH_CHECK(at::isIntegralType(item_ids.scalar_type(), /*includeBool=*/false),
              "frequency estimator: item ids must be integers, got ", item_ids.scalar_type());
  const torch::Tensor ids = item_ids.to(options_.device, torch::kLong).reshape({1, -1});
  // SplitMix64's finaliser over (id + per-function seed): int64 multiplication wraps like
  // uint64, so the buckets are the same on CPU and CUDA.
  torch::Tensor z = ids + hash_seeds_;
  z = XorShiftRight(z, 30).mul(static_cast<int64_t>(kMix1));
  z = XorShiftRight(z, 27).mul(static_cast<int64_t>(kMix2));
  z = XorShiftRight(z, 31);
  // remainder() takes the divisor's sign, so buckets are in [0, buckets) for any z.
  const torch::Tensor bucket = torch::remainder(z, options_.buckets);
  const torch::Tensor offset =
      torch::arange(options_.hash_functions, ids.options()).mul(options_.buckets).reshape({-1, 1});
  return bucket + offset;
}

Status FrequencyEstimator::Update(const torch::Tensor& item_ids, int64_t step) {
  if (step < 0 || step < last_step_) {
    return Status::InvalidArgument("frequency estimator: step " + std::to_string(step) +
                                   " must be >= 0 and >= the last step " +
                                   std::to_string(last_step_));
  }
  if (!at::isIntegralType(item_ids.scalar_type(), /*includeBool=*/false)) {
    return Status::InvalidArgument(std::string("frequency estimator: item ids must be integers, "
                                               "got ") +
                                   c10::toString(item_ids.scalar_type()));
  }
  last_step_ = step;
  if (item_ids.numel() == 0) return Status::Ok();
  if (gap_.is_cpu() && options_.host_loops) {
    UpdateOnHost(item_ids, step);
    return Status::Ok();
  }
  try {
    // How many occurrences hit each bucket in this batch, counted into a zeroed vector the
    // size of the state (a few MB) and read back per occurrence: unique() would make the host
    // wait for the device to learn how many buckets there are. Every occurrence of a bucket
    // then computes the same new gap, so writing it once per occurrence is well defined.
    const torch::Tensor flat = FlatBuckets(item_ids).reshape({-1});
    const torch::Tensor counts =
        torch::zeros({gap_.numel()}, gap_.options())
            .index_add_(0, flat, torch::ones({flat.numel()}, gap_.options()))
            .index_select(0, flat);
    const double alpha = options_.alpha;
    const torch::Tensor last = last_seen_.index_select(0, flat);
    const torch::Tensor gap = gap_.index_select(0, flat);
    const torch::Tensor first_gap = (-last).add(step).to(torch::kDouble);
    // The first occurrence averages in the gap since the bucket's last step (none on a first
    // sighting); each further one in this batch averages in a gap of 0.
    const torch::Tensor after_first =
        torch::where(last.ge(0), gap.mul(1.0 - alpha).add(first_gap.mul(alpha)), gap);
    const torch::Tensor decay = torch::pow(1.0 - alpha, counts.sub(1.0));
    gap_.index_copy_(0, flat, after_first.mul(decay));
    last_seen_.index_fill_(0, flat, step);
  } catch (const std::exception& e) {
    return Status::Internal("frequency estimator: update at step " + std::to_string(step) +
                            " failed: " + e.what());
  }
  return Status::Ok();
}

int64_t FrequencyEstimator::HostBucket(int64_t id, int64_t function) const {
  // FlatBuckets' arithmetic on one id: wrapping uint64 SplitMix64 finaliser, then a
  // non-negative remainder.
  uint64_t z = static_cast<uint64_t>(id) + static_cast<uint64_t>(seeds_[function]);
  z = (z ^ (z >> 30)) * kMix1;
  z = (z ^ (z >> 27)) * kMix2;
  z = z ^ (z >> 31);
  int64_t bucket = static_cast<int64_t>(z) % options_.buckets;
  if (bucket < 0) bucket += options_.buckets;
  return bucket + function * options_.buckets;
}

void FrequencyEstimator::UpdateOnHost(const torch::Tensor& item_ids, int64_t step) {
  const torch::Tensor ids = item_ids.to(torch::kCPU, torch::kLong).contiguous();
  const int64_t* id = ids.data_ptr<int64_t>();
  int64_t* last = last_seen_.data_ptr<int64_t>();
  double* gap = gap_.data_ptr<double>();
  const double alpha = options_.alpha;
  // One occurrence at a time, as the paper's loop: the first in a step averages in the gap
  // since the bucket's last step (a first sighting only records the step), each further one
  // in the same step a gap of 0.
  for (int64_t i = 0, n = ids.numel(); i < n; ++i) {
    for (int64_t f = 0; f < options_.hash_functions; ++f) {
      const int64_t b = HostBucket(id[i], f);
      if (last[b] == step) {
        gap[b] *= 1.0 - alpha;
      } else {
        if (last[b] >= 0)
          gap[b] = (1.0 - alpha) * gap[b] + alpha * static_cast<double>(step - last[b]);
        last[b] = step;
      }
    }
  }
}

torch::Tensor FrequencyEstimator::LogProbabilityOnHost(const torch::Tensor& item_ids) const {
  const torch::Tensor ids = item_ids.to(torch::kCPU, torch::kLong).contiguous();
  torch::Tensor out = torch::empty(ids.sizes(), torch::kFloat);
  const int64_t* id = ids.data_ptr<int64_t>();
  const double* gap = gap_.data_ptr<double>();
  float* o = out.data_ptr<float>();
  for (int64_t i = 0, n = ids.numel(); i < n; ++i) {
    double longest = 0;
    for (int64_t f = 0; f < options_.hash_functions; ++f) {
      longest = std::max(longest, gap[HostBucket(id[i], f)]);
    }
    o[i] = static_cast<float>(-std::log(std::clamp(longest, options_.min_gap, options_.max_gap)));
  }
  return out;
}

torch::Tensor FrequencyEstimator::LogProbability(const torch::Tensor& item_ids) const {
  TORCH_CHECK(at::isIntegralType(item_ids.scalar_type(), /*includeBool=*/false),
              "frequency estimator: item ids must be integers, got ", item_ids.scalar_type());
  if (gap_.is_cpu() && options_.host_loops) return LogProbabilityOnHost(item_ids);
  const torch::Tensor flat = FlatBuckets(item_ids);
  // Collisions only shorten a bucket's gap, so the longest gap over the hash functions is the
  // least contaminated (algorithm 3).
  const torch::Tensor gap =
      std::get<0>(gap_.index_select(0, flat.reshape({-1})).reshape(flat.sizes()).max(/*dim=*/0));
  return gap.clamp(options_.min_gap, options_.max_gap)
      .log()
      .neg()
      .to(torch::kFloat)
      .reshape(item_ids.sizes());
}

Status FrequencyEstimator::Save(std::ostream& out) const {
  try {
    out.write(kMagic, sizeof(kMagic));
    WritePod(out, kFormatVersion);
    WritePod(out, options_.buckets);
    WritePod(out, options_.hash_functions);
    WritePod(out, options_.alpha);
    WritePod(out, options_.initial_gap);
    WritePod(out, options_.min_gap);
    WritePod(out, options_.max_gap);
    WritePod(out, options_.seed);
    WritePod(out, last_step_);
    // A bucket never seen holds (-1, initial_gap): only the others are written, by index.
    const torch::Tensor seen =
        torch::logical_or(last_seen_.ge(0), gap_.ne(options_.initial_gap)).nonzero().flatten();
    WritePod(out, seen.numel());
    WriteTensor(out, seen);
    WriteTensor(out, last_seen_.index_select(0, seen));
    WriteTensor(out, gap_.index_select(0, seen));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("frequency estimator: cannot save state: ") + e.what());
  }
  if (!out) return Status::IoError("frequency estimator: write of the saved state failed");
  return Status::Ok();
}

Result<std::unique_ptr<FrequencyEstimator>> FrequencyEstimator::Load(
    std::istream& in, torch::Device device, const FrequencyEstimatorOptions* expected) {
  char magic[sizeof(kMagic)];
  uint32_t version = 0;
  if (!in.read(magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("frequency estimator state: bad magic (not a saved estimator)");
  }
  if (!ReadPod(in, &version) || (version != kFormatVersion && version != kDenseFormatVersion)) {
    return Status::Corruption(
        "frequency estimator state: format version " + std::to_string(version) + ", expected " +
        std::to_string(kDenseFormatVersion) + " or " + std::to_string(kFormatVersion));
  }
  FrequencyEstimatorOptions options;
  options.device = device;
  int64_t last_step = 0;
  if (!ReadPod(in, &options.buckets) || !ReadPod(in, &options.hash_functions) ||
      !ReadPod(in, &options.alpha) || !ReadPod(in, &options.initial_gap) ||
      !ReadPod(in, &options.min_gap) || !ReadPod(in, &options.max_gap) ||
      !ReadPod(in, &options.seed) || !ReadPod(in, &last_step)) {
    return Status::Corruption("frequency estimator state: truncated header");
  }
  if (expected != nullptr && (options.buckets != expected->buckets ||
                              options.hash_functions != expected->hash_functions)) {
    return Status::FailedPrecondition(
        "frequency estimator state: saved with " + std::to_string(options.buckets) +
        " buckets and " + std::to_string(options.hash_functions) + " hash functions, expected " +
        std::to_string(expected->buckets) + " and " + std::to_string(expected->hash_functions));
  }
  if (Status s = options.Validate(); !s.ok()) {
    return s.code() == StatusCode::kInvalidArgument
               ? Status::Corruption("frequency estimator state: " + s.message())
               : s;
  }
  if (last_step < -1) {
    return Status::Corruption("frequency estimator state: last step " + std::to_string(last_step));
  }
  try {
    const int64_t n = options.buckets * options.hash_functions;
    torch::Tensor last_seen, gap;
    if (version == kDenseFormatVersion) {
      last_seen = torch::empty({n}, torch::kLong);
      gap = torch::empty({n}, torch::kDouble);
      if (!ReadTensor(in, &last_seen) || !ReadTensor(in, &gap)) {
        return Status::Corruption("frequency estimator state: truncated state arrays");
      }
    } else {
      int64_t count = 0;
      if (!ReadPod(in, &count) || count < 0 || count > n) {
        return Status::Corruption("frequency estimator state: seen bucket count " +
                                  std::to_string(count) + " is not in [0, " + std::to_string(n) +
                                  "]");
      }
      torch::Tensor index = torch::empty({count}, torch::kLong);
      torch::Tensor seen_last = torch::empty({count}, torch::kLong);
      torch::Tensor seen_gap = torch::empty({count}, torch::kDouble);
      if (!ReadTensor(in, &index) || !ReadTensor(in, &seen_last) || !ReadTensor(in, &seen_gap)) {
        return Status::Corruption("frequency estimator state: truncated seen buckets");
      }
      if (count > 0 && (index.min().item<int64_t>() < 0 || index.max().item<int64_t>() >= n)) {
        return Status::Corruption("frequency estimator state: a bucket index is out of range");
      }
      last_seen = torch::full({n}, -1, torch::kLong);
      gap = torch::full({n}, options.initial_gap, torch::kDouble);
      last_seen.index_put_({index}, seen_last);
      gap.index_put_({index}, seen_gap);
    }
    std::unique_ptr<FrequencyEstimator> estimator(new FrequencyEstimator(options));
    estimator->last_seen_ = last_seen.to(device);
    estimator->gap_ = gap.to(device);
    estimator->last_step_ = last_step;
    return estimator;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("frequency estimator: cannot load state: ") + e.what());
  }
}

}  // namespace towerstream::model
