// GroupRound: the collectives of one formed round over its Gloo process group.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "common/distributed/group.h"
#include "common/distributed/internal.h"

namespace towerstream::distributed {
namespace {

using Clock = std::chrono::steady_clock;

// The sizes every rank sends before the parts of an AllGather: its rows, and what all ranks
// must agree on (dtype, and the sizes after the first), so that a mismatch is an error every
// rank reports alike rather than a corrupt gather or a hang.
enum HeaderField : int64_t { kRows = 0, kDtype, kDims, kTrailingHash, kHeaderFields };

int64_t TrailingSizesHash(const torch::Tensor& t) {
  uint64_t hash = 1469598103934665603ull;  // FNV-1a over the sizes after the first
  for (int64_t d = 1; d < t.dim(); ++d) {
    hash = (hash ^ static_cast<uint64_t>(t.size(d))) * 1099511628211ull;
  }
  return static_cast<int64_t>(hash);
}

std::string DescribeShape(const torch::Tensor& t) {
  std::string s = std::string(c10::toString(t.scalar_type())) + " [*";
  for (int64_t d = 1; d < t.dim(); ++d) s += ", " + std::to_string(t.size(d));
  return s + "]";
}

// A contiguous tensor's bytes as a flat uint8 tensor sharing its storage: Gloo's all-gather
// needs no arithmetic, and bytes cover every dtype (bool, bfloat16, complex) Gloo lacks.
torch::Tensor AsBytes(const torch::Tensor& contiguous) {
  return contiguous.reshape({-1}).view(torch::kUInt8);
}

}  // namespace

GroupRound::GroupRound(std::unique_ptr<internal::RoundState> state) : state_(std::move(state)) {}
GroupRound::~GroupRound() = default;

int GroupRound::rank() const { return state_->rank; }
int GroupRound::world_size() const { return state_->world_size; }
int GroupRound::round() const { return state_->round; }

Status GroupRound::error() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->error;
}

model::ExchangeStats GroupRound::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

namespace {

// Runs one collective step (`body` waits on c10d work) and turns an exception into the
// round's breaking error.
Status RunCollective(internal::RoundState& state, const char* operation,
                     const std::function<void(c10d::ProcessGroupGloo&)>& body) {
  {
    std::lock_guard<std::mutex> lock(state.mu);
    if (!state.error.ok()) return state.error;
  }
  std::string cause;
  try {
    body(*state.group);
    return Status::Ok();
  } catch (const std::exception& e) {
    cause = internal::DescribeException(e);
  }
  Status error = Status::Unavailable("group round " + std::to_string(state.round) + ": " +
                                     operation + " failed on rank " + std::to_string(state.rank) +
                                     " of " + std::to_string(state.world_size) + ": " + cause);
  {
    std::lock_guard<std::mutex> lock(state.mu);
    state.error = error;
  }
  state.group.reset();  // closes the connections: peers waiting on this rank fail now
  return error;
}

// Counts one collective into the stats, whatever its outcome: the time was spent either way.
class CollectiveTimer {
 public:
  explicit CollectiveTimer(internal::RoundState& state) : state_(state), start_(Clock::now()) {}
  ~CollectiveTimer() {
    const double seconds = std::chrono::duration<double>(Clock::now() - start_).count();
    std::lock_guard<std::mutex> lock(state_.mu);
    state_.stats.collectives += 1;
    state_.stats.bytes_sent += sent_;
    state_.stats.bytes_received += received_;
    state_.stats.seconds += seconds;
  }
  CollectiveTimer(const CollectiveTimer&) = delete;
  CollectiveTimer& operator=(const CollectiveTimer&) = delete;

  void Count(int64_t sent, int64_t received) {
    sent_ += sent;
    received_ += received;
  }

 private:
  internal::RoundState& state_;
  Clock::time_point start_;
  int64_t sent_ = 0;
  int64_t received_ = 0;
};

}  // namespace

