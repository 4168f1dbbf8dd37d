// TwoTowerModel: batch assembly, the training step, progressive validation and model state.
#include "common/model/two_tower_model.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>
#include <torch/cuda.h>
#include <torch/serialize.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <utility>

#include "common/base/date.h"
#include "common/model/binary_io.h"
#include "common/model/fast_ops.h"
#include "common/model/host_staging.h"

namespace towerstream::model {
namespace {

constexpr char kStateMagic[8] = {'T', 'S', 'M', 'O', 'D', 'E', 'L', 'S'};
constexpr char kItemsMagic[8] = {'T', 'S', 'I', 'T', 'E', 'M', 'S', 'V'};
constexpr uint32_t kFormatVersion = 1;
// Catalogue articles embedded per item-tower call: bounds the temporaries at full scale.
constexpr int64_t kEmbedChunk = 16384;
// Progressive validation scores the queries against this many catalogue items per matrix
// product: the block of scores stays in cache while it is counted.
constexpr int64_t kScoreChunk = 2048;

// The model's state files (docs/design.md §7: model and optimiser state, tables, estimator,
// catalogue, and the item embeddings for serving).
constexpr const char* kTowersFile = "towers.pt";
constexpr const char* kOptimizerFile = "optimizer.bin";
constexpr const char* kCustomerTableFile = "customer_table.bin";
constexpr const char* kArticleTableFile = "article_table.bin";
constexpr const char* kQueryFieldsFile = "query_fields.bin";
constexpr const char* kItemFieldsFile = "item_fields.bin";
constexpr const char* kEstimatorFile = "frequency_estimator.bin";
constexpr const char* kCatalogueFile = "catalogue.bin";
constexpr const char* kStateFile = "model_state.bin";
constexpr const char* kItemEmbeddingsFile = "item_embeddings.bin";

uint64_t SeedFor(uint64_t seed, uint64_t component) {
  uint64_t x = seed + 0x9e3779b97f4a7c15ULL * (component + 1);
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

Status AtLeast(std::string_view field, int64_t value, int64_t min) {
  if (value >= min) return Status::Ok();
  return Status::InvalidArgument("model: " + std::string(field) + " must be at least " +
                                 std::to_string(min) + ", got " + std::to_string(value));
}

// The operating system's reason for the last failed call, e.g. "No space left on device".
std::string OsReason(int error) { return error != 0 ? std::strerror(error) : "unknown reason"; }

Status WriteFile(const std::filesystem::path& path,
                 const std::function<Status(std::ostream&)>& write) {
  errno = 0;
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return Status::IoError("cannot create " + path.string() + ": " + OsReason(errno));
  errno = 0;
  if (const Status wrote = write(out); !wrote.ok()) {
    // The writers check the stream, which knows only that it failed: the OS says why.
    const int error = errno;
    const Status named = wrote.WithContext(path.string());
    if (error == 0) return named;
    return Status::IoError(named.message() + " (" + OsReason(error) + ")");
  }
  out.close();  // the last buffered bytes reach the file here, and may not fit
  if (out.fail()) return Status::IoError("cannot write " + path.string() + ": " + OsReason(errno));
  return Status::Ok();
}

Status ReadFile(const std::filesystem::path& path,
                const std::function<Status(std::istream&)>& read) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot open " + path.string());
  return read(in).WithContext(path.string());
}

}  // namespace

Status ModelOptions::Validate() const {
  TS_RETURN_IF_ERROR(towers.Validate());
  TS_RETURN_IF_ERROR(AtLeast("admit_after", admit_after, 1));
  TS_RETURN_IF_ERROR(AtLeast("expire_after", expire_after, 0));
  TS_RETURN_IF_ERROR(AtLeast("customer_cold_rows", customer_cold_rows, 1));
  TS_RETURN_IF_ERROR(AtLeast("article_cold_rows", article_cold_rows, 1));
  TS_RETURN_IF_ERROR(AtLeast("history_length", history_length, 0));
  TS_RETURN_IF_ERROR(AtLeast("extra_negatives", extra_negatives, 0));
  if (!(table_learning_rate > 0) || !std::isfinite(table_learning_rate)) {
    return Status::InvalidArgument("model: table learning rate must be finite and > 0");
  }
  if (!(dense_learning_rate > 0) || !std::isfinite(dense_learning_rate)) {
    return Status::InvalidArgument("model: dense learning rate must be finite and > 0");
  }
  if (!(weight_decay >= 0) || !std::isfinite(weight_decay)) {
    return Status::InvalidArgument("model: weight decay must be finite and >= 0");
  }
  if (!device.is_cpu() && !device.is_cuda()) {
    return Status::InvalidArgument("model: device must be cpu or cuda, got " + device.str());
  }
  if (device.is_cuda() && !torch::cuda::is_available()) {
    return Status::InvalidArgument("model: device " + device.str() +
                                   " requested but CUDA is not available");
  }
  FrequencyEstimatorOptions estimator_on_device = estimator;
  estimator_on_device.device = device;
  return estimator_on_device.Validate();
}

Result<torch::Device> ResolveDevice(std::string_view name) {
  if (name == "auto")
    return torch::cuda::is_available() ? torch::Device(torch::kCUDA, 0)
                                       : torch::Device(torch::kCPU);
  if (name == "cpu") return torch::Device(torch::kCPU);
  if (name.starts_with("cuda")) {
    if (!torch::cuda::is_available()) {
      return Status::InvalidArgument("device '" + std::string(name) +
                                     "': CUDA is not available on this machine (use cpu or auto)");
    }
    try {
      torch::Device device{std::string(name)};
      if (device.has_index() && device.index() >= static_cast<int>(torch::cuda::device_count())) {
        return Status::InvalidArgument("device '" + std::string(name) + "': only " +
                                       std::to_string(torch::cuda::device_count()) +
                                       " CUDA device(s)");
      }
      return device;
    } catch (const std::exception&) {
    }
  }
  return Status::InvalidArgument("device '" + std::string(name) +
                                 "': expected auto, cpu, cuda or cuda:N");
}

TwoTowerModel::TwoTowerModel(const ModelOptions& options) : options_(options) {
  options_.towers.device = options_.device;
  options_.estimator.device = options_.device;
}

TwoTowerModel::~TwoTowerModel() = default;

Result<std::unique_ptr<TwoTowerModel>> TwoTowerModel::Create(const ModelOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<TwoTowerModel> model(new TwoTowerModel(options));
  TS_RETURN_IF_ERROR(model->Init());
  return model;
}

Status TwoTowerModel::Init() {
  const ModelOptions& o = options_;
  EmbeddingTableOptions table;
  table.dim = o.towers.dim;
  table.admit_after = o.admit_after;
  table.expire_after = o.expire_after;
  table.device = o.device;
  table.cold_rows = o.customer_cold_rows;
  table.seed = SeedFor(o.seed, 1);
  TS_ASSIGN_OR_RETURN(customers_, EmbeddingTable::Create(table));
  table.cold_rows = o.article_cold_rows;
  table.seed = SeedFor(o.seed, 2);
  TS_ASSIGN_OR_RETURN(articles_, EmbeddingTable::Create(table));

  FieldEmbeddingsOptions fields;
  fields.field_dim = o.towers.field_dim;
  fields.device = o.device;
  fields.buckets = o.towers.QueryFieldBuckets();
  fields.seed = SeedFor(o.seed, 3);
  TS_ASSIGN_OR_RETURN(query_fields_, FieldEmbeddings::Create(fields));
  fields.buckets = o.towers.ItemFieldBuckets();
  fields.seed = SeedFor(o.seed, 4);
  TS_ASSIGN_OR_RETURN(item_fields_, FieldEmbeddings::Create(fields));

  TS_ASSIGN_OR_RETURN(estimator_, FrequencyEstimator::Create(o.estimator));
  try {
    TwoTowerOptions towers = o.towers;
    towers.seed = SeedFor(o.seed, 5);
    query_tower_ = std::make_shared<QueryTower>(towers);
    item_tower_ = std::make_shared<ItemTower>(towers);
    std::vector<torch::Tensor> params = TowerParameters();
    DenseAdamOptions adam;
    adam.learning_rate = o.dense_learning_rate;
    adam.weight_decay = o.weight_decay;
    adam_ = std::make_unique<DenseAdam>(std::move(params), adam);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("model: cannot build the towers: ") + e.what());
  }
  return Status::Ok();
}

