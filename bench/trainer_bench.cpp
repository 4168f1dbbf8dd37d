// Trainer throughput: TwoTowerModel::Train examples/s for the default model, beside a baseline
// of the same towers built the plain LibTorch way, in the same run.
//
// The baseline: id and code tables as torch::nn::Embedding(sparse) trained by
// torch::optim::Adagrad, recent purchases embedded as [B, L, dim] and mean-pooled with a mask,
// Adam for the dense layers, and in-batch softmax with logQ correction in plain autograd ops.
// Both start from the same model::Example batches (skewed customers and articles, 20 recent
// purchases, codes per article and customer) and alternate for --rounds rounds of --seconds;
// the best round of each counts. Prints examples/s, the ratio and peak resident memory.
// --cover-all first trains over every customer and article id so that the tables hold them all
// (memory at full scale: --customers 1371980 --articles 105542 --cover-all 1).
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#ifdef TOWERSTREAM_TORCH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#include <c10/cuda/CUDAFunctions.h>
#endif

#include "bench/bench_examples.h"
#include "bench/bench_flags.h"
#include "common/base/progress.h"
#include "common/model/fast_ops.h"
#include "common/model/two_tower_model.h"

namespace towerstream {
namespace {

struct Flags {
  std::string device = "cpu";
  int64_t batch = 512;
  int64_t dim = 64;
  int64_t customers = 100'000;
  int64_t articles = 20'000;
  int64_t history = 20;
  double seconds = 2.0;
  int64_t rounds = 3;
  int64_t baseline = 1;
  int64_t eval_queries = 0;
  int64_t cover_all = 0;
  int64_t threads = 0;
  std::string hidden = "128";
  int64_t field_dim = 16;
  int64_t check_against_cpu = 0;
  int64_t tf32 = 0;
};

// Synthetic data with the shapes of the H&M stream (bench_examples.h) at the flags' sizes.
class SyntheticStream : public bench::SyntheticExamples {
 public:
  SyntheticStream(const Flags& flags, uint64_t seed)
      : SyntheticExamples({.customers = flags.customers,
                           .articles = flags.articles,
                           .history = flags.history,
                           .seed = seed}) {}
};

// The same towers with plain LibTorch tables and optimisers.
class Baseline {
 public:
  Baseline(const model::ModelOptions& o, const Flags& flags, torch::Device device)
      : options_(o), device_(device) {
    const auto sparse = [&](int64_t rows, int64_t dim) {
      torch::nn::Embedding e(torch::nn::EmbeddingOptions(rows, dim).sparse(true));
      e->to(device);
      return e;
    };
    customer_ = sparse(flags.customers, o.towers.dim);
    // One extra row as the padding of short histories.
    article_ = sparse(flags.articles + 1, o.towers.dim);
    std::vector<torch::Tensor> tables = {customer_->weight, article_->weight};
    for (int64_t b : o.towers.QueryFieldBuckets()) {
      query_fields_.push_back(sparse(b, o.towers.field_dim));
      tables.push_back(query_fields_.back()->weight);
    }
    for (int64_t b : o.towers.ItemFieldBuckets()) {
      item_fields_.push_back(sparse(b, o.towers.field_dim));
      tables.push_back(item_fields_.back()->weight);
    }
    model::TwoTowerOptions towers = o.towers;
    towers.device = device;
    query_tower_ = std::make_shared<model::QueryTower>(towers);
    item_tower_ = std::make_shared<model::ItemTower>(towers);
    std::vector<torch::Tensor> dense = query_tower_->parameters();
    for (const auto& p : item_tower_->parameters()) dense.push_back(p);
    adagrad_ = std::make_unique<torch::optim::Adagrad>(
        tables, torch::optim::AdagradOptions(o.table_learning_rate));
    adam_ = std::make_unique<torch::optim::Adam>(dense,
                                                 torch::optim::AdamOptions(o.dense_learning_rate));
    model::FrequencyEstimatorOptions estimator = o.estimator;
    estimator.device = device;
    estimator_ = std::move(model::FrequencyEstimator::Create(estimator)).value();
    padding_ = flags.articles;
  }

