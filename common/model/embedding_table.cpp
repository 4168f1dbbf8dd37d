// EmbeddingTable: id map, admission/expiry, growth, row-wise Adagrad and snapshot state.
#include "common/model/embedding_table.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <string>
#include <tuple>
#include <utility>

#include "common/model/host_staging.h"

namespace towerstream::model {
namespace {

static_assert(std::endian::native == std::endian::little,
              "the snapshot format is written in host byte order, assumed little-endian");

constexpr char kMagic[8] = {'T', 'S', 'E', 'M', 'B', 'T', 'B', '\0'};
constexpr uint32_t kFormatVersion = 1;

// SplitMix64 finaliser: spreads consecutive ids over the cold rows and decorrelates seeds.
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Status AtLeast(std::string_view field, int64_t value, int64_t min) {
  if (value >= min) return Status::Ok();
  return Status::InvalidArgument("embedding table: " + std::string(field) + " must be at least " +
                                 std::to_string(min) + ", got " + std::to_string(value));
}

void WriteRaw(std::ostream& out, const void* data, size_t bytes) {
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}
void WriteI64(std::ostream& out, int64_t v) { WriteRaw(out, &v, sizeof(v)); }

bool ReadRaw(std::istream& in, void* data, size_t bytes) {
  in.read(static_cast<char*>(data), static_cast<std::streamsize>(bytes));
  return static_cast<size_t>(in.gcount()) == bytes;
}
bool ReadI64(std::istream& in, int64_t* v) { return ReadRaw(in, v, sizeof(*v)); }

// A [rows, cols] float32 CPU tensor's bytes (cols 0 writes a vector of rows floats).
void WriteFloats(std::ostream& out, const torch::Tensor& t) {
  const torch::Tensor host = t.to(torch::kCPU).contiguous();
  WriteRaw(out, host.data_ptr<float>(), host.numel() * sizeof(float));
}
bool ReadFloats(std::istream& in, const torch::Tensor& host) {
  return ReadRaw(in, host.data_ptr<float>(), host.numel() * sizeof(float));
}

Status Truncated(std::string_view what) {
  return Status::Corruption("embedding table state: truncated while reading " + std::string(what));
}

}  // namespace

Status EmbeddingTableOptions::Validate() const {
  TS_RETURN_IF_ERROR(AtLeast("dim", dim, 1));
  TS_RETURN_IF_ERROR(AtLeast("admit_after", admit_after, 1));
  TS_RETURN_IF_ERROR(AtLeast("cold_rows", cold_rows, 1));
  TS_RETURN_IF_ERROR(AtLeast("expire_after", expire_after, 0));
  TS_RETURN_IF_ERROR(AtLeast("initial_capacity", initial_capacity, 0));
  TS_RETURN_IF_ERROR(AtLeast("max_rows", max_rows, 0));
  if (max_rows > 0 && initial_capacity > max_rows) {
    return Status::InvalidArgument("embedding table: initial_capacity (" +
                                   std::to_string(initial_capacity) +
                                   ") must not exceed max_rows (" + std::to_string(max_rows) + ")");
  }
  if (!std::isfinite(init_std) || init_std < 0) {
    return Status::InvalidArgument("embedding table: init_std must be finite and >= 0, got " +
                                   std::to_string(init_std));
  }
  if (!std::isfinite(eps) || eps <= 0) {
    return Status::InvalidArgument("embedding table: eps must be finite and > 0, got " +
                                   std::to_string(eps));
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    return Status::InvalidArgument("embedding table: device " + device.str() +
                                   " requested but CUDA is not available");
  }
  if (!device.is_cpu() && !device.is_cuda()) {
    return Status::InvalidArgument("embedding table: device must be cpu or cuda, got " +
                                   device.str());
  }
  return Status::Ok();
}

Result<std::unique_ptr<EmbeddingTable>> EmbeddingTable::Create(
    const EmbeddingTableOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  try {
    return std::unique_ptr<EmbeddingTable>(new EmbeddingTable(options));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("embedding table: cannot allocate: ") + e.what());
  }
}