std::vector<torch::Tensor> TwoTowerModel::TowerParameters() const {
  std::vector<torch::Tensor> params = query_tower_->parameters();
  for (const torch::Tensor& p : item_tower_->parameters()) params.push_back(p);
  return params;
}

void TwoTowerModel::AddBatchArticles(std::span<const Example> batch) {
  for (const Example& e : batch) catalogue_.Upsert(e.article_id, e.article);
}

TwoTowerModel::HostBatch TwoTowerModel::MakeHostBatch(std::span<const Example> batch) const {
  HostBatch h;
  const auto b = static_cast<int64_t>(batch.size());
  const int64_t l = std::max<int64_t>(options_.history_length, 1);
  h.size = b;
  // Pinned when the model is on a GPU: their copies there then leave the host free.
  const torch::Device device = options_.device;
  h.customer_ids = HostTensor({b}, torch::kLong, device);
  h.article_ids = HostTensor({b}, torch::kLong, device);
  h.recent_ids = HostTensor({b, l}, torch::kLong, device).fill_(kNoId);
  h.dense = HostTensor({b, kQueryDenseFeatures}, torch::kFloat, device);
  h.query_codes = HostTensor({b, kQueryCodeCount}, torch::kLong, device);
  h.item_codes = HostTensor({b, kItemCodeCount}, torch::kLong, device);
  int64_t* customer = h.customer_ids.data_ptr<int64_t>();
  int64_t* article = h.article_ids.data_ptr<int64_t>();
  int64_t* recent = h.recent_ids.data_ptr<int64_t>();
  float* dense = h.dense.data_ptr<float>();
  int64_t* qc = h.query_codes.data_ptr<int64_t>();
  int64_t* ic = h.item_codes.data_ptr<int64_t>();
  // Examples fill disjoint rows: split over LibTorch's threads.
  at::parallel_for(0, b, /*grain_size=*/256, [&](int64_t first, int64_t last) {
    for (int64_t i = first; i < last; ++i) {
      const Example& e = batch[i];
      customer[i] = e.customer_key;
      article[i] = e.article_id;
      // The last history_length purchases (mean pooling makes their order irrelevant).
      const auto n = static_cast<int64_t>(e.recent_article_ids.size());
      const int64_t take = std::min(n, options_.history_length);
      for (int64_t k = 0; k < take; ++k) recent[i * l + k] = e.recent_article_ids[n - take + k];
      const CustomerCodes& c = e.customer;
      FillQueryDense(c.age.has_value(), static_cast<float>(c.age.value_or(0)),
                     static_cast<int>(Date(e.day).Month()), take, options_.history_length,
                     dense + i * kQueryDenseFeatures);
      int64_t* q = qc + i * kQueryCodeCount;
      q[kClubMemberStatus] = c.club_member_status;
      q[kFashionNewsFrequency] = c.fashion_news_frequency;
      q[kFn] = c.fn;
      q[kActive] = c.active;
      q[kPostalCode] = c.postal_code;
      q[kSalesChannel] = e.sales_channel;
      std::copy(e.article.codes.begin(), e.article.codes.end(), ic + i * kItemCodeCount);
    }
  });
  return h;
}