  void Step(const std::vector<model::Example>& batch) {
    const auto b = static_cast<int64_t>(batch.size());
    const int64_t l = options_.history_length;
    std::vector<int64_t> customers(b), articles(b), recent(b * l, padding_);
    std::vector<int64_t> qcodes(b * model::kQueryCodeCount), icodes(b * model::kItemCodeCount);
    std::vector<float> dense(b * model::kQueryDenseFeatures), counts(b);
    for (int64_t i = 0; i < b; ++i) {
      const model::Example& e = batch[i];
      customers[i] = e.customer_key;
      articles[i] = e.article_id;
      const auto n = static_cast<int64_t>(std::min<size_t>(e.recent_article_ids.size(), l));
      for (int64_t k = 0; k < n; ++k) recent[i * l + k] = e.recent_article_ids[k];
      counts[i] = static_cast<float>(std::max<int64_t>(n, 1));
      model::FillQueryDense(e.customer.age.has_value(),
                            static_cast<float>(e.customer.age.value_or(0)), 1 + (e.day / 30) % 12,
                            n, l, &dense[i * model::kQueryDenseFeatures]);
      const model::CustomerCodes& c = e.customer;
      const int64_t q[] = {c.club_member_status, c.fashion_news_frequency, c.fn, c.active,
                           c.postal_code,        e.sales_channel};
      std::copy(std::begin(q), std::end(q), &qcodes[i * model::kQueryCodeCount]);
      std::copy(e.article.codes.begin(), e.article.codes.end(), &icodes[i * model::kItemCodeCount]);
    }
    const auto to = [&](std::vector<int64_t>& v, std::vector<int64_t> shape) {
      return torch::from_blob(v.data(), shape, torch::kLong).to(device_);
    };
    const torch::Tensor customer_ids = to(customers, {b});
    const torch::Tensor item_ids = to(articles, {b});
    const torch::Tensor recent_ids = to(recent, {b, l});
    const torch::Tensor query_codes = to(qcodes, {b, model::kQueryCodeCount});
    const torch::Tensor item_codes = to(icodes, {b, model::kItemCodeCount});

    model::QueryInputs query;
    query.customer_embedding = customer_->forward(customer_ids);
    const torch::Tensor mask = recent_ids.ne(padding_).unsqueeze(-1).to(torch::kFloat);
    query.recent_pooled = (article_->forward(recent_ids) * mask).sum(1) /
                          torch::from_blob(counts.data(), {b, 1}, torch::kFloat).to(device_);
    query.dense =
        torch::from_blob(dense.data(), {b, model::kQueryDenseFeatures}, torch::kFloat).to(device_);
    std::vector<torch::Tensor> parts;
    for (int64_t k = 0; k < model::kQueryCodeCount; ++k) {
      const int64_t buckets = query_fields_[k]->weight.size(0);
      parts.push_back(query_fields_[k]->forward(query_codes.select(1, k).remainder(buckets)));
    }
    query.codes = torch::cat(parts, 1);
    parts.clear();
    for (int64_t k = 0; k < model::kItemCodeCount; ++k) {
      const int64_t buckets = item_fields_[k]->weight.size(0);
      parts.push_back(item_fields_[k]->forward(item_codes.select(1, k).remainder(buckets)));
    }
    const model::ItemInputs item{article_->forward(item_ids), torch::cat(parts, 1)};
    estimator_->Update(item_ids, steps_++).IgnoreError();
    const torch::Tensor log_q = estimator_->LogProbability(item_ids);
    const torch::Tensor loss =
        model::InBatchSoftmaxLoss(query_tower_->forward(query), item_tower_->forward(item),
                                  item_ids, log_q, options_.towers.temperature);
    adagrad_->zero_grad();
    adam_->zero_grad();
    loss.backward();
    adagrad_->step();
    adam_->step();
  }

