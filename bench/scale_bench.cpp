// Scale benchmark: embedded training and ingest's enrichment at three sizes of generated data,
// to show whether cost per example stays flat as customers and articles grow.
//
// Sizes (all from `towerstream generate`'s generator, seed 42):
//   default  the demo's dataset: 20,000 customers, 4,000 articles, 500,000 transactions
//   tenth    a tenth of Kaggle: 137,198 customers, 10,554 articles, 3,178,832 transactions
//   full     Kaggle's 1,371,980 customers and 105,542 articles with the first --full-days days
//            of the full 31.8M-transaction file (45 days: 2.1M transactions)
// Each size runs in child processes of this binary (so peak RSS is its own):
//   train   `towerstream train`'s code path (TrainEmbedded) with default flags and progressive
//           validation on, over every transaction (no hold-out), ending with a snapshot;
//           examples/s end to end and for the training loop alone (setup excluded), where the
//           wall time went, snapshot size and time, peak RSS.
//   ingest  ingest's per-batch work without the broker: batches of 20,000 transactions
//           enriched by ingest's Enricher over the RocksDB feature store (fsync on, as ingest's
//           default), examples encoded for hm.examples; the entity catch-up is timed apart.
//           Run twice: with today's store defaults and with the previous release's cache
//           settings (200,000 entries each, nothing cached at load), for a same-run comparison.
//           bench/ingest_bench measures the whole service through a real broker
//           (--full-scale for Kaggle's size).
// The last lines give the full-to-default ratios of the same run (targets: >= 0.8).
//
// Usage: scale_bench [--sizes default,tenth,full] [--full-days N] [--work DIR]
//   --work DIR keeps the generated data there between runs (default: a temporary folder,
//   removed at the end).
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "common/base/progress.h"
#include "common/datagen/generator.h"
#include "common/events/event_id.h"
#include "common/events/events.h"
#include "common/features/feature_store.h"
#include "common/hm/hm_reader.h"
#include "common/ingest/enricher.h"
#include "common/replay/data_files.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/snapshot_schedule.h"

namespace towerstream {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int64_t kIngestBatch = 20'000;  // ingest's default --batch-size

double SecondsSince(Clock::time_point from) {
  return std::chrono::duration<double>(Clock::now() - from).count();
}

struct Size {
  std::string name;
  datagen::GeneratorOptions generator;
};

std::vector<Size> AllSizes(int32_t full_days) {
  datagen::GeneratorOptions base;
  base.seed = 42;
  Size small{"default", base};
  small.generator.customers = 20'000;
  small.generator.articles = 4'000;
  small.generator.transactions = 500'000;
  const datagen::GeneratorOptions kaggle = datagen::GeneratorOptions::FullScale();
  Size tenth{"tenth", base};
  tenth.generator.customers = kaggle.customers / 10;
  tenth.generator.articles = kaggle.articles / 10;
  tenth.generator.transactions = kaggle.transactions / 10;
  Size full{"full", base};
  full.generator.customers = kaggle.customers;
  full.generator.articles = kaggle.articles;
  full.generator.transactions = kaggle.transactions;
  full.generator.first_days = full_days;
  return {small, tenth, full};
}

// Child: trains on every transaction of `data` and prints "key value" lines.
int RunTrain(const std::filesystem::path& data, const std::filesystem::path& work) {
  trainer::EmbeddedOptions options;
  options.data_dir = data;
  options.until = Date::FromCivil(9999, 1, 1);  // everything: no hold-out
  options.state_dir = work / "train-state";
  options.session.snapshot_dir = work / "snapshots";
  options.progress = false;
  std::filesystem::remove_all(options.session.snapshot_dir);
  trainer::SnapshotSchedule schedule(options.snapshot_every);
  Result<trainer::EmbeddedSummary> run =
      trainer::TrainEmbedded(options, schedule, /*metrics=*/nullptr, std::stop_token());
  if (!run.ok()) {
    std::fprintf(stderr, "scale_bench: train: %s\n", run.status().ToString().c_str());
    return 1;
  }
  const trainer::EmbeddedSummary& s = *run;
  int64_t snapshot_bytes = 0;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(
           options.session.snapshot_dir / s.snapshot_id)) {
    if (entry.is_regular_file()) snapshot_bytes += static_cast<int64_t>(entry.file_size());
  }
  const trainer::SessionTimes& t = s.status.times;
  std::printf("examples %lld\n", static_cast<long long>(s.examples_trained));
  std::printf("seconds %.3f\nsetup %.3f\nstep %.3f\nvalidation %.3f\nscored %lld\n", s.seconds,
              s.setup_seconds, t.training_seconds, t.validation_seconds,
              static_cast<long long>(t.scored_batches));
  std::printf("snapshot %.3f\nsnapshot_bytes %lld\nwait %.3f\nenrich %.3f\n", t.snapshot_seconds,
              static_cast<long long>(snapshot_bytes), s.wait_seconds, s.enrich_seconds);
  std::printf("recall12 %.4f\nrecall100 %.4f\npeak %lld\n", s.status.recall_at_12,
              s.status.recall_at_100, static_cast<long long>(PeakResidentBytes()));
  std::filesystem::remove_all(options.session.snapshot_dir);
  return 0;
}