QueryInputs TwoTowerModel::QueryInputsOf(const HostBatch& batch, const torch::Tensor& customer_rows,
                                         const torch::Tensor& recent_rows,
                                         const torch::Tensor& code_rows) {
  QueryInputs in;
  in.customer_embedding = customers_->Gather(customer_rows);
  in.recent_pooled = articles_->GatherMean(recent_rows);
  in.dense = ToDevice(batch.dense, options_.device);
  in.codes = query_fields_->Gather(code_rows);
  return in;
}

Result<StepStats> PendingStepStats::Get() const {
  StepStats stats;
  stats.examples = examples_;
  stats.group_examples = examples_;
  try {
    stats.loss = loss_.item<double>();
    stats.mean_log_q = mean_log_q_.item<double>();
  } catch (const std::exception& e) {
    // A failure of the step's asynchronous device work surfaces here.
    return Status::Internal(std::string("model: training step failed on the device: ") + e.what());
  }
  return stats;
}

TwoTowerModel::StepInputs TwoTowerModel::TrainableInputs(const HostBatch& host,
                                                         torch::Tensor article_rows) {
  StepInputs in;
  in.customer_rows = customers_->Lookup(host.customer_ids, step_);
  in.article_rows = std::move(article_rows);
  in.recent_rows = articles_->RowsOf(host.recent_ids);
  in.query_code_rows = query_fields_->Rows(host.query_codes);
  in.item_code_rows = item_fields_->Rows(host.item_codes);
  in.query = QueryInputsOf(host, in.customer_rows, in.recent_rows, in.query_code_rows);
  for (torch::Tensor* leaf :
       {&in.query.customer_embedding, &in.query.recent_pooled, &in.query.codes}) {
    leaf->requires_grad_(true);
  }
  in.item = {articles_->Gather(in.article_rows).requires_grad_(true),
             item_fields_->Gather(in.item_code_rows).requires_grad_(true)};
  return in;
}