 private:
  model::ModelOptions options_;
  torch::Device device_;
  torch::nn::Embedding customer_{nullptr}, article_{nullptr};
  std::vector<torch::nn::Embedding> query_fields_, item_fields_;
  std::shared_ptr<model::QueryTower> query_tower_;
  std::shared_ptr<model::ItemTower> item_tower_;
  std::unique_ptr<torch::optim::Adagrad> adagrad_;
  std::unique_ptr<torch::optim::Adam> adam_;
  std::unique_ptr<model::FrequencyEstimator> estimator_;
  int64_t padding_ = 0;
  int64_t steps_ = 0;
};

// ‖a - b‖ / ‖b‖ (on the host, in float64).
double RelativeDifference(const torch::Tensor& a, const torch::Tensor& b) {
  const torch::Tensor a64 = a.to(torch::kCPU, torch::kDouble);
  const torch::Tensor b64 = b.to(torch::kCPU, torch::kDouble);
  return (a64 - b64).norm().item<double>() / std::max(b64.norm().item<double>(), 1e-30);
}

double MaxAbsDifference(const torch::Tensor& a, const torch::Tensor& b) {
  return (a.to(torch::kCPU) - b.to(torch::kCPU)).abs().max().item<double>();
}

// Trains the same batches on the CPU and on `options.device` and compares them: the GPU check
// of scripts/gpu-bench. After one step the query and item vectors must agree element by
// element (max |difference| < 1e-4: float32 arithmetic in another order). Over 20 steps the
// losses must agree to 1e-3, and after them the vectors by ‖gpu - cpu‖ / ‖cpu‖ < 1e-2: Adam and
// row-wise Adagrad give a parameter a step of about the learning rate whatever its gradient's
// size, so one whose tiny gradient is mostly rounding moves differently on each device, and the
// differences grow with steps (1e-3 after 20 steps on an H200, from 6e-7 after one). Returns 0
// when they agree.
int CompareWithCpu(const model::ModelOptions& options, const Flags& flags) {
  model::ModelOptions on_cpu = options;
  on_cpu.device = torch::kCPU;
  auto cpu = std::move(model::TwoTowerModel::Create(on_cpu)).value();
  auto device = std::move(model::TwoTowerModel::Create(options)).value();
  SyntheticStream stream(flags, 11);
  std::vector<model::Example> queries;
  for (int i = 0; i < 256; ++i) queries.push_back(stream.Next());
  double worst_loss = 0, first_query = 0, first_item = 0;
  constexpr int kSteps = 20;
  for (int step = 0; step < kSteps; ++step) {
    std::vector<model::Example> batch;
    for (int64_t i = 0; i < flags.batch; ++i) batch.push_back(stream.Next());
    const double a = cpu->Train(batch)->loss;
    const double b = device->Train(batch)->loss;
    worst_loss = std::max(worst_loss, std::abs(a - b) / std::max(1.0, std::abs(a)));
    if (step == 0) {
      first_query =
          MaxAbsDifference(*device->QueryEmbeddings(queries), *cpu->QueryEmbeddings(queries));
      first_item = MaxAbsDifference(device->CatalogueEmbeddings()->vectors,
                                    cpu->CatalogueEmbeddings()->vectors);
    }
  }
  const torch::Tensor cpu_query = *cpu->QueryEmbeddings(queries);
  const torch::Tensor device_query = *device->QueryEmbeddings(queries);
  const torch::Tensor cpu_items = cpu->CatalogueEmbeddings()->vectors;
  const torch::Tensor device_items = device->CatalogueEmbeddings()->vectors;
  const double query_rel = RelativeDifference(device_query, cpu_query);
  const double item_rel = RelativeDifference(device_items, cpu_items);
  const bool agree = first_query < 1e-4 && first_item < 1e-4 && worst_loss < 1e-3 &&
                     query_rel < 1e-2 && item_rel < 1e-2;
  std::printf(
      "cpu vs %s, batch %lld: after 1 step max |query difference| %.2e, max |item difference| "
      "%.2e; over %d steps max relative loss difference %.2e; after them ‖query "
      "difference‖/‖query‖ "
      "%.2e, ‖item difference‖/‖items‖ %.2e (max |difference| %.2e and %.2e): %s\n",
      options.device.str().c_str(), static_cast<long long>(flags.batch), first_query, first_item,
      kSteps, worst_loss, query_rel, item_rel, MaxAbsDifference(device_query, cpu_query),
      MaxAbsDifference(device_items, cpu_items), agree ? "AGREE" : "DISAGREE");
  return agree ? 0 : 1;
}

// Bytes the CUDA caching allocator holds for tensors now, or the most since the last
// ResetPeakGpuMemory; 0 without CUDA (the CPU build of LibTorch has no such allocator).
int64_t GpuMemory(torch::Device device, bool peak) {
#ifdef TOWERSTREAM_TORCH_CUDA
  if (device.is_cuda()) {
    // "cuda" names no index: the current device is the one tensors went to.
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(
        device.has_index() ? device.index() : c10::cuda::current_device());
    const auto& bytes = stats.allocated_bytes[0];  // StatType::AGGREGATE
    return peak ? bytes.peak : bytes.current;
  }
#endif
  (void)device, (void)peak;
  return 0;
}

void ResetPeakGpuMemory(torch::Device device) {
#ifdef TOWERSTREAM_TORCH_CUDA
  if (device.is_cuda()) {
    c10::cuda::CUDACachingAllocator::resetPeakStats(
        device.has_index() ? device.index() : c10::cuda::current_device());
  }
#endif
  (void)device;
}

// Runs step(i) over the batches until `seconds` have passed; returns examples/s. The device
// is synchronised once at the end, not after each step: a step that needs no answer from the
// GPU lets the host prepare the next one while the GPU runs it, as a trainer would.
double Measure(int64_t batches, int64_t batch, double seconds,
               const std::function<void(int64_t)>& step, const std::function<void()>& sync) {
  sync();
  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0;
  double elapsed = 0;
  while (elapsed < seconds) {
    step(done % batches);
    ++done;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  sync();
  elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return static_cast<double>(done * batch) / elapsed;
}

int Run(const Flags& flags) {
  torch::set_num_threads(static_cast<int>(
      flags.threads > 0 ? flags.threads : std::max(1u, std::thread::hardware_concurrency())));
  // Both sides at their best on a small machine: OpenBLAS's own pool (the baseline's
  // products) would spin against LibTorch's threads on the same cores.
  model::LimitBlasThreads(1);
  Result<torch::Device> device = model::ResolveDevice(flags.device);
  if (!device.ok()) {
    std::fprintf(stderr, "trainer_bench: %s\n", device.status().message().c_str());
    return 2;
  }
  // Process-wide, as in PyTorch (torch.backends.cuda.matmul.allow_tf32).
  if (flags.tf32 > 0) at::globalContext().setAllowTF32CuBLAS(true);
  model::ModelOptions options;
  options.towers.dim = flags.dim;
  options.towers.field_dim = flags.field_dim;
  options.towers.hidden.clear();
  for (size_t start = 0; start < flags.hidden.size();) {
    const size_t comma = std::min(flags.hidden.find(',', start), flags.hidden.size());
    const std::string width = flags.hidden.substr(start, comma - start);
    if (!width.empty() && width != "none") options.towers.hidden.push_back(std::stoll(width));
    start = comma + 1;
  }
  options.history_length = flags.history;
  options.device = *device;
  if (flags.check_against_cpu > 0) return CompareWithCpu(options, flags);
  Result<std::unique_ptr<model::TwoTowerModel>> created = model::TwoTowerModel::Create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "trainer_bench: %s\n", created.status().ToString().c_str());
    return 1;
  }
  model::TwoTowerModel& model = **created;