EmbeddingTable::EmbeddingTable(const EmbeddingTableOptions& options)
    : options_(options), next_row_(options.cold_rows), last_sweep_step_(0) {
  const auto float_options = torch::TensorOptions().dtype(torch::kFloat).device(options_.device);
  weight_ =
      torch::zeros({options_.cold_rows + options_.initial_capacity, options_.dim}, float_options);
  accumulator_ = torch::zeros({weight_.size(0)}, float_options);
  std::vector<int64_t> cold(options_.cold_rows);
  for (int64_t r = 0; r < options_.cold_rows; ++r) cold[r] = r;
  InitRows(cold);
}

int64_t EmbeddingTable::ColdRow(int64_t id) const {
  return static_cast<int64_t>(Mix(static_cast<uint64_t>(id)) %
                              static_cast<uint64_t>(options_.cold_rows));
}

int64_t EmbeddingTable::RowOf(int64_t id) const {
  const auto it = ids_.find(id);
  return it != ids_.end() && it->second.row >= 0 ? it->second.row : ColdRow(id);
}

int64_t EmbeddingTable::AllocateRow() {
  if (!free_rows_.empty()) {
    const int64_t row = free_rows_.back();
    free_rows_.pop_back();
    return row;
  }
  if (options_.max_rows > 0 && next_row_ - options_.cold_rows >= options_.max_rows) return -1;
  return next_row_++;
}

void EmbeddingTable::EnsureCapacity(int64_t rows) {
  const int64_t have = weight_.size(0);
  if (rows <= have) return;
  const int64_t cold = options_.cold_rows;
  int64_t own = std::max((have - cold) * 2, rows - cold);
  if (options_.max_rows > 0) own = std::min(own, options_.max_rows);
  torch::Tensor weight = torch::zeros({cold + own, options_.dim}, weight_.options());
  torch::Tensor accumulator = torch::zeros({cold + own}, accumulator_.options());
  weight.narrow(0, 0, have).copy_(weight_);
  accumulator.narrow(0, 0, have).copy_(accumulator_);
  weight_ = std::move(weight);
  accumulator_ = std::move(accumulator);
}

void EmbeddingTable::InitRows(const std::vector<int64_t>& rows) {
  const auto n = static_cast<int64_t>(rows.size());
  // Drawn on the host from a generator seeded per call, so values depend only on the seed and
  // the sequence of calls, not on the device or on a global RNG.
  at::Generator gen = at::detail::createCPUGenerator(
      Mix(options_.seed ^ Mix(static_cast<uint64_t>(init_draws_++))));
  torch::Tensor values = HostTensor({n, options_.dim}, torch::kFloat, options_.device);
  at::randn_out(values, {n, options_.dim}, gen).mul_(options_.init_std);
  torch::Tensor index = HostTensor({n}, torch::kLong, options_.device);
  std::copy(rows.begin(), rows.end(), index.data_ptr<int64_t>());
  index = ToDevice(index, options_.device);
  weight_.index_copy_(0, index, ToDevice(values, options_.device));
  accumulator_.index_fill_(0, index, 0.0);
}