TwoTowerModel::ItemTableGradients TwoTowerModel::ItemTableGradientsOf(const StepInputs& in,
                                                                      const ExtraItems* extra) {
  ItemTableGradients out;
  out.article_parts = {{.rows = in.article_rows,
                        .grads = in.item.article_embedding.grad(),
                        .source = {},
                        .scale = {}},
                       MeanGradients(in.recent_rows, in.query.recent_pooled.grad())};
  out.item_code_rows = in.item_code_rows;
  out.item_code_grads = in.item.codes.grad();
  if (extra != nullptr) {
    out.article_parts.push_back({.rows = extra->rows,
                                 .grads = extra->inputs.article_embedding.grad(),
                                 .source = {},
                                 .scale = {}});
    out.item_code_rows = torch::cat({in.item_code_rows, extra->code_rows});
    out.item_code_grads = torch::cat({out.item_code_grads, extra->inputs.codes.grad()});
  }
  return out;
}

Result<StepStats> TwoTowerModel::Train(std::span<const Example> batch) {
  TS_ASSIGN_OR_RETURN(const PendingStepStats pending, TrainAsync(batch));
  return pending.Get();
}

Result<PendingStepStats> TwoTowerModel::TrainAsync(std::span<const Example> batch) {
  if (batch.empty()) return Status::InvalidArgument("model: empty training batch");
  try {
    AddBatchArticles(batch);
    const HostBatch host = MakeHostBatch(batch);
    const torch::Device device = options_.device;
    const float lr = options_.table_learning_rate;

    StepInputs in = TrainableInputs(host, articles_->Lookup(host.article_ids, step_));
    const torch::Tensor& customer_rows = in.customer_rows;
    const torch::Tensor& query_code_rows = in.query_code_rows;
    QueryInputs& query = in.query;
    ItemInputs& item = in.item;
    const torch::Tensor item_ids = ToDevice(host.article_ids, device);
    TS_RETURN_IF_ERROR(estimator_->Update(item_ids, step_));
    const torch::Tensor log_q =
        options_.logq_correction
            ? estimator_->LogProbability(item_ids)
            : torch::zeros({host.size}, item_ids.options().dtype(torch::kFloat));

    const bool with_extra = options_.extra_negatives > 0 && catalogue_.size() > 0;
    ExtraItems extra;
    if (with_extra) extra = EmbedExtraNegatives(DrawExtraNegatives(), log_q.options());
    const torch::Tensor query_vectors = query_tower_->forward(query);
    const torch::Tensor item_vectors = item_tower_->forward(item);
    const torch::Tensor loss = FusedInBatchSoftmaxLoss(query_vectors, item_vectors, item_ids, log_q,
                                                       options_.towers.temperature,
                                                       with_extra ? &extra.negatives : nullptr);
    adam_->ZeroGrad();
    loss.backward();
    adam_->Step();

    ItemTableGradients item_tables = ItemTableGradientsOf(in, with_extra ? &extra : nullptr);
    const std::vector<RowGradients>& article_grads = item_tables.article_parts;
    const torch::Tensor& item_code_update_rows = item_tables.item_code_rows;
    const torch::Tensor& item_code_grads = item_tables.item_code_grads;
    // The article table (its own rows plus every history's) is about as much work as the three
    // others together: on a CPU the two halves run on two threads.
    const auto update = [&](int64_t part) {
      if (part == 0) {
        articles_->ApplyRowWiseAdagrad(article_grads, lr);
      } else {
        customers_->ApplyRowWiseAdagrad(customer_rows, query.customer_embedding.grad(), lr);
        query_fields_->ApplyRowWiseAdagrad(query_code_rows, query.codes.grad(), lr);
        item_fields_->ApplyRowWiseAdagrad(item_code_update_rows, item_code_grads, lr);
      }
    };
    if (device.is_cpu()) {
      at::parallel_for(0, 2, /*grain_size=*/1, [&](int64_t first, int64_t last) {
        for (int64_t part = first; part < last; ++part) update(part);
      });
    } else {
      update(0);
      update(1);
    }
    ++step_;
    return PendingStepStats(loss.detach(), log_q.mean(), host.size);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("model: training step failed: ") + e.what());
  }
}