  SyntheticStream stream(flags, 7);
  constexpr int64_t kBatches = 32;
  std::vector<std::vector<model::Example>> batches(kBatches);
  for (auto& batch : batches) {
    for (int64_t i = 0; i < flags.batch; ++i) batch.push_back(stream.Next());
  }
  const auto sync = [&] {
    if (device->is_cuda()) torch::cuda::synchronize();
  };
  // TrainAsync: the host goes on to the next batch while the GPU trains on this one; the last
  // step's statistics are read (and its success checked) once measuring is over.
  std::optional<model::PendingStepStats> last_step;
  double host_seconds = 0;  // inside TrainAsync: the host's own share of each step
  const auto train = [&](int64_t i) {
    const auto started = std::chrono::steady_clock::now();
    if (flags.eval_queries > 0) {
      const std::span<const model::Example> queries(batches[i].data(), flags.eval_queries);
      if (!model.Evaluate(queries).ok()) std::abort();
    }
    Result<model::PendingStepStats> step = model.TrainAsync(batches[i]);
    if (!step.ok()) {
      std::fprintf(stderr, "trainer_bench: %s\n", step.status().ToString().c_str());
      std::abort();
    }
    last_step.emplace(std::move(step).value());
    host_seconds +=
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };

  if (flags.cover_all > 0) {
    // Twice over every id, so that admit_after = 2 gives each its own row.
    const int64_t ids = std::max(flags.customers, flags.articles);
    std::vector<model::Example> batch;
    for (int64_t pass = 0; pass < 2; ++pass) {
      for (int64_t i = 0; i < ids; ++i) {
        batch.push_back(stream.Covering(i));
        if (static_cast<int64_t>(batch.size()) == flags.batch || i + 1 == ids) {
          if (!model.Train(batch).ok()) std::abort();
          batch.clear();
        }
      }
    }
  }