torch::Tensor EmbeddingTable::Lookup(const torch::Tensor& ids, int64_t step) {
  TORCH_CHECK(ids.scalar_type() == torch::kLong, "EmbeddingTable::Lookup: ids must be int64, got ",
              ids.scalar_type());
  if (options_.expire_after > 0 && step - last_sweep_step_ >= options_.expire_after) {
    ExpireStale(step);
  }
  const torch::Tensor host = ids.to(torch::kCPU).contiguous();
  torch::Tensor out = HostTensor(host.sizes(), torch::kLong, options_.device);
  const int64_t* in = host.data_ptr<int64_t>();
  int64_t* rows = out.data_ptr<int64_t>();
  const int64_t n = host.numel();

  // Grow the map in doublings ahead of the batch: reserving size+n every batch would make
  // libstdc++ rehash whenever the next prime bucket count changes.
  const auto wanted = ids_.size() + static_cast<size_t>(n);
  if (wanted > ids_.bucket_count() * ids_.max_load_factor()) ids_.reserve(2 * wanted);

  fresh_rows_.clear();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = in[i];
    Entry& e = ids_.try_emplace(id, Entry{-1, 0, step}).first->second;
    e.last_seen = step;
    if (e.row >= 0) {
      rows[i] = e.row;
      continue;
    }
    if (++e.count >= options_.admit_after) {
      const int64_t row = AllocateRow();
      if (row >= 0) {
        e.row = row;
        ++admitted_;
        ++rows_in_use_;
        fresh_rows_.push_back(row);
        rows[i] = row;
        continue;
      }
      ++refused_;
    }
    rows[i] = ColdRow(id);
    ++cold_lookups_;
  }
  if (!fresh_rows_.empty()) {
    EnsureCapacity(next_row_);
    InitRows(fresh_rows_);
  }
  return ToDevice(out, options_.device);
}

int64_t EmbeddingTable::ExpireStale(int64_t step) {
  if (options_.expire_after == 0) return 0;
  last_sweep_step_ = step;
  const size_t before = free_rows_.size();
  for (auto it = ids_.begin(); it != ids_.end();) {
    if (step - it->second.last_seen > options_.expire_after) {
      if (it->second.row >= 0) free_rows_.push_back(it->second.row);
      it = ids_.erase(it);
    } else {
      ++it;
    }
  }
  const auto freed = static_cast<int64_t>(free_rows_.size() - before);
  if (freed > 0) {
    // Smallest row reused first, independent of the map's iteration order (which differs after
    // a Load), so a resumed run assigns the same rows as an uninterrupted one.
    std::sort(free_rows_.begin(), free_rows_.end(), std::greater<>());
    rows_in_use_ -= freed;
    expired_ += freed;
  }
  return freed;
}

torch::Tensor EmbeddingTable::Gather(const torch::Tensor& rows) const {
  std::vector<int64_t> shape(rows.sizes().begin(), rows.sizes().end());
  shape.push_back(options_.dim);
  return weight_.index_select(0, rows.reshape({-1}).to(weight_.device())).view(shape);
}

void EmbeddingTable::ApplyRowWiseAdagrad(const torch::Tensor& rows, const torch::Tensor& grads,
                                         float lr) {
  const RowGradients part{.rows = rows, .grads = grads, .source = {}, .scale = {}};
  ApplyRowWiseAdagrad(std::span<const RowGradients>(&part, 1), lr);
}

void EmbeddingTable::ApplyRowWiseAdagrad(std::span<const RowGradients> parts, float lr) {
  model::ApplyRowWiseAdagrad(weight_, accumulator_, parts, lr, static_cast<float>(options_.eps),
                             options_.fused_host_update, &adagrad_scratch_);
}

RowGradients EmbeddingTable::SumGradients(std::span<const RowGradients> parts) {
  return SumRowGradients(parts, weight_.size(0), options_.dim, &adagrad_scratch_);
}

torch::Tensor EmbeddingTable::RowsOf(const torch::Tensor& ids) const {
  TORCH_CHECK(ids.scalar_type() == torch::kLong, "EmbeddingTable::RowsOf: ids must be int64, got ",
              ids.scalar_type());
  const torch::Tensor host = ids.to(torch::kCPU).contiguous();
  torch::Tensor out = HostTensor(host.sizes(), torch::kLong, options_.device);
  const int64_t* in = host.data_ptr<int64_t>();
  int64_t* rows = out.data_ptr<int64_t>();
  // Read-only on the id map: the lookups of a batch's histories (20 per example) split over
  // LibTorch's threads.
  at::parallel_for(0, host.numel(), /*grain_size=*/2048, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) rows[i] = in[i] == kNoId ? -1 : RowOf(in[i]);
  });
  return ToDevice(out, options_.device);
}

