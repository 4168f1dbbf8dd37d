// FieldEmbeddings: hashed per-field tables, their gather and row-wise Adagrad, and their state.
#include "common/model/field_embeddings.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/cuda.h>

#include <cmath>
#include <numeric>
#include <string>

#include "common/model/binary_io.h"
#include "common/model/host_staging.h"

namespace towerstream::model {
namespace {

constexpr char kMagic[8] = {'T', 'S', 'F', 'I', 'E', 'L', 'D', 'S'};
constexpr uint32_t kFormatVersion = 1;

Status Truncated(std::string_view what) {
  return Status::Corruption("field embeddings state: truncated while reading " + std::string(what));
}

}  // namespace

Status FieldEmbeddingsOptions::Validate() const {
  if (buckets.empty()) return Status::InvalidArgument("field embeddings: no fields");
  for (size_t k = 0; k < buckets.size(); ++k) {
    if (buckets[k] < 1) {
      return Status::InvalidArgument("field embeddings: field " + std::to_string(k) + " has " +
                                     std::to_string(buckets[k]) + " buckets, expected >= 1");
    }
  }
  if (field_dim < 1) {
    return Status::InvalidArgument("field embeddings: field_dim must be at least 1, got " +
                                   std::to_string(field_dim));
  }
  if (!std::isfinite(init_std) || init_std < 0) {
    return Status::InvalidArgument("field embeddings: init_std must be finite and >= 0");
  }
  if (!std::isfinite(eps) || eps <= 0) {
    return Status::InvalidArgument("field embeddings: eps must be finite and > 0");
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    return Status::InvalidArgument("field embeddings: device " + device.str() +
                                   " requested but CUDA is not available");
  }
  return Status::Ok();
}

Result<std::unique_ptr<FieldEmbeddings>> FieldEmbeddings::Create(
    const FieldEmbeddingsOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  try {
    return std::unique_ptr<FieldEmbeddings>(new FieldEmbeddings(options));
  } catch (const std::exception& e) {
    return Status::Internal(std::string("field embeddings: cannot allocate: ") + e.what());
  }
}

FieldEmbeddings::FieldEmbeddings(const FieldEmbeddingsOptions& options) : options_(options) {
  std::vector<int64_t> offsets(options_.buckets.size());
  std::exclusive_scan(options_.buckets.begin(), options_.buckets.end(), offsets.begin(),
                      int64_t{0});
  const int64_t rows = offsets.back() + options_.buckets.back();
  const auto on_device = torch::TensorOptions().device(options_.device);
  offsets_ = torch::tensor(offsets, torch::kLong).to(options_.device);
  buckets_ = torch::tensor(options_.buckets, torch::kLong).to(options_.device);
  // Drawn on the host from a private generator: the same values on every device.
  at::Generator gen = at::detail::createCPUGenerator(options_.seed);
  weight_ = (torch::randn({rows, options_.field_dim}, gen) * options_.init_std)
                .to(on_device.dtype(torch::kFloat));
  accumulator_ = torch::zeros({rows}, on_device.dtype(torch::kFloat));
}

torch::Tensor FieldEmbeddings::Rows(const torch::Tensor& codes) const {
  TORCH_CHECK(codes.dim() == 2 && codes.size(1) == fields() && codes.scalar_type() == torch::kLong,
              "FieldEmbeddings::Rows: codes must be int64 [B, ", fields(), "]");
  return ToDevice(codes, options_.device).remainder(buckets_).add_(offsets_);
}

torch::Tensor FieldEmbeddings::Gather(const torch::Tensor& rows) const {
  return weight_.index_select(0, rows.reshape({-1})).view({rows.size(0), width()});
}

void FieldEmbeddings::ApplyRowWiseAdagrad(const torch::Tensor& rows, const torch::Tensor& grads,
                                          float lr) {
  const RowGradients part{.rows = rows, .grads = grads, .source = {}, .scale = {}};
  model::ApplyRowWiseAdagrad(weight_, accumulator_, std::span<const RowGradients>(&part, 1), lr,
                             static_cast<float>(options_.eps), options_.fused_host_update,
                             &scratch_);
}

RowGradients FieldEmbeddings::SumGradients(const torch::Tensor& rows, const torch::Tensor& grads) {
  const RowGradients part{.rows = rows, .grads = grads, .source = {}, .scale = {}};
  return SumRowGradients(std::span<const RowGradients>(&part, 1), weight_.size(0),
                         options_.field_dim, &scratch_);
}

Status FieldEmbeddings::Save(std::ostream& out) const {
  binary_io::WriteHeader(out, kMagic, kFormatVersion);
  binary_io::WritePod(out, static_cast<int64_t>(options_.buckets.size()));
  for (int64_t b : options_.buckets) binary_io::WritePod(out, b);
  binary_io::WritePod(out, options_.field_dim);
  try {
    binary_io::WriteTensorData(out, weight_);
    binary_io::WriteTensorData(out, accumulator_);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("field embeddings state: ") + e.what());
  }
  if (!out) return Status::IoError("field embeddings state: write failed");
  return Status::Ok();
}

Status FieldEmbeddings::Load(std::istream& in) {
  TS_RETURN_IF_ERROR(binary_io::ReadHeader(in, kMagic, kFormatVersion, "field embeddings state"));
  int64_t fields = 0, field_dim = 0;
  if (!binary_io::ReadPod(in, &fields) || fields < 0 || fields > 1024) return Truncated("fields");
  std::vector<int64_t> buckets(static_cast<size_t>(fields));
  for (int64_t& b : buckets) {
    if (!binary_io::ReadPod(in, &b)) return Truncated("buckets");
  }
  if (!binary_io::ReadPod(in, &field_dim)) return Truncated("field_dim");
  if (buckets != options_.buckets || field_dim != options_.field_dim) {
    return Status::FailedPrecondition(
        "field embeddings state: saved with other buckets or field_dim than this model's");
  }
  try {
    torch::Tensor weight = torch::empty(weight_.sizes(), torch::kFloat);
    torch::Tensor accumulator = torch::empty(accumulator_.sizes(), torch::kFloat);
    if (!binary_io::ReadTensorData(in, weight)) return Truncated("weights");
    if (!binary_io::ReadTensorData(in, accumulator)) return Truncated("accumulators");
    weight_ = weight.to(options_.device);
    accumulator_ = accumulator.to(options_.device);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("field embeddings state: ") + e.what());
  }
  return Status::Ok();
}

}  // namespace towerstream::model