TwoTowerModel::NegativeDraw TwoTowerModel::DrawExtraNegatives() {
  const int64_t n = options_.extra_negatives;
  at::Generator gen = at::detail::createCPUGenerator(
      SeedFor(options_.seed ^ 0xE7A4ULL, static_cast<uint64_t>(negative_draws_++)));
  const torch::Tensor picks = torch::randint(catalogue_.size(), {n}, gen, torch::kLong);
  NegativeDraw draw{torch::empty({n}, torch::kLong),
                    torch::empty({n, kItemCodeCount}, torch::kLong)};
  const int64_t* pick = picks.data_ptr<int64_t>();
  for (int64_t k = 0; k < n; ++k) {
    draw.ids.data_ptr<int64_t>()[k] = catalogue_.ids()[pick[k]];
    const auto& c = catalogue_.codes()[pick[k]].codes;
    std::copy(c.begin(), c.end(), draw.codes.data_ptr<int64_t>() + k * kItemCodeCount);
  }
  return draw;
}

// Mixed negative sampling: uniform draws from the catalogue, corrected by their own expected
// count per step (extra_negatives / catalogue size).
TwoTowerModel::ExtraItems TwoTowerModel::EmbedExtraNegatives(const NegativeDraw& draw,
                                                             const torch::TensorOptions& log_q) {
  const int64_t n = draw.ids.size(0);
  ExtraItems extra;
  extra.rows = articles_->RowsOf(draw.ids);
  extra.code_rows = item_fields_->Rows(draw.codes);
  extra.inputs = {articles_->Gather(extra.rows).requires_grad_(true),
                  item_fields_->Gather(extra.code_rows).requires_grad_(true)};
  extra.negatives.item = item_tower_->forward(extra.inputs);
  extra.negatives.item_ids = draw.ids.to(options_.device);
  extra.negatives.log_q = torch::full(
      {n}, std::log(static_cast<double>(n) / static_cast<double>(catalogue_.size())), log_q);
  return extra;
}

torch::Tensor TwoTowerModel::EmbedCatalogue(int64_t first, int64_t last) {
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> parts;
  for (int64_t begin = first; begin < last; begin += kEmbedChunk) {
    const int64_t n = std::min(kEmbedChunk, last - begin);
    torch::Tensor ids = torch::empty({n}, torch::kLong);
    torch::Tensor codes = torch::empty({n, kItemCodeCount}, torch::kLong);
    int64_t* id = ids.data_ptr<int64_t>();
    int64_t* code = codes.data_ptr<int64_t>();
    for (int64_t k = 0; k < n; ++k) {
      id[k] = catalogue_.ids()[begin + k];
      const auto& c = catalogue_.codes()[begin + k].codes;
      std::copy(c.begin(), c.end(), code + k * kItemCodeCount);
    }
    ItemInputs in{articles_->Gather(articles_->RowsOf(ids)),
                  item_fields_->Gather(item_fields_->Rows(codes))};
    parts.push_back(item_tower_->forward(in));
  }
  if (parts.empty()) {
    return torch::empty({0, options_.towers.dim},
                        torch::TensorOptions().dtype(torch::kFloat).device(options_.device));
  }
  return parts.size() == 1 ? parts[0] : torch::cat(parts);
}