torch::Tensor EmbeddingTable::GatherMean(const torch::Tensor& rows) const {
  return model::GatherMean(weight_, rows);
}

EmbeddingTableStats EmbeddingTable::stats() const {
  EmbeddingTableStats s;
  s.rows_in_use = rows_in_use_;
  s.capacity = weight_.size(0) - options_.cold_rows;
  s.tracked_ids = static_cast<int64_t>(ids_.size());
  s.admitted = admitted_;
  s.expired = expired_;
  s.cold_lookups = cold_lookups_;
  s.refused = refused_;
  return s;
}

Status EmbeddingTable::Save(std::ostream& out) const {
  WriteRaw(out, kMagic, sizeof(kMagic));
  WriteRaw(out, &kFormatVersion, sizeof(kFormatVersion));
  for (int64_t v : {options_.dim, options_.cold_rows, weight_.size(0), next_row_, init_draws_,
                    last_sweep_step_, admitted_, expired_, cold_lookups_, refused_}) {
    WriteI64(out, v);
  }
  // Sorted by id so equal states write equal bytes whatever the map's history.
  std::vector<std::pair<int64_t, Entry>> entries(ids_.begin(), ids_.end());
  std::sort(entries.begin(), entries.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  WriteI64(out, static_cast<int64_t>(entries.size()));
  for (const auto& [id, e] : entries) {
    for (int64_t v : {id, e.row, e.count, e.last_seen}) WriteI64(out, v);
  }
  WriteI64(out, static_cast<int64_t>(free_rows_.size()));
  for (int64_t r : free_rows_) WriteI64(out, r);
  try {
    WriteFloats(out, weight_.narrow(0, 0, next_row_));
    WriteFloats(out, accumulator_.narrow(0, 0, next_row_));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("embedding table state: ") + e.what());
  }
  if (!out) return Status::IoError("embedding table state: write failed");
  return Status::Ok();
}

