// Load test of `towerstream serve` on loopback: a model trained on a generated dataset, the
// recommendation server on it, and client threads asking as fast as they can. Reports
// requests/s and latency quantiles of GET /recommend (exact search, then the HNSW graph)
// against GET /healthz on the same server, which costs the same HTTP and connection set-up
// and nothing else: the ratio is what recommending adds.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_flags.h"
#include "common/admin/admin_server.h"
#include "common/base/progress.h"
#include "common/datagen/generator.h"
#include "common/hm/hm_reader.h"
#include "common/serving/recommend_server.h"
#include "common/trainer/embedded_trainer.h"

namespace towerstream {
namespace {

using Clock = std::chrono::steady_clock;

struct LoadResult {
  int64_t requests = 0;
  int64_t errors = 0;
  double seconds = 0;
  double p50_ms = 0, p99_ms = 0, max_ms = 0;
};

LoadResult Load(const std::string& address, const std::vector<std::string>& targets, int clients,
                double seconds) {
  std::vector<std::vector<double>> latencies(static_cast<size_t>(clients));
  std::atomic<int64_t> errors{0};
  const Clock::time_point start = Clock::now();
  const Clock::time_point end =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  {
    std::vector<std::jthread> threads;
    for (int c = 0; c < clients; ++c) {
      threads.emplace_back([&, c] {
        std::mt19937_64 rng(static_cast<uint64_t>(c) + 1);
        std::vector<double>& mine = latencies[static_cast<size_t>(c)];
        while (Clock::now() < end) {
          const std::string& target = targets[rng() % targets.size()];
          const Clock::time_point sent = Clock::now();
          const auto r = admin::HttpCall(address, "GET", target);
          mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
          if (!r.ok() || r->status != 200) ++errors;
        }
      });
    }
  }
  LoadResult out;
  out.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::vector<double> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  std::sort(all.begin(), all.end());
  out.requests = static_cast<int64_t>(all.size());
  out.errors = errors;
  if (!all.empty()) {
    const auto at = [&](double q) {
      return all[std::min(all.size() - 1,
                          static_cast<size_t>(q * static_cast<double>(all.size())))];
    };
    out.p50_ms = at(0.50);
    out.p99_ms = at(0.99);
    out.max_ms = all.back();
  }
  return out;
}

void Print(const char* name, const LoadResult& r, double baseline_rate) {
  const double rate = static_cast<double>(r.requests) / r.seconds;
  std::printf("  %-34s %9.0f requests/s  p50 %6.2f ms  p99 %6.2f ms  max %7.2f ms  errors %lld",
              name, rate, r.p50_ms, r.p99_ms, r.max_ms, static_cast<long long>(r.errors));
  if (baseline_rate > 0) std::printf("  %.2fx of /healthz", rate / baseline_rate);
  std::printf("\n");
}

int Run(int argc, char** argv) {
  int64_t customers = 20'000, articles = 4'000, transactions = 200'000, clients = 2, k = 12;
  double seconds = 3;
  bench::BenchFlags flags("serve_bench");
  flags.Add("--customers", &customers, "customers in the generated dataset");
  flags.Add("--articles", &articles, "articles in the generated dataset (the catalogue)");
  flags.Add("--transactions", &transactions, "transactions trained on");
  flags.Add("--clients", &clients, "client threads, each with one request in flight");
  flags.Add("--k", &k, "recommendations per request");
  flags.Add("--seconds", &seconds, "length of each load phase");
  if (!flags.Parse(argc, argv)) return 2;

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("serve_bench_" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  datagen::GeneratorOptions g;
  g.customers = customers;
  g.articles = articles;
  g.transactions = transactions;
  g.days = 120;
  if (const auto s = datagen::Generate(g, dir / "data"); !s.ok()) {
    std::fprintf(stderr, "serve_bench: %s\n", s.status().ToString().c_str());
    return 1;
  }
  trainer::EmbeddedOptions train;
  train.data_dir = dir / "data";
  train.session.snapshot_dir = dir / "snapshots";
  train.session.fsync = false;
  train.session.eval_queries = 0;
  train.progress = false;
  trainer::SnapshotSchedule schedule({});
  if (const auto s = trainer::TrainEmbedded(train, schedule, nullptr, std::stop_token()); !s.ok()) {
    std::fprintf(stderr, "serve_bench: %s\n", s.status().ToString().c_str());
    return 1;
  }
  std::vector<std::string> ids;
  {
    auto reader = hm::CustomerReader::Open((dir / "data" / "customers.csv").string());
    hm::Customer c;
    while (reader.ok() && *(*reader)->Next(&c)) ids.push_back(c.customer_id);
  }
  std::vector<std::string> recommend_targets, health_targets = {"/healthz"};
  for (const std::string& id : ids) {
    recommend_targets.push_back("/recommend?customer_id=" + id + "&k=" + std::to_string(k));
  }
  std::printf("serve_bench: %lld customers, %lld articles, k=%lld, %lld client threads, %u cores\n",
              static_cast<long long>(customers), static_cast<long long>(articles),
              static_cast<long long>(k), static_cast<long long>(clients),
              std::thread::hardware_concurrency());
  for (const bool exact : {true, false}) {
    serving::RecommendServerOptions o;
    o.snapshot = dir / "snapshots";
    o.histories.data_dir = dir / "data";
    o.address = "127.0.0.1:0";
    o.index.exact_below = exact ? articles + 1 : 0;
    auto server = serving::RecommendServer::Start(o);
    if (!server.ok()) {
      std::fprintf(stderr, "serve_bench: %s\n", server.status().ToString().c_str());
      return 1;
    }
    const LoadResult health =
        Load((*server)->address(), health_targets, static_cast<int>(clients), seconds);
    const LoadResult recommend =
        Load((*server)->address(), recommend_targets, static_cast<int>(clients), seconds);
    std::printf("%s search over %lld articles\n", exact ? "exact" : "HNSW",
                static_cast<long long>(articles));
    Print("GET /healthz (baseline)", health, 0);
    Print("GET /recommend", recommend, static_cast<double>(health.requests) / health.seconds);
  }
  std::printf("  peak RSS %s\n", FormatBytes(PeakResidentBytes()).c_str());
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace
}  // namespace towerstream

int main(int argc, char** argv) { return towerstream::Run(argc, argv); }