Result<ProgressiveCounts> TwoTowerModel::Evaluate(std::span<const Example> queries,
                                                  bool add_articles) {
  ProgressiveCounts counts;
  if (queries.empty()) return counts;
  if (!add_articles) {
    // Articles the catalogue does not hold yet cannot be ranked: misses.
    std::vector<Example> known;
    for (const Example& q : queries) {
      if (catalogue_.IndexOf(q.article_id)) known.push_back(q);
    }
    if (known.size() < queries.size()) {
      TS_ASSIGN_OR_RETURN(counts, Evaluate(known, /*add_articles=*/false));
      counts.queries = static_cast<int64_t>(queries.size());
      return counts;
    }
  }
  try {
    torch::NoGradGuard no_grad;
    if (add_articles) AddBatchArticles(queries);
    const int64_t total = catalogue_.size();
    // Item vectors of the model as it is now: a stale cache would score yesterday's items
    // against today's queries.
    const torch::Tensor items = EmbedCatalogue(0, total);
    TS_ASSIGN_OR_RETURN(const torch::Tensor query_vectors, QueryEmbeddings(queries));
    const torch::Tensor on_device = query_vectors.to(options_.device);
    const auto n = static_cast<int64_t>(queries.size());
    torch::Tensor labels = torch::empty({n}, torch::kLong);
    for (int64_t r = 0; r < n; ++r) {
      labels.data_ptr<int64_t>()[r] = *catalogue_.IndexOf(queries[r].article_id);
    }
    // The purchased article's score for each query; its rank is the number of other catalogue
    // items scoring at least as high (ties count against it). Counting needs one pass over the
    // scores, where a top-k would sort them. The article itself is left out by its index, not
    // by its score, which the matrix product may round differently.
    const torch::Tensor label_index = labels.to(options_.device);
    const torch::Tensor label_scores =
        (on_device * items.index_select(0, label_index)).sum(1, /*keepdim=*/true);
    torch::Tensor above = torch::zeros({n}, on_device.options().dtype(torch::kLong));
    for (int64_t begin = 0; begin < total; begin += kScoreChunk) {
      const int64_t m = std::min(kScoreChunk, total - begin);
      const torch::Tensor scores =
          MatMul(on_device, items.narrow(0, begin, m), false, /*transpose_b=*/true);
      const torch::Tensor at_least = scores.ge(label_scores);
      const torch::Tensor own = (label_index - begin).clamp(0, m - 1).unsqueeze(1);
      const torch::Tensor own_counted = at_least.gather(1, own)
                                            .squeeze(1)
                                            .logical_and(label_index.ge(begin))
                                            .logical_and(label_index.lt(begin + m));
      above += at_least.sum(1) - own_counted.to(torch::kLong);
    }
    const torch::Tensor rank = above.to(torch::kCPU);
    const int64_t* r = rank.data_ptr<int64_t>();
    for (int64_t i = 0; i < n; ++i) {
      counts.hits_at_12 += r[i] < 12;
      counts.hits_at_100 += r[i] < 100;
    }
    counts.queries = n;
    return counts;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("model: progressive validation failed: ") + e.what());
  }
}

Result<torch::Tensor> TwoTowerModel::QueryEmbeddings(std::span<const Example> queries) {
  try {
    torch::NoGradGuard no_grad;
    const HostBatch host = MakeHostBatch(queries);
    const QueryInputs in =
        QueryInputsOf(host, customers_->RowsOf(host.customer_ids),
                      articles_->RowsOf(host.recent_ids), query_fields_->Rows(host.query_codes));
    return query_tower_->forward(in).to(torch::kCPU);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("model: query embeddings failed: ") + e.what());
  }
}