Status EmbeddingTable::Load(std::istream& in) {
  char magic[sizeof(kMagic)];
  uint32_t version = 0;
  if (!ReadRaw(in, magic, sizeof(magic)) || std::memcmp(magic, kMagic, sizeof(kMagic)) != 0) {
    return Status::Corruption("embedding table state: bad magic (not an embedding table file)");
  }
  if (!ReadRaw(in, &version, sizeof(version))) return Truncated("version");
  if (version != kFormatVersion) {
    return Status::Corruption("embedding table state: format version " + std::to_string(version) +
                              ", expected " + std::to_string(kFormatVersion));
  }
  int64_t dim, cold_rows, capacity, next_row, init_draws, last_sweep, admitted, expired,
      cold_lookups, refused;
  for (int64_t* v : {&dim, &cold_rows, &capacity, &next_row, &init_draws, &last_sweep, &admitted,
                     &expired, &cold_lookups, &refused}) {
    if (!ReadI64(in, v)) return Truncated("header");
  }
  if (dim != options_.dim || cold_rows != options_.cold_rows) {
    return Status::FailedPrecondition(
        "embedding table state: saved with dim " + std::to_string(dim) + " and cold_rows " +
        std::to_string(cold_rows) + ", this table has dim " + std::to_string(options_.dim) +
        " and cold_rows " + std::to_string(options_.cold_rows));
  }
  // Compared before subtracting: a damaged next_row near INT64_MIN would overflow.
  const int64_t own = next_row >= cold_rows ? next_row - cold_rows : -1;
  if (own < 0 || (options_.max_rows > 0 && own > options_.max_rows)) {
    return Status::FailedPrecondition("embedding table state: holds " + std::to_string(own) +
                                      " own rows, max_rows is " +
                                      std::to_string(options_.max_rows));
  }
  // Each own row must belong to exactly one id or the free list (checked once all are read):
  // anything else would break the collisionless promise after resume.
  std::vector<int64_t> claimed;
  auto claim = [&](int64_t r) {
    claimed.push_back(r);
    return r >= cold_rows && r < next_row;
  };

  int64_t n_ids;
  if (!ReadI64(in, &n_ids) || n_ids < 0) return Truncated("id count");
  std::unordered_map<int64_t, Entry> ids;
  ids.reserve(static_cast<size_t>(std::min<int64_t>(n_ids, int64_t{1} << 24)));
  int64_t rows_in_use = 0;
  for (int64_t i = 0; i < n_ids; ++i) {
    int64_t id;
    Entry e;
    if (!ReadI64(in, &id) || !ReadI64(in, &e.row) || !ReadI64(in, &e.count) ||
        !ReadI64(in, &e.last_seen)) {
      return Truncated("id map");
    }
    if (e.row != -1 && !claim(e.row)) {
      return Status::Corruption("embedding table state: id " + std::to_string(id) + " has row " +
                                std::to_string(e.row) + ", outside [" + std::to_string(cold_rows) +
                                ", " + std::to_string(next_row) + ")");
    }
    rows_in_use += e.row >= 0;
    if (!ids.emplace(id, e).second) {
      return Status::Corruption("embedding table state: id " + std::to_string(id) + " twice");
    }
  }
  int64_t n_free;
  if (!ReadI64(in, &n_free) || n_free < 0 || n_free > own) return Truncated("free list");
  std::vector<int64_t> free_rows;
  for (int64_t i = 0; i < n_free; ++i) {
    int64_t r;
    if (!ReadI64(in, &r)) return Truncated("free list");
    free_rows.push_back(r);
    if (!claim(r)) {
      return Status::Corruption("embedding table state: free row " + std::to_string(r) +
                                " out of range");
    }
  }
  std::sort(claimed.begin(), claimed.end());
  if (std::adjacent_find(claimed.begin(), claimed.end()) != claimed.end()) {
    return Status::Corruption("embedding table state: a row is held by two ids or also free");
  }
  if (rows_in_use + n_free != own) {
    return Status::Corruption("embedding table state: " + std::to_string(rows_in_use) +
                              " rows in use and " + std::to_string(n_free) +
                              " free do not add up to " + std::to_string(own) + " own rows");
  }
  try {
    const auto host = torch::TensorOptions().dtype(torch::kFloat);
    // The saved capacity, so a resumed table grows at the same points as the original. It
    // doubles from initial_capacity as rows are taken, so it never exceeds the larger of that
    // and twice the rows: a damaged capacity must not make a small file allocate gigabytes.
    const int64_t saved_capacity = capacity >= cold_rows ? capacity - cold_rows : 0;
    int64_t own_capacity =
        std::max(own, std::min(saved_capacity, std::max(options_.initial_capacity, 2 * own)));
    if (options_.max_rows > 0) own_capacity = std::min(own_capacity, options_.max_rows);
    capacity = cold_rows + own_capacity;
    torch::Tensor weight = torch::zeros({capacity, dim}, host);
    torch::Tensor accumulator = torch::zeros({capacity}, host);
    if (!ReadFloats(in, weight.narrow(0, 0, next_row))) return Truncated("weights");
    if (!ReadFloats(in, accumulator.narrow(0, 0, next_row))) return Truncated("accumulators");
    weight_ = weight.to(options_.device);
    accumulator_ = accumulator.to(options_.device);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("embedding table state: ") + e.what());
  }
  ids_ = std::move(ids);
  free_rows_ = std::move(free_rows);
  next_row_ = next_row;
  rows_in_use_ = rows_in_use;
  init_draws_ = init_draws;
  last_sweep_step_ = last_sweep;
  admitted_ = admitted;
  expired_ = expired;
  cold_lookups_ = cold_lookups;
  refused_ = refused;
  return Status::Ok();
}