  // Warm-up: ids admitted, allocations and kernels done once.
  for (int64_t i = 0; i < kBatches; ++i) train(i);
  sync();
  const int64_t model_state = GpuMemory(*device, /*peak=*/false);
  std::unique_ptr<Baseline> baseline;
  if (flags.baseline > 0) baseline = std::make_unique<Baseline>(options, flags, *device);
  const auto baseline_step = [&](int64_t i) { baseline->Step(batches[i]); };
  if (baseline) {
    for (int64_t i = 0; i < kBatches; ++i) baseline_step(i);
  }
  sync();
  const int64_t baseline_state = GpuMemory(*device, /*peak=*/false) - model_state;

  // Each side's peak GPU memory with the other side's resident state taken out.
  double model_rate = 0, baseline_rate = 0, host_busy = 0;
  int64_t model_peak = 0, baseline_peak = 0;
  for (int64_t round = 0; round < flags.rounds; ++round) {
    ResetPeakGpuMemory(*device);
    host_seconds = 0;
    const auto started = std::chrono::steady_clock::now();
    const double rate = Measure(kBatches, flags.batch, flags.seconds, train, sync);
    if (rate > model_rate) {
      model_rate = rate;
      host_busy = host_seconds /
                  std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    }
    model_peak = std::max(model_peak, GpuMemory(*device, /*peak=*/true) - baseline_state);
    if (baseline) {
      ResetPeakGpuMemory(*device);
      baseline_rate = std::max(baseline_rate,
                               Measure(kBatches, flags.batch, flags.seconds, baseline_step, sync));
      baseline_peak = std::max(baseline_peak, GpuMemory(*device, /*peak=*/true) - model_state);
    }
  }
  const Result<model::StepStats> last_stats = last_step->Get();
  if (!last_stats.ok()) {
    std::fprintf(stderr, "trainer_bench: %s\n", last_stats.status().ToString().c_str());
    return 1;
  }
  const model::ModelStats stats = model.stats();
  std::printf(
      "trainer_bench device=%s batch=%lld dim=%lld customers=%lld articles=%lld history=%lld "
      "threads=%d eval_queries=%lld tf32=%d\n",
      device->str().c_str(), static_cast<long long>(flags.batch), static_cast<long long>(flags.dim),
      static_cast<long long>(flags.customers), static_cast<long long>(flags.articles),
      static_cast<long long>(flags.history), torch::get_num_threads(),
      static_cast<long long>(flags.eval_queries), flags.tf32 > 0 ? 1 : 0);
  std::printf("  TwoTowerModel::Train (row-wise Adagrad, fused loss): %12.0f examples/s\n",
              model_rate);
  if (baseline) {
    std::printf("  baseline (nn::Embedding sparse + optim::Adagrad):    %12.0f examples/s\n",
                baseline_rate);
    std::printf("  ratio: %.2fx\n", model_rate / baseline_rate);
  }
  if (device->is_cuda()) {
    std::printf("  peak GPU memory: model %s, baseline %s\n", FormatBytes(model_peak).c_str(),
                baseline ? FormatBytes(baseline_peak).c_str() : "-");
  }
  // Near 100%: the host's part of the step (lookups, batch assembly, launching kernels) bounds
  // the rate, not the device.
  std::printf("  host busy inside TrainAsync: %.0f%% of the measured time\n", 100 * host_busy);
  std::printf("  last loss %.4f after %lld steps\n", last_stats->loss,
              static_cast<long long>(stats.step));
  std::printf("  rows in use: %lld customers, %lld articles; peak RSS %s\n",
              static_cast<long long>(stats.customers.rows_in_use),
              static_cast<long long>(stats.articles.rows_in_use),
              FormatBytes(PeakResidentBytes()).c_str());
  return 0;
}

}  // namespace
}  // namespace towerstream