Result<ItemEmbeddings> TwoTowerModel::CatalogueEmbeddings() {
  try {
    ItemEmbeddings out;
    out.ids = catalogue_.ids();
    out.vectors = EmbedCatalogue(0, catalogue_.size()).to(torch::kCPU).contiguous();
    return out;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("model: item embeddings failed: ") + e.what());
  }
}

ModelStats TwoTowerModel::stats() const {
  ModelStats s;
  s.step = step_;
  s.customers = customers_->stats();
  s.articles = articles_->stats();
  s.catalogue = catalogue_.size();
  return s;
}

Result<std::vector<std::string>> TwoTowerModel::Save(const std::filesystem::path& dir) {
  std::vector<std::string> files;
  const auto write = [&](const char* name, const std::function<Status(std::ostream&)>& body) {
    files.emplace_back(name);
    return WriteFile(dir / name, body);
  };
  try {
    {
      torch::serialize::OutputArchive archive;
      torch::serialize::OutputArchive query, item;
      query_tower_->save(query);
      item_tower_->save(item);
      archive.write("query_tower", query);
      archive.write("item_tower", item);
      // Into memory first: LibTorch's file writer finishes the file in its destructor, where a
      // full disk ends the process (std::terminate) instead of raising an error.
      std::ostringstream towers(std::ios::binary);
      archive.save_to(towers);
      TS_RETURN_IF_ERROR(write(kTowersFile, [&](std::ostream& o) {
        const std::string bytes = towers.str();
        o.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
        return Status::Ok();
      }));
    }
  } catch (const std::exception& e) {
    return Status::IoError("model: cannot save the towers into " + dir.string() + ": " + e.what());
  }
  TS_RETURN_IF_ERROR(write(kOptimizerFile, [&](std::ostream& o) { return adam_->Save(o); }));
  TS_ASSIGN_OR_RETURN(std::string customer_file, SaveCustomerShard(dir));
  files.push_back(std::move(customer_file));
  TS_RETURN_IF_ERROR(write(kArticleTableFile, [&](std::ostream& o) { return articles_->Save(o); }));
  TS_RETURN_IF_ERROR(
      write(kQueryFieldsFile, [&](std::ostream& o) { return query_fields_->Save(o); }));
  TS_RETURN_IF_ERROR(
      write(kItemFieldsFile, [&](std::ostream& o) { return item_fields_->Save(o); }));
  TS_RETURN_IF_ERROR(write(kEstimatorFile, [&](std::ostream& o) { return estimator_->Save(o); }));
  TS_RETURN_IF_ERROR(write(kCatalogueFile, [&](std::ostream& o) { return catalogue_.Save(o); }));
  TS_RETURN_IF_ERROR(write(kStateFile, [&](std::ostream& o) {
    binary_io::WriteHeader(o, kStateMagic, kFormatVersion);
    binary_io::WritePod(o, step_);
    binary_io::WritePod(o, negative_draws_);
    return Status::Ok();
  }));
  TS_ASSIGN_OR_RETURN(const ItemEmbeddings items, CatalogueEmbeddings());
  TS_RETURN_IF_ERROR(write(kItemEmbeddingsFile, [&](std::ostream& o) {
    binary_io::WriteHeader(o, kItemsMagic, kFormatVersion);
    binary_io::WritePod(o, static_cast<int64_t>(items.ids.size()));
    binary_io::WritePod(o, options_.towers.dim);
    binary_io::WriteRaw(o, items.ids.data(), items.ids.size() * sizeof(hm::ArticleId));
    binary_io::WriteTensorData(o, items.vectors);
    return Status::Ok();
  }));
  return files;
}

void TwoTowerModel::SetCustomerShard(int rank, int world) {
  shard_rank_ = rank;
  shard_world_ = world;
}

std::string TwoTowerModel::CustomerTableFile(int rank, int world) {
  if (world <= 1) return kCustomerTableFile;
  return "customer_table.rank-" + std::to_string(rank) + "-of-" + std::to_string(world) + ".bin";
}

Result<std::string> TwoTowerModel::SaveCustomerShard(const std::filesystem::path& dir) {
  std::string name = CustomerTableFile(shard_rank_, shard_world_);
  TS_RETURN_IF_ERROR(WriteFile(dir / name, [&](std::ostream& o) { return customers_->Save(o); }));
  return name;
}