Result<std::unique_ptr<EmbeddingTable>> EmbeddingTable::Merge(
    std::span<const EmbeddingTable* const> shards) {
  if (shards.empty()) return Status::InvalidArgument("embedding table: nothing to merge");
  const EmbeddingTable& first = *shards[0];
  const int64_t cold = first.options_.cold_rows;
  const int64_t dim = first.options_.dim;
  int64_t own_total = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    const EmbeddingTable& shard = *shards[i];
    if (shard.options_.dim != dim || shard.options_.cold_rows != cold) {
      return Status::FailedPrecondition(
          "embedding table: shard " + std::to_string(i) + " has dim " +
          std::to_string(shard.options_.dim) + " and cold_rows " +
          std::to_string(shard.options_.cold_rows) + ", shard 0 has " + std::to_string(dim) +
          " and " + std::to_string(cold));
    }
    // The group keeps these identical by applying every rank's cold-row gradients everywhere;
    // different bits mean shards of different groups or steps.
    if (!torch::equal(shard.weight_.narrow(0, 0, cold), first.weight_.narrow(0, 0, cold)) ||
        !torch::equal(shard.accumulator_.narrow(0, 0, cold),
                      first.accumulator_.narrow(0, 0, cold))) {
      return Status::FailedPrecondition("embedding table: shard " + std::to_string(i) +
                                        "'s cold rows differ from shard 0's (not saved by one "
                                        "trainer group at one step)");
    }
    own_total += shard.next_row_ - cold;
  }
  std::unique_ptr<EmbeddingTable> merged;
  try {
    EmbeddingTableOptions options = first.options_;
    options.initial_capacity = 0;
    merged.reset(new EmbeddingTable(options));
    const auto float_options = torch::TensorOptions().dtype(torch::kFloat).device(options.device);
    merged->weight_ = torch::empty({cold + own_total, dim}, float_options);
    merged->accumulator_ = torch::empty({cold + own_total}, float_options);
    merged->weight_.narrow(0, 0, cold).copy_(first.weight_.narrow(0, 0, cold));
    merged->accumulator_.narrow(0, 0, cold).copy_(first.accumulator_.narrow(0, 0, cold));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("embedding table: cannot allocate the merge: ") + e.what());
  }
  EmbeddingTable& out = *merged;
  out.ids_.clear();
  out.free_rows_.clear();
  out.init_draws_ = 0;
  int64_t base = cold;
  for (size_t i = 0; i < shards.size(); ++i) {
    const EmbeddingTable& shard = *shards[i];
    const int64_t own = shard.next_row_ - cold;
    const int64_t shift = base - cold;
    out.weight_.narrow(0, base, own).copy_(shard.weight_.narrow(0, cold, own));
    out.accumulator_.narrow(0, base, own).copy_(shard.accumulator_.narrow(0, cold, own));
    for (const auto& [id, entry] : shard.ids_) {
      Entry moved = entry;
      if (moved.row >= 0) moved.row += shift;
      if (!out.ids_.emplace(id, moved).second) {
        return Status::FailedPrecondition("embedding table: id " + std::to_string(id) +
                                          " is in two shards (shard " + std::to_string(i) +
                                          " and an earlier one)");
      }
    }
    for (int64_t row : shard.free_rows_) out.free_rows_.push_back(row + shift);
    out.rows_in_use_ += shard.rows_in_use_;
    out.init_draws_ = std::max(out.init_draws_, shard.init_draws_);
    out.last_sweep_step_ = std::max(out.last_sweep_step_, shard.last_sweep_step_);
    out.admitted_ += shard.admitted_;
    out.expired_ += shard.expired_;
    out.cold_lookups_ += shard.cold_lookups_;
    out.refused_ += shard.refused_;
    base += own;
  }
  std::sort(out.free_rows_.begin(), out.free_rows_.end(), std::greater<>());
  out.next_row_ = base;
  return merged;
}

}  // namespace towerstream::model