int main(int argc, char** argv) {
  towerstream::Flags flags;
  towerstream::bench::BenchFlags parser("trainer_bench");
  parser.Add("--device", &flags.device, "cpu, cuda or auto");
  parser.Add("--batch", &flags.batch, "examples per micro-batch");
  parser.Add("--dim", &flags.dim, "embedding and tower output width");
  parser.Add("--customers", &flags.customers, "distinct customers in the stream");
  parser.Add("--articles", &flags.articles, "distinct articles in the stream");
  parser.Add("--history", &flags.history, "recent purchases per example");
  parser.Add("--seconds", &flags.seconds, "length of one measured round");
  parser.Add("--rounds", &flags.rounds, "rounds per side (the best counts)");
  parser.Add("--baseline", &flags.baseline, "1: also measure the plain LibTorch baseline");
  parser.Add("--eval-queries", &flags.eval_queries,
             "progressive validation queries scored before each step (0: none)");
  parser.Add("--cover-all", &flags.cover_all, "1: first admit every customer and article id");
  parser.Add("--threads", &flags.threads, "LibTorch intra-op threads (0: every core)");
  parser.Add("--hidden", &flags.hidden, "hidden widths of each tower's MLP, e.g. 128 or 256,128");
  parser.Add("--field-dim", &flags.field_dim, "embedding width of each categorical feature");
  parser.Add("--tf32", &flags.tf32,
             "1: let CUDA float32 matrix products use TF32 (faster, about 1e-3 relative error)");
  parser.Add("--check-against-cpu", &flags.check_against_cpu,
             "1: train 20 steps on the CPU and on --device and compare (exit 1 if they differ)");
  if (!parser.Parse(argc, argv)) return 2;
  try {
    return towerstream::Run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "trainer_bench: %s\n", e.what());
    return 1;
  }
}
