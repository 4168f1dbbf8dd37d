// QueryTower, ItemTower and the logQ-corrected in-batch softmax loss.
#include "common/model/two_tower.h"

#include "common/model/fast_ops.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn.h>

#include <cmath>
#include <limits>
#include <numbers>
#include <string>

namespace towerstream::model {
namespace {

// Rough mean and spread of H&M customer ages: only to bring the feature near unit scale.
constexpr float kAgeMean = 36.0f;
constexpr float kAgeScale = 14.0f;
// Upper bounds of the age bands below the last (60+) and the missing band.
constexpr float kAgeBandBounds[] = {20.f, 25.f, 30.f, 40.f, 50.f, 60.f};

Status AtLeast(std::string_view field, int64_t value, int64_t min) {
  if (value >= min) return Status::Ok();
  return Status::InvalidArgument("two-tower: " + std::string(field) + " must be at least " +
                                 std::to_string(min) + ", got " + std::to_string(value));
}

// Linear layers of widths in -> hidden... -> out with ReLU between, initialised like LibTorch's
// default (uniform in +-1/sqrt(fan_in)) but from `gen`; `layers` gets the linear layers.
torch::nn::Sequential MakeMlp(int64_t in, const TwoTowerOptions& options, at::Generator& gen,
                              std::vector<torch::nn::Linear>* layers) {
  torch::nn::Sequential mlp;
  std::vector<int64_t> widths = options.hidden;
  widths.push_back(options.dim);
  int64_t fan_in = in;
  for (size_t i = 0; i < widths.size(); ++i) {
    torch::nn::Linear linear(fan_in, widths[i]);
    {
      torch::NoGradGuard no_grad;
      const double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
      linear->weight.copy_((torch::rand({widths[i], fan_in}, gen) * 2 - 1) * bound);
      linear->bias.copy_((torch::rand({widths[i]}, gen) * 2 - 1) * bound);
    }
    mlp->push_back(linear);
    layers->push_back(linear);
    if (i + 1 < widths.size()) mlp->push_back(torch::nn::ReLU());
    fan_in = widths[i];
  }
  return mlp;
}

// The MLP's layers with ReLU between, through fast_ops (the Sequential only names them).
torch::Tensor RunMlp(const std::vector<torch::nn::Linear>& layers, torch::Tensor x) {
  for (size_t i = 0; i < layers.size(); ++i) {
    x = Linear(x, layers[i]->weight, layers[i]->bias);
    if (i + 1 < layers.size()) x = torch::relu(x);
  }
  return x;
}

}  // namespace

Status TwoTowerOptions::Validate() const {
  TS_RETURN_IF_ERROR(AtLeast("dim", dim, 1));
  TS_RETURN_IF_ERROR(AtLeast("field_dim", field_dim, 1));
  TS_RETURN_IF_ERROR(AtLeast("category_buckets", category_buckets, 1));
  TS_RETURN_IF_ERROR(AtLeast("postal_code_buckets", postal_code_buckets, 1));
  TS_RETURN_IF_ERROR(AtLeast("product_code_buckets", product_code_buckets, 1));
  TS_RETURN_IF_ERROR(AtLeast("item_code_buckets", item_code_buckets, 1));
  for (int64_t width : hidden) TS_RETURN_IF_ERROR(AtLeast("every hidden width", width, 1));
  if (!std::isfinite(temperature) || temperature <= 0) {
    return Status::InvalidArgument("two-tower: temperature must be finite and > 0, got " +
                                   std::to_string(temperature));
  }
  return Status::Ok();
}

std::vector<int64_t> TwoTowerOptions::QueryFieldBuckets() const {
  std::vector<int64_t> buckets(kQueryCodeCount, category_buckets);
  buckets[kPostalCode] = postal_code_buckets;
  return buckets;
}

std::vector<int64_t> TwoTowerOptions::ItemFieldBuckets() const {
  std::vector<int64_t> buckets(kItemCodeCount, item_code_buckets);
  buckets[kProductCode] = product_code_buckets;
  return buckets;
}

void FillQueryDense(bool age_known, float age, int month, int64_t recent, int64_t history_length,
                    float* out) {
  out[0] = age_known ? (age - kAgeMean) / kAgeScale : 0.0f;
  out[1] = age_known ? 0.0f : 1.0f;
  const double angle = (month - 1) * (2 * std::numbers::pi / 12);
  out[2] = static_cast<float>(std::sin(angle));
  out[3] = static_cast<float>(std::cos(angle));
  // log(1 + n) / log(1 + N): returning customers differ most in their first few purchases.
  out[4] = history_length > 0 ? static_cast<float>(std::log1p(static_cast<double>(recent)) /
                                                   std::log1p(static_cast<double>(history_length)))
                              : 0.0f;
  int64_t band = kAgeBands - 1;  // missing
  if (age_known) {
    band = 0;
    while (band < kAgeBands - 2 && age >= kAgeBandBounds[band]) ++band;
  }
  for (int64_t b = 0; b < kAgeBands; ++b) out[5 + b] = b == band ? 1.0f : 0.0f;
}

QueryTower::QueryTower(const TwoTowerOptions& options) {
  at::Generator gen = at::detail::createCPUGenerator(options.seed);
  const int64_t in = 2 * options.dim + kQueryDenseFeatures + kQueryCodeCount * options.field_dim;
  mlp_ = register_module("mlp", MakeMlp(in, options, gen, &layers_));
  to(options.device);
}

torch::Tensor QueryTower::forward(const QueryInputs& in) {
  return L2Normalize(RunMlp(
      layers_, torch::cat({in.customer_embedding, in.recent_pooled, in.dense, in.codes}, 1)));
}

ItemTower::ItemTower(const TwoTowerOptions& options) {
  // A different stream from the query tower's, so equal shapes do not start out equal.
  at::Generator gen = at::detail::createCPUGenerator(options.seed ^ 0x17E3ULL);
  const int64_t in = options.dim + kItemCodeCount * options.field_dim;
  mlp_ = register_module("mlp", MakeMlp(in, options, gen, &layers_));
  to(options.device);
}

torch::Tensor ItemTower::forward(const ItemInputs& in) {
  return L2Normalize(RunMlp(layers_, torch::cat({in.article_embedding, in.codes}, 1)));
}

torch::Tensor InBatchLogits(const torch::Tensor& query, const torch::Tensor& item,
                            const torch::Tensor& item_ids, const torch::Tensor& log_q,
                            double temperature, const ExtraNegatives* extra) {
  const int64_t b = query.size(0);
  torch::Tensor columns = item, column_ids = item_ids, column_log_q = log_q;
  if (extra != nullptr) {
    columns = torch::cat({item, extra->item}, 0);
    column_ids = torch::cat({item_ids, extra->item_ids}, 0);
    column_log_q = torch::cat({log_q, extra->log_q}, 0);
  }
  const torch::Tensor logits = query.matmul(columns.t()) / temperature - column_log_q.unsqueeze(0);
  // A column other than the diagonal holding row i's own item is a positive, not a negative.
  const torch::Tensor same = item_ids.unsqueeze(1) == column_ids.unsqueeze(0);
  const torch::Tensor diagonal = torch::eye(b, column_ids.size(0), same.options());
  return logits.masked_fill(same.logical_and(diagonal.logical_not()),
                            -std::numeric_limits<float>::infinity());
}

torch::Tensor InBatchSoftmaxLoss(const torch::Tensor& query, const torch::Tensor& item,
                                 const torch::Tensor& item_ids, const torch::Tensor& log_q,
                                 double temperature, const ExtraNegatives* extra) {
  const torch::Tensor logits = InBatchLogits(query, item, item_ids, log_q, temperature, extra);
  return -torch::log_softmax(logits, 1).diagonal().mean();
}

}  // namespace towerstream::model
