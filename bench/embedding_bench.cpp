// Embedding table training throughput (lookup, gather, backward, row-wise Adagrad) in
// examples/s, beside torch::nn::Embedding(sparse) + torch::optim::Adagrad in the same run.
//
// Usage: embedding_bench [--device cpu|cuda] [--batch N] [--dim N] [--ids N] [--seconds S]
//                        [--rounds N]
// Ids follow a skewed (squared-uniform) distribution over [0, ids), like purchases; both sides
// see the same batches. The two alternate for --rounds rounds of --seconds each and the best
// round of each counts (the least disturbed by the machine). Prints examples/s for each, their
// ratio and peak resident memory.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/base/progress.h"
#include "common/model/embedding_table.h"

namespace towerstream {
namespace {

struct Flags {
  std::string device = "cpu";
  int64_t batch = 2048;
  int64_t dim = 64;
  int64_t ids = 100'000;
  double seconds = 1.0;
  int64_t rounds = 3;
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string arg = argv[i];
    const char* value = argv[i + 1];
    if (arg == "--device") {
      flags->device = value;
    } else if (arg == "--batch") {
      flags->batch = std::atoll(value);
    } else if (arg == "--dim") {
      flags->dim = std::atoll(value);
    } else if (arg == "--ids") {
      flags->ids = std::atoll(value);
    } else if (arg == "--seconds") {
      flags->seconds = std::atof(value);
    } else if (arg == "--rounds") {
      flags->rounds = std::atoll(value);
    } else {
      return false;
    }
  }
  return argc % 2 == 1 && flags->batch > 0 && flags->dim > 0 && flags->ids > 0 && flags->rounds > 0;
}

// Runs `step(i)` until `seconds` have passed; returns examples/s. `sync` waits for the
// device so queued kernels are counted.
double Measure(int64_t batches, int64_t batch, double seconds,
               const std::function<void(int64_t)>& step, const std::function<void()>& sync) {
  const auto start = std::chrono::steady_clock::now();
  int64_t done = 0;
  double elapsed = 0;
  while (elapsed < seconds) {
    for (int64_t i = 0; i < 8; ++i) step((done + i) % batches);
    done += 8;
    sync();
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return static_cast<double>(done * batch) / elapsed;
}

int Run(const Flags& flags) {
  const torch::Device device(flags.device);
  torch::manual_seed(1);
  constexpr int64_t kBatches = 64;
  std::vector<torch::Tensor> batches;
  for (int64_t i = 0; i < kBatches; ++i) {
    torch::Tensor u = torch::rand({flags.batch}, torch::kDouble);
    batches.push_back((u * u * flags.ids).to(torch::kLong).to(device));
  }
  const torch::Tensor target = torch::randn({flags.batch, flags.dim}, device);
  const float lr = 0.05f;
  auto sync = [&] {
    if (device.is_cuda()) torch::cuda::synchronize();
  };

  model::EmbeddingTableOptions options;
  options.dim = flags.dim;
  options.admit_after = 1;
  options.device = device;
  auto created = model::EmbeddingTable::Create(options);
  if (!created.ok()) {
    std::fprintf(stderr, "embedding_bench: %s\n", created.status().ToString().c_str());
    return 1;
  }
  model::EmbeddingTable& table = **created;
  int64_t step_number = 0;
  const auto table_step = [&](int64_t i) {
    const torch::Tensor rows = table.Lookup(batches[i], step_number++);
    torch::Tensor emb = table.Gather(rows).requires_grad_(true);
    (emb * target).sum().backward();
    table.ApplyRowWiseAdagrad(rows, emb.grad(), lr);
  };

  torch::nn::Embedding embedding(torch::nn::EmbeddingOptions(flags.ids, flags.dim).sparse(true));
  embedding->to(device);
  torch::optim::Adagrad adagrad(embedding->parameters(), torch::optim::AdagradOptions(lr));
  const auto baseline_step = [&](int64_t i) {
    adagrad.zero_grad();
    (embedding->forward(batches[i]) * target).sum().backward();
    adagrad.step();
  };

  // Warm-up: every id admitted, every allocation and kernel done once.
  for (int64_t i = 0; i < kBatches; ++i) {
    table_step(i);
    baseline_step(i);
  }
  sync();
  double table_rate = 0;
  double baseline_rate = 0;
  for (int64_t round = 0; round < flags.rounds; ++round) {
    table_rate =
        std::max(table_rate, Measure(kBatches, flags.batch, flags.seconds, table_step, sync));
    baseline_rate =
        std::max(baseline_rate, Measure(kBatches, flags.batch, flags.seconds, baseline_step, sync));
  }

  const model::EmbeddingTableStats stats = table.stats();
  std::printf("embedding_bench device=%s batch=%lld dim=%lld ids=%lld\n", flags.device.c_str(),
              static_cast<long long>(flags.batch), static_cast<long long>(flags.dim),
              static_cast<long long>(flags.ids));
  std::printf("  EmbeddingTable + row-wise Adagrad:     %12.0f examples/s (%lld rows in use)\n",
              table_rate, static_cast<long long>(stats.rows_in_use));
  std::printf("  nn::Embedding(sparse) + optim::Adagrad: %11.0f examples/s\n", baseline_rate);
  std::printf("  ratio: %.2fx   peak RSS: %s\n", table_rate / baseline_rate,
              FormatBytes(PeakResidentBytes()).c_str());
  return 0;
}

}  // namespace
}  // namespace towerstream

int main(int argc, char** argv) {
  towerstream::Flags flags;
  if (!towerstream::ParseFlags(argc, argv, &flags)) {
    std::fprintf(stderr,
                 "usage: embedding_bench [--device cpu|cuda] [--batch N] [--dim N] [--ids N] "
                 "[--seconds S] [--rounds N]\n");
    return 2;
  }
  try {
    return towerstream::Run(flags);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "embedding_bench: %s\n", e.what());
    return 1;
  }
}
