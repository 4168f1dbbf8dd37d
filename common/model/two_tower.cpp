// QueryTower, ItemTower and the logQ-corrected in-batch softmax loss.
#include "common/model/two_tower.h"

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
// Standard deviation of the code embeddings' initialisation: comparable to the MLP's inputs.
constexpr double kCodeInitStd = 0.1;

constexpr const char* kQueryCodeNames[kQueryCodeCount] = {
    "club_member_status", "fashion_news_frequency", "fn", "active", "postal_code", "sales_channel"};
constexpr const char* kItemCodeNames[kItemCodeCount] = {
    "product_code", "product_type",    "product_group",    "graphical_appearance",
    "colour_group", "perceived_value", "perceived_master", "department",
    "index",        "index_group",     "section",          "garment_group"};

Status AtLeast(std::string_view field, int64_t value, int64_t min) {
  if (value >= min) return Status::Ok();
  return Status::InvalidArgument("two-tower: " + std::string(field) + " must be at least " +
                                 std::to_string(min) + ", got " + std::to_string(value));
}

// An embedding of `buckets` codes, initialised from `gen` (not the global generator).
torch::nn::Embedding MakeCodeEmbedding(int64_t buckets, int64_t width, at::Generator& gen) {
  torch::nn::Embedding embedding(buckets, width);
  torch::NoGradGuard no_grad;
  embedding->weight.copy_(torch::randn({buckets, width}, gen) * kCodeInitStd);
  return embedding;
}

// Linear layers of widths in -> hidden... -> out with ReLU between, initialised like LibTorch's
// default (uniform in +-1/sqrt(fan_in)) but from `gen`.
torch::nn::Sequential MakeMlp(int64_t in, const TwoTowerOptions& options, at::Generator& gen) {
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
    if (i + 1 < widths.size()) mlp->push_back(torch::nn::ReLU());
    fan_in = widths[i];
  }
  return mlp;
}

torch::Tensor Normalised(const torch::Tensor& x) {
  return torch::nn::functional::normalize(x, torch::nn::functional::NormalizeFuncOptions().dim(1));
}

// Embeds each column of `codes` with its own table, reducing the code modulo the table's size.
std::vector<torch::Tensor> EmbedCodes(std::vector<torch::nn::Embedding>& tables,
                                      const torch::Tensor& codes) {
  std::vector<torch::Tensor> out;
  out.reserve(tables.size());
  for (size_t i = 0; i < tables.size(); ++i) {
    const int64_t buckets = tables[i]->weight.size(0);
    out.push_back(tables[i]->forward(codes.select(1, static_cast<int64_t>(i)).remainder(buckets)));
  }
  return out;
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

QueryTower::QueryTower(const TwoTowerOptions& options) : options_(options) {
  at::Generator gen = at::detail::createCPUGenerator(options.seed);
  for (int64_t i = 0; i < kQueryCodeCount; ++i) {
    const int64_t buckets =
        i == kPostalCode ? options.postal_code_buckets : options.category_buckets;
    codes_.push_back(
        register_module(kQueryCodeNames[i], MakeCodeEmbedding(buckets, options.field_dim, gen)));
  }
  // customer row + pooled recent items + (age, age missing, month sin, month cos) + age band.
  const int64_t in = 2 * options.dim + 4 + kAgeBands + kQueryCodeCount * options.field_dim;
  mlp_ = register_module("mlp", MakeMlp(in, options, gen));
  to(options.device);
}

torch::Tensor QueryTower::forward(const QueryFeatures& f) {
  const torch::Tensor missing = f.age_missing.to(torch::kFloat);
  const torch::Tensor age = f.age.to(torch::kFloat) * (1 - missing);
  const torch::Tensor age_norm = (age - kAgeMean) / kAgeScale * (1 - missing);
  const torch::Tensor boundaries =
      torch::tensor({20.f, 25.f, 30.f, 40.f, 50.f, 60.f}, age.options());
  const torch::Tensor band = torch::bucketize(age, boundaries, /*out_int32=*/false, /*right=*/true)
                                 .masked_fill(missing > 0.5, kAgeBands - 1);
  const torch::Tensor angle = (f.month.to(torch::kFloat) - 1) * (2 * std::numbers::pi / 12);
  const torch::Tensor mask = f.recent_mask.to(torch::kFloat);
  const torch::Tensor pooled = (f.recent_embeddings * mask.unsqueeze(-1)).sum(1) /
                               mask.sum(1, /*keepdim=*/true).clamp_min(1);

  std::vector<torch::Tensor> parts = {
      f.customer_embedding, pooled, torch::stack({age_norm, missing, angle.sin(), angle.cos()}, 1),
      torch::one_hot(band, kAgeBands).to(torch::kFloat)};
  for (torch::Tensor& code : EmbedCodes(codes_, f.codes)) parts.push_back(std::move(code));
  return Normalised(mlp_->forward(torch::cat(parts, 1)));
}

ItemTower::ItemTower(const TwoTowerOptions& options) : options_(options) {
  // A different stream from the query tower's, so equal shapes do not start out equal.
  at::Generator gen = at::detail::createCPUGenerator(options.seed ^ 0x17E3ULL);
  for (int64_t i = 0; i < kItemCodeCount; ++i) {
    const int64_t buckets =
        i == kProductCode ? options.product_code_buckets : options.item_code_buckets;
    codes_.push_back(
        register_module(kItemCodeNames[i], MakeCodeEmbedding(buckets, options.field_dim, gen)));
  }
  const int64_t in = options.dim + kItemCodeCount * options.field_dim;
  mlp_ = register_module("mlp", MakeMlp(in, options, gen));
  to(options.device);
}

torch::Tensor ItemTower::forward(const ItemFeatures& f) {
  std::vector<torch::Tensor> parts = {f.article_embedding};
  for (torch::Tensor& code : EmbedCodes(codes_, f.codes)) parts.push_back(std::move(code));
  return Normalised(mlp_->forward(torch::cat(parts, 1)));
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