// Child: ingest's store work over `data`: entity catch-up, then enrichment in batches. With
// `previous`, the store has the caches of the release before this benchmark (200,000 entries
// each, nothing cached at load), for a before/after comparison within one run.
Status IngestOnce(const std::filesystem::path& data, const std::filesystem::path& work,
                  bool previous) {
  TS_ASSIGN_OR_RETURN(const replay::DataFiles files, replay::FindDataFiles(data));
  features::FeatureStoreOptions store_options;
  store_options.path = (work / "ingest-state").string();
  std::filesystem::create_directories(work);
  if (previous) {
    store_options.article_cache_entries = 200'000;
    store_options.customer_cache_entries = 200'000;
    store_options.history_cache_entries = 200'000;
    store_options.cache_loaded_entities = false;
  }
  std::filesystem::remove_all(store_options.path);
  TS_ASSIGN_OR_RETURN(auto store, features::FeatureStore::Open(store_options));
  features::FeatureBatch batch;

  const Clock::time_point catch_up_start = Clock::now();
  {
    TS_ASSIGN_OR_RETURN(auto reader, hm::ArticleReader::Open(files.articles));
    hm::Article article;
    for (int64_t n = 1;; ++n) {
      TS_ASSIGN_OR_RETURN(const bool more, reader->Next(&article));
      if (!more) break;
      batch.PutArticle(article.article_id, events::ArticleFeaturesOf(article));
      if (n % kIngestBatch == 0) TS_RETURN_IF_ERROR(store->Write(&batch));
    }
    TS_ASSIGN_OR_RETURN(auto customers, hm::CustomerReader::Open(files.customers));
    hm::Customer customer;
    for (int64_t n = 1;; ++n) {
      TS_ASSIGN_OR_RETURN(const bool more, customers->Next(&customer));
      if (!more) break;
      TS_ASSIGN_OR_RETURN(const features::CustomerKey key,
                          features::CustomerKeyFromId(customer.customer_id));
      batch.PutCustomer(key, events::CustomerFeaturesOf(customer));
      if (n % kIngestBatch == 0) TS_RETURN_IF_ERROR(store->Write(&batch));
    }
    TS_RETURN_IF_ERROR(store->Write(&batch));
  }
  const double catch_up = SecondsSince(catch_up_start);

  ingest::Enricher enricher(*store, ingest::EnricherOptions{});
  TS_ASSIGN_OR_RETURN(auto reader, hm::TransactionReader::Open(files.transactions));
  const std::string source = std::filesystem::path(files.transactions).filename().string();
  std::vector<ingest::EnrichInput> inputs;
  std::vector<ingest::EnrichOutcome> outcomes;
  int64_t events = 0;
  int64_t encoded_bytes = 0;
  const Clock::time_point start = Clock::now();
  hm::Transaction t;
  bool more = true;
  while (more) {
    inputs.clear();
    while (static_cast<int64_t>(inputs.size()) < kIngestBatch) {
      TS_ASSIGN_OR_RETURN(more, reader->Next(&t));
      if (!more) break;
      ingest::EnrichInput& in = inputs.emplace_back();
      in.position = {0, reader->line()};
      in.event.event_id = events::MakeTransactionEventId(source, reader->line());
      in.event.transaction = t;
      TS_ASSIGN_OR_RETURN(in.customer, features::CustomerKeyFromId(t.customer_id));
    }
    if (inputs.empty()) break;
    ingest::EnrichTimings timings;
    TS_RETURN_IF_ERROR(enricher.Enrich(inputs, /*now_ms=*/0, &batch, &outcomes, &timings));
    for (const ingest::EnrichOutcome& out : outcomes) {
      if (out.kind != ingest::EnrichOutcome::Kind::kExample) continue;
      encoded_bytes += static_cast<int64_t>(events::EncodeExampleEvent(out.example).size());
      ++events;
    }
    TS_RETURN_IF_ERROR(store->Write(&batch));
  }
  const double seconds = SecondsSince(start);
  const features::CacheStats history = store->history_cache_stats();
  const features::CacheStats customers = store->customer_cache_stats();
  std::printf("events %lld\nseconds %.3f\ncatch_up %.3f\nbytes %lld\npeak %lld\n",
              static_cast<long long>(events), seconds, catch_up,
              static_cast<long long>(encoded_bytes), static_cast<long long>(PeakResidentBytes()));
  const auto hit_rate = [](const features::CacheStats& c) {
    return c.hits + c.misses > 0 ? static_cast<double>(c.hits) / (c.hits + c.misses) : 0.0;
  };
  std::printf("history_hits %.4f\ncustomer_hits %.4f\n", hit_rate(history), hit_rate(customers));
  return Status::Ok();
}