Status TwoTowerModel::LoadCustomers(const std::filesystem::path& dir) {
  const auto read_table = [&](const std::string& name, EmbeddingTable& table) {
    return ReadFile(dir / name, [&](std::istream& i) { return table.Load(i); });
  };
  if (shard_world_ > 1) {
    const std::string name = CustomerTableFile(shard_rank_, shard_world_);
    if (!std::filesystem::exists(dir / name)) {
      return Status::FailedPrecondition("model: " + dir.string() + " has no " + name +
                                        ": it was not written by a group of " +
                                        std::to_string(shard_world_) + " trainers");
    }
    return read_table(name, *customers_);
  }
  if (std::filesystem::exists(dir / kCustomerTableFile))
    return read_table(kCustomerTableFile, *customers_);
  // A group's snapshot: one shard per rank, merged into one table.
  int world = 0;
  for (int n = 2; n <= kMaxGroupSize && world == 0; ++n) {
    if (std::filesystem::exists(dir / CustomerTableFile(0, n))) world = n;
  }
  if (world == 0) return Status::NotFound("model: " + dir.string() + " has no customer table");
  std::vector<std::unique_ptr<EmbeddingTable>> shards;
  std::vector<const EmbeddingTable*> views;
  for (int rank = 0; rank < world; ++rank) {
    TS_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddingTable> shard,
                        EmbeddingTable::Create(customers_->options()));
    TS_RETURN_IF_ERROR(read_table(CustomerTableFile(rank, world), *shard));
    views.push_back(shard.get());
    shards.push_back(std::move(shard));
  }
  TS_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddingTable> merged, EmbeddingTable::Merge(views));
  customers_ = std::move(merged);
  return Status::Ok();
}

Status TwoTowerModel::Load(const std::filesystem::path& dir) {
  try {
    torch::serialize::InputArchive archive, query, item;
    archive.load_from((dir / kTowersFile).string());
    archive.read("query_tower", query);
    archive.read("item_tower", item);
    query_tower_->load(query);
    item_tower_->load(item);
    query_tower_->to(options_.device);
    item_tower_->to(options_.device);
  } catch (const std::exception& e) {
    return Status::FailedPrecondition("model: cannot load the towers from " + dir.string() +
                                      " (saved with other tower options?): " + e.what());
  }
  TS_RETURN_IF_ERROR(
      ReadFile(dir / kOptimizerFile, [&](std::istream& i) { return adam_->Load(i); }));
  TS_RETURN_IF_ERROR(LoadCustomers(dir));
  TS_RETURN_IF_ERROR(
      ReadFile(dir / kArticleTableFile, [&](std::istream& i) { return articles_->Load(i); }));
  TS_RETURN_IF_ERROR(
      ReadFile(dir / kQueryFieldsFile, [&](std::istream& i) { return query_fields_->Load(i); }));
  TS_RETURN_IF_ERROR(
      ReadFile(dir / kItemFieldsFile, [&](std::istream& i) { return item_fields_->Load(i); }));
  TS_RETURN_IF_ERROR(ReadFile(dir / kEstimatorFile, [&](std::istream& i) -> Status {
    TS_ASSIGN_OR_RETURN(estimator_,
                        FrequencyEstimator::Load(i, options_.device, &options_.estimator));
    return Status::Ok();
  }));
  TS_RETURN_IF_ERROR(
      ReadFile(dir / kCatalogueFile, [&](std::istream& i) { return catalogue_.Load(i); }));
  TS_RETURN_IF_ERROR(ReadFile(dir / kStateFile, [&](std::istream& i) -> Status {
    TS_RETURN_IF_ERROR(binary_io::ReadHeader(i, kStateMagic, kFormatVersion, "model state"));
    if (!binary_io::ReadPod(i, &step_) || !binary_io::ReadPod(i, &negative_draws_)) {
      return Status::Corruption("model state: truncated");
    }
    return Status::Ok();
  }));
  return Status::Ok();
}

}  // namespace towerstream::model