Result<std::vector<torch::Tensor>> GroupRound::AllGather(const torch::Tensor& local) {
  if (!local.defined() || local.dim() < 1 || !local.device().is_cpu() ||
      local.layout() != torch::kStrided) {
    return Status::InvalidArgument(
        "group round " + std::to_string(state_->round) +
        ": all_gather needs a dense CPU tensor with at least one dimension, got " +
        (local.defined() ? std::to_string(local.dim()) + " dimensions on " + local.device().str() +
                               (local.layout() == torch::kStrided ? "" : ", not dense")
                         : std::string("an undefined tensor")));
  }
  // The parts are data: the copies into the padded buffer must not join anyone's graph.
  torch::NoGradGuard no_grad;
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->error.ok()) return state_->error;
  }
  CollectiveTimer timer(*state_);
  const int world = state_->world_size;
  const torch::Tensor part = local.detach().contiguous();
  const int64_t rows = part.size(0);
  int64_t row_bytes = static_cast<int64_t>(part.element_size());
  for (int64_t d = 1; d < part.dim(); ++d) row_bytes *= part.size(d);

  const auto int64_options = torch::TensorOptions().dtype(torch::kInt64);
  torch::Tensor header = torch::empty({kHeaderFields}, int64_options);
  auto* h = header.data_ptr<int64_t>();
  h[kRows] = rows;
  h[kDtype] = static_cast<int64_t>(part.scalar_type());
  h[kDims] = part.dim();
  h[kTrailingHash] = TrailingSizesHash(part);
  std::vector<std::vector<torch::Tensor>> headers(1);
  for (int i = 0; i < world; ++i)
    headers[0].push_back(torch::empty({kHeaderFields}, int64_options));
  std::vector<torch::Tensor> header_in{header};
  TS_RETURN_IF_ERROR(RunCollective(*state_, "all_gather (sizes)", [&](c10d::ProcessGroupGloo& g) {
    g.allgather(headers, header_in)->wait();
  }));
  const int64_t header_bytes = kHeaderFields * static_cast<int64_t>(sizeof(int64_t));
  timer.Count(header_bytes, (world - 1) * header_bytes);

  std::vector<int64_t> sizes(world);
  for (int i = 0; i < world; ++i) {
    const auto* theirs = headers[0][i].data_ptr<int64_t>();
    if (theirs[kDtype] != h[kDtype] || theirs[kDims] != h[kDims] ||
        theirs[kTrailingHash] != h[kTrailingHash]) {
      // Every rank sees every header, so all of them return this error and stay in step.
      return Status::InvalidArgument(
          "group round " + std::to_string(state_->round) + ": all_gather on rank " +
          std::to_string(state_->rank) + ": rank " + std::to_string(i) + " passed " +
          (theirs[kDtype] != h[kDtype]
               ? std::string(c10::toString(static_cast<c10::ScalarType>(theirs[kDtype])))
               : std::to_string(theirs[kDims]) + " dimensions or other sizes") +
          " where this rank passed " + DescribeShape(part) +
          "; all ranks must pass one dtype and the same sizes after the first");
    }
    sizes[i] = theirs[kRows];
  }
  const int64_t max_rows = *std::max_element(sizes.begin(), sizes.end());

  std::vector<int64_t> shape = part.sizes().vec();
  std::vector<torch::Tensor> result;
  result.reserve(world);
  if (max_rows == 0 || row_bytes == 0) {
    // Nothing to send (all parts empty): every rank knows it from the headers alone.
    for (int i = 0; i < world; ++i) {
      shape[0] = sizes[i];
      result.push_back(torch::empty(shape, part.options()));
    }
    return result;
  }

  torch::Tensor padded = part;
  if (rows < max_rows) {
    shape[0] = max_rows;
    // Zeros rather than whatever the allocator held: the padding goes over the network.
    padded = torch::zeros(shape, part.options());
    padded.narrow(0, 0, rows).copy_(part);
  }
  shape[0] = max_rows;
  std::vector<torch::Tensor> gathered;
  std::vector<std::vector<torch::Tensor>> outputs(1);
  for (int i = 0; i < world; ++i) {
    gathered.push_back(torch::empty(shape, part.options()));
    outputs[0].push_back(AsBytes(gathered.back()));
  }
  std::vector<torch::Tensor> inputs{AsBytes(padded)};
  TS_RETURN_IF_ERROR(RunCollective(*state_, "all_gather", [&](c10d::ProcessGroupGloo& g) {
    g.allgather(outputs, inputs)->wait();
  }));
  const int64_t part_bytes = max_rows * row_bytes;
  timer.Count(part_bytes, (world - 1) * part_bytes);
  for (int i = 0; i < world; ++i) result.push_back(gathered[i].narrow(0, 0, sizes[i]));
  return result;
}

Status GroupRound::AllReduceSum(torch::Tensor& values) {
  if (!values.defined() || !values.device().is_cpu() || values.layout() != torch::kStrided ||
      values.scalar_type() != torch::kFloat32 || !values.is_contiguous()) {
    return Status::InvalidArgument("group round " + std::to_string(state_->round) +
                                   ": all_reduce needs a contiguous float32 CPU tensor, got " +
                                   (values.defined()
                                        ? std::string(c10::toString(values.scalar_type())) +
                                              " on " + values.device().str() +
                                              (values.is_contiguous() ? "" : ", not contiguous")
                                        : std::string("an undefined tensor")));
  }
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->error.ok()) return state_->error;
  }
  CollectiveTimer timer(*state_);
  if (values.numel() == 0) return Status::Ok();  // same size on every rank: all skip alike
  // c10d sums in place, outside autograd, also into a leaf that requires grad (a gradient).
  std::vector<torch::Tensor> tensors{values.detach()};
  TS_RETURN_IF_ERROR(RunCollective(*state_, "all_reduce", [&](c10d::ProcessGroupGloo& g) {
    c10d::AllreduceOptions options;
    options.reduceOp = c10d::ReduceOp::SUM;
    g.allreduce(tensors, options)->wait();
  }));
  const int64_t bytes = values.numel() * static_cast<int64_t>(sizeof(float));
  timer.Count(bytes, bytes);
  return Status::Ok();
}

Result<std::vector<std::string>> GroupRound::AllGatherBytes(std::string_view local) {
  // from_blob does not copy: the tensor only lives inside AllGather, which copies what it sends.
  const torch::Tensor bytes =
      torch::from_blob(const_cast<char*>(local.data()), {static_cast<int64_t>(local.size())},
                       torch::TensorOptions().dtype(torch::kUInt8));
  TS_ASSIGN_OR_RETURN(std::vector<torch::Tensor> parts, AllGather(bytes));
  std::vector<std::string> result;
  result.reserve(parts.size());
  for (const torch::Tensor& part : parts) {
    result.emplace_back(reinterpret_cast<const char*>(part.data_ptr<uint8_t>()),
                        static_cast<size_t>(part.numel()));
  }
  return result;
}

Status GroupRound::Barrier() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    if (!state_->error.ok()) return state_->error;
  }
  CollectiveTimer timer(*state_);
  return RunCollective(*state_, "barrier", [](c10d::ProcessGroupGloo& g) { g.barrier()->wait(); });
}

}  // namespace towerstream::distributed