int RunIngest(const std::filesystem::path& data, const std::filesystem::path& work, bool previous) {
  const Status s = IngestOnce(data, work, previous);
  std::filesystem::remove_all(work / "ingest-state");
  if (!s.ok()) {
    std::fprintf(stderr, "scale_bench: ingest: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}

using Figures = std::map<std::string, double>;

// Runs this binary as a child in `mode` on `data` and reads its "key value" lines.
Result<Figures> RunChild(const std::string& mode, const std::filesystem::path& data,
                         const std::filesystem::path& work) {
  const std::filesystem::path out = work / (mode + ".out");
  const std::string command = "'" + std::filesystem::read_symlink("/proc/self/exe").string() +
                              "' --child " + mode + " --data '" + data.string() + "' --work '" +
                              work.string() + "' > '" + out.string() + "'";
  const int status = std::system(command.c_str());
  if (status != 0) {
    return Status::Internal("scale_bench: child '" + mode + "' on " + data.string() +
                            " failed (status " + std::to_string(status) + ")");
  }
  std::ifstream in(out);
  Figures figures;
  std::string key;
  double value = 0;
  while (in >> key >> value) figures[key] = value;
  return figures;
}

std::string Rate(double count, double seconds) {
  return FormatCount(static_cast<int64_t>(count / std::max(seconds, 1e-9)));
}

int Main(const std::vector<std::string>& sizes, int32_t full_days, std::filesystem::path work) {
  const bool temporary = work.empty();
  if (temporary) {
    work = std::filesystem::temp_directory_path() / ("scale_bench_" + std::to_string(::getpid()));
  }
  std::filesystem::create_directories(work);
  struct Cleanup {
    std::filesystem::path path;
    bool remove;
    ~Cleanup() {
      std::error_code ignored;
      if (remove) std::filesystem::remove_all(path, ignored);
    }
  } cleanup{work, temporary};

  std::printf(
      "scale_bench: embedded training (default flags, progressive validation on) and "
      "ingest's enrichment per size; %u cores\n",
      std::thread::hardware_concurrency());
  struct SizeFigures {
    Figures train, ingest, ingest_previous;
  };
  std::map<std::string, SizeFigures> results;
  for (const Size& size : AllSizes(full_days)) {
    if (std::find(sizes.begin(), sizes.end(), size.name) == sizes.end()) continue;
    const std::filesystem::path data = work / ("data-" + size.name);
    const std::filesystem::path marker = data / ".complete";
    const datagen::GeneratorOptions& g = size.generator;
    const std::string description =
        std::to_string(g.customers) + "c-" + std::to_string(g.articles) + "a-" +
        std::to_string(g.transactions) + "t-" + std::to_string(g.first_days) + "d";
    std::string existing;
    std::ifstream(marker.string()) >> existing;
    if (existing != description) {
      std::fprintf(stderr, "scale_bench: generating %s (%s)\n", size.name.c_str(),
                   description.c_str());
      Result<datagen::GenerateSummary> generated = datagen::Generate(g, data);
      if (!generated.ok()) {
        std::fprintf(stderr, "scale_bench: generate: %s\n", generated.status().ToString().c_str());
        return 1;
      }
      std::ofstream(marker) << description;
    }
    std::fprintf(stderr, "scale_bench: %s: training\n", size.name.c_str());
    Result<Figures> train = RunChild("train", data, work);
    if (!train.ok()) {
      std::fprintf(stderr, "%s\n", train.status().ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "scale_bench: %s: ingest\n", size.name.c_str());
    Result<Figures> ingest = RunChild("ingest", data, work);
    if (!ingest.ok()) {
      std::fprintf(stderr, "%s\n", ingest.status().ToString().c_str());
      return 1;
    }
    std::fprintf(stderr, "scale_bench: %s: ingest with the previous caches\n", size.name.c_str());
    Result<Figures> previous = RunChild("ingest-previous", data, work);
    if (!previous.ok()) {
      std::fprintf(stderr, "%s\n", previous.status().ToString().c_str());
      return 1;
    }
    results[size.name] = {*train, *ingest, *previous};
  }

  std::printf(
      "\n%-8s %9s %8s %10s | %9s %9s | %6s %6s %6s %6s %6s %6s | %9s %8s %9s | %9s %7s %9s "
      "%9s\n",
      "size", "customers", "articles", "examples", "train/s", "loop/s", "setup", "step", "valid",
      "snap", "wait", "enrich", "snapshot", "snap s", "peak RSS", "ingest/s", "catchup", "peak RSS",
      "before/s");
  for (const Size& size : AllSizes(full_days)) {
    const auto it = results.find(size.name);
    if (it == results.end()) continue;
    Figures& t = it->second.train;
    Figures& i = it->second.ingest;
    Figures& p = it->second.ingest_previous;
    std::printf(
        "%-8s %9s %8s %10s | %9s %9s | %6.1f %6.1f %6.1f %6.1f %6.1f %6.1f | %9s %8.2f %9s | %9s "
        "%7.1f %9s %9s\n",
        size.name.c_str(), FormatCount(size.generator.customers).c_str(),
        FormatCount(size.generator.articles).c_str(),
        FormatCount(static_cast<int64_t>(t["examples"])).c_str(),
        Rate(t["examples"], t["seconds"]).c_str(),
        Rate(t["examples"], t["seconds"] - t["setup"]).c_str(), t["setup"], t["step"],
        t["validation"], t["snapshot"], t["wait"], t["enrich"],
        FormatBytes(static_cast<int64_t>(t["snapshot_bytes"])).c_str(), t["snapshot"],
        FormatBytes(static_cast<int64_t>(t["peak"])).c_str(),
        Rate(i["events"], i["seconds"]).c_str(), i["catch_up"],
        FormatBytes(static_cast<int64_t>(i["peak"])).c_str(),
        Rate(p["events"], p["seconds"]).c_str());
  }
  std::printf(
      "(train/s: examples over the whole run; loop/s: without the setup (counting rows, loading "
      "articles and customers). Seconds: setup, training steps, progressive validation (%s), "
      "snapshot, training waiting for enrichment, enrichment on its own thread. ingest/s: "
      "enrichment + encoding + RocksDB writes with fsync, after the entity catch-up; before/s: "
      "the same code with the previous release's cache settings (200,000 entries, none filled "
      "at load).)\n",
      "scored batches only");
  if (results.count("default") && results.count("full")) {
    Figures& st = results["default"].train;
    Figures& ft = results["full"].train;
    Figures& si = results["default"].ingest;
    Figures& fi = results["full"].ingest;
    Figures& sp = results["default"].ingest_previous;
    Figures& fp = results["full"].ingest_previous;
    const double train_ratio = (ft["examples"] / ft["seconds"]) / (st["examples"] / st["seconds"]);
    const double loop_ratio = (ft["examples"] / (ft["seconds"] - ft["setup"])) /
                              (st["examples"] / (st["seconds"] - st["setup"]));
    const double step_ratio = (ft["examples"] / ft["step"]) / (st["examples"] / st["step"]);
    const double ingest_ratio = (fi["events"] / fi["seconds"]) / (si["events"] / si["seconds"]);
    const double previous_ratio = (fp["events"] / fp["seconds"]) / (sp["events"] / sp["seconds"]);
    std::printf(
        "full / default: training %.2fx end to end, %.2fx without setup (target 0.8x), "
        "model step %.2fx; ingest enrichment %.2fx (target 0.8x; %.2fx with the previous "
        "cache settings)\n",
        train_ratio, loop_ratio, step_ratio, ingest_ratio, previous_ratio);
    std::printf(
        "full: progressive validation %.1f%% of the training steps' time (%d batches "
        "scored); history cache hits %.1f%%, customer cache hits %.1f%% in ingest\n",
        100 * ft["validation"] / ft["step"], static_cast<int>(ft["scored"]),
        100 * fi["history_hits"], 100 * fi["customer_hits"]);
  }
  return 0;
}

}  // namespace
}  // namespace towerstream

int main(int argc, char** argv) {
  std::vector<std::string> sizes = {"default", "tenth", "full"};
  int32_t full_days = 45;
  std::string child, data, work;
  for (int i = 1; i < argc; ++i) {
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "scale_bench: %s needs a value\n", argv[i]);
        std::exit(2);
      }
      return argv[++i];
    };
    const std::string flag = argv[i];
    if (flag == "--sizes") {
      sizes.clear();
      std::stringstream list(value());
      for (std::string name; std::getline(list, name, ',');) sizes.push_back(name);
    } else if (flag == "--full-days") {
      full_days = std::atoi(value().c_str());
    } else if (flag == "--work") {
      work = value();
    } else if (flag == "--child") {
      child = value();
    } else if (flag == "--data") {
      data = value();
    } else {
      std::fprintf(stderr,
                   "usage: scale_bench [--sizes default,tenth,full] [--full-days N] [--work DIR]\n"
                   "(see the comment at the top of bench/scale_bench.cpp)\n");
      return flag == "--help" || flag == "-h" ? 0 : 2;
    }
  }
  if (child == "train") return towerstream::RunTrain(data, work);
  if (child == "ingest") return towerstream::RunIngest(data, work, /*previous=*/false);
  if (child == "ingest-previous") return towerstream::RunIngest(data, work, /*previous=*/true);
  if (!child.empty()) {
    std::fprintf(stderr, "scale_bench: unknown child mode '%s'\n", child.c_str());
    return 2;
  }
  if (full_days < 1 || full_days > 734) {
    std::fprintf(stderr, "scale_bench: --full-days must be in [1, 734]\n");
    return 2;
  }
  return towerstream::Main(sizes, full_days, work);
}
