// Fuzzes the readers of the binary state files a snapshot holds (common/model): the id embedding
// tables, the code tables, Adam's moments, the frequency estimator, the catalogue and the
// model's counters. The first byte of an input picks the reader, the rest is the file. A file a
// reader accepts must be usable and must save to bytes that load and save again unchanged.
//
// Not fuzzed: towers.pt, a LibTorch archive (LibTorch's own format and reader), and
// item_embeddings.bin, which is written for other tools and read by nothing in towerstream.
//
// The seeds in fuzz/corpus/snapshot_state/ are real files of small trained objects; this binary
// writes them again with TS_FUZZ_WRITE_SEEDS=<dir> bin/snapshot_state_fuzzer -runs=0.
#include <ATen/Parallel.h>
#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "common/model/catalogue.h"
#include "common/model/dense_adam.h"
#include "common/model/embedding_table.h"
#include "common/model/field_embeddings.h"
#include "common/model/frequency_estimator.h"
#include "common/model/two_tower_model.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/tiny_model.h"

namespace towerstream::fuzz {
namespace {

namespace fs = std::filesystem;

enum Kind : uint8_t {
  kEmbeddingTable,         // customer_table.bin / article_table.bin, rows unlimited
  kBoundedEmbeddingTable,  // the same into a table with max_rows
  kFieldEmbeddings,        // query_fields.bin / item_fields.bin
  kDenseAdam,              // optimizer.bin
  kFrequencyEstimator,     // frequency_estimator.bin
  kCatalogue,              // catalogue.bin
  kModelState,             // model_state.bin, through TwoTowerModel::Load of a whole snapshot
  kKindCount,
};

template <typename T>
T Created(Result<std::unique_ptr<T>> made) {
  Check(made.ok(), "cannot create: " + made.status().ToString());
  return std::move(**made);
}

model::EmbeddingTable NewTable(bool bounded) {
  model::EmbeddingTableOptions o;
  o.dim = 4;
  o.admit_after = 1;
  o.cold_rows = 4;
  o.expire_after = 2;
  o.initial_capacity = 4;
  o.max_rows = bounded ? 32 : 0;
  return Created(model::EmbeddingTable::Create(o));
}

model::FieldEmbeddings NewFields() {
  model::FieldEmbeddingsOptions o;
  o.buckets = {4, 8, 4};
  o.field_dim = 2;
  return Created(model::FieldEmbeddings::Create(o));
}

// Adam over two small tensors; the parameters must outlive it.
struct Adam {
  std::vector<torch::Tensor> parameters = {torch::zeros({4, 3}), torch::zeros({3})};
  model::DenseAdam adam{parameters, {}};
};

torch::Tensor Ids(std::vector<int64_t> ids) { return torch::tensor(ids, torch::kLong); }

std::string Saved(const std::function<Status(std::ostream&)>& save) {
  std::ostringstream out(std::ios::binary);
  const Status saved = save(out);
  Check(saved.ok(), "cannot save a loaded state: " + saved.ToString());
  return out.str();
}

// Loads `bytes` with `load`; when accepted, uses the state, and checks that what it saves loads
// and saves again to the same bytes. `make` builds a fresh object for each load.
template <typename T>
void LoadAndResave(std::string_view bytes, const std::function<T()>& make,
                   const std::function<Status(T&, std::istream&)>& load,
                   const std::function<Status(const T&, std::ostream&)>& save,
                   const std::function<void(T&)>& use) {
  T loaded = make();
  std::istringstream in{std::string(bytes), std::ios::binary};
  if (!load(loaded, in).ok()) return;
  const std::string first = Saved([&](std::ostream& o) { return save(loaded, o); });
  T again = make();
  std::istringstream reread(first, std::ios::binary);
  const Status status = load(again, reread);
  Check(status.ok(), "a saved state does not load: " + status.ToString());
  Check(Saved([&](std::ostream& o) { return save(again, o); }) == first,
        "a state changed through save and load");
  use(loaded);
}

void Table(std::string_view bytes, bool bounded) {
  LoadAndResave<model::EmbeddingTable>(
      bytes, [&] { return NewTable(bounded); },
      [](model::EmbeddingTable& t, std::istream& in) { return t.Load(in); },
      [](const model::EmbeddingTable& t, std::ostream& out) { return t.Save(out); },
      [](model::EmbeddingTable& t) {
        // New ids take free rows or grow the table; known ids keep theirs.
        const int64_t step = 1'000;
        const torch::Tensor rows = t.Lookup(Ids({7, 8, 9, 7, 1'000'000}), step);
        (void)t.Gather(rows);
        (void)t.GatherMean(rows.reshape({1, -1}));
        t.ApplyRowWiseAdagrad(rows, torch::ones({5, 4}), 0.1f);
        (void)t.ExpireStale(step + 10);
      });
}

void Fields(std::string_view bytes) {
  LoadAndResave<model::FieldEmbeddings>(
      bytes, &NewFields, [](model::FieldEmbeddings& f, std::istream& in) { return f.Load(in); },
      [](const model::FieldEmbeddings& f, std::ostream& out) { return f.Save(out); },
      [](model::FieldEmbeddings& f) {
        (void)f.Gather(f.Rows(torch::tensor({{1, -1, 70}}, torch::kLong)));
      });
}

void AdamState(std::string_view bytes) {
  Adam loaded;
  std::istringstream in{std::string(bytes), std::ios::binary};
  if (!loaded.adam.Load(in).ok()) return;
  const std::string first = Saved([&](std::ostream& o) { return loaded.adam.Save(o); });
  Adam again;
  std::istringstream reread(first, std::ios::binary);
  Check(again.adam.Load(reread).ok(), "saved adam state does not load");
  Check(Saved([&](std::ostream& o) { return again.adam.Save(o); }) == first,
        "adam state changed through save and load");
  for (torch::Tensor& p : loaded.parameters) p.mutable_grad() = torch::ones_like(p);
  loaded.adam.Step();
}

// The estimator of the seeds; a model loads only one of its own options' shape, as here.
model::FrequencyEstimatorOptions EstimatorOptions() {
  model::FrequencyEstimatorOptions o;
  o.buckets = 16;
  return o;
}

void Estimator(std::string_view bytes) {
  const model::FrequencyEstimatorOptions expected = EstimatorOptions();
  std::istringstream in{std::string(bytes), std::ios::binary};
  Result<std::unique_ptr<model::FrequencyEstimator>> loaded =
      model::FrequencyEstimator::Load(in, torch::kCPU, &expected);
  if (!loaded.ok()) return;
  const std::string first = Saved([&](std::ostream& o) { return (*loaded)->Save(o); });
  std::istringstream reread(first, std::ios::binary);
  Result<std::unique_ptr<model::FrequencyEstimator>> again =
      model::FrequencyEstimator::Load(reread, torch::kCPU, &expected);
  Check(again.ok(), "a saved estimator does not load: " + again.status().ToString());
  Check(Saved([&](std::ostream& o) { return (*again)->Save(o); }) == first,
        "an estimator changed through save and load");
  const torch::Tensor ids = Ids({108775015, 0, -5});
  (void)(*loaded)->LogProbability(ids);
  const int64_t step = std::max<int64_t>((*loaded)->last_step(), 0);
  Check((*loaded)->Update(ids, step).ok(), "a loaded estimator refuses a valid update");
}

void CatalogueState(std::string_view bytes) {
  LoadAndResave<model::Catalogue>(
      bytes, [] { return model::Catalogue(); },
      [](model::Catalogue& c, std::istream& in) { return c.Load(in); },
      [](const model::Catalogue& c, std::ostream& out) { return c.Save(out); },
      [](model::Catalogue& c) {
        for (size_t i = 0; i < c.ids().size(); ++i) {
          Check(c.IndexOf(c.ids()[i]) == static_cast<int64_t>(i), "catalogue index mismatch");
        }
        c.Upsert(42, model::ArticleCodes{});
      });
}

// A saved tiny model whose model_state.bin each input replaces.
struct SavedModel {
  std::unique_ptr<model::TwoTowerModel> model = TrainTinyModel(/*steps=*/6);
  fs::path dir = ScratchDir() / "model";
};

SavedModel& Model() {
  static SavedModel* const saved = [] {
    auto* s = new SavedModel;  // lives until exit
    fs::create_directories(s->dir);
    Result<std::vector<std::string>> files = s->model->Save(s->dir);
    Check(files.ok(), "cannot save the tiny model: " + files.status().ToString());
    return s;
  }();
  return *saved;
}

void ModelState(std::string_view bytes) {
  SavedModel& saved = Model();
  WriteFile(saved.dir / "model_state.bin", bytes);
  // Rejected or not, the model stays loadable: the next input loads it whole again.
  saved.model->Load(saved.dir).IgnoreError();
}

// Writes the seeds: each reader's file as the objects above save it, after some use.
void WriteSeeds(const fs::path& dir) {
  const auto seed = [&](const std::string& name, Kind kind, const std::string& bytes) {
    WriteFile(dir / name, std::string(1, static_cast<char>(kind)) + bytes);
  };
  for (const bool bounded : {false, true}) {
    model::EmbeddingTable table = NewTable(bounded);
    for (int64_t step = 0; step < 6; ++step) {
      const torch::Tensor rows = table.Lookup(Ids({step, step + 1, 100 + step % 2}), step);
      table.ApplyRowWiseAdagrad(rows, torch::ones({3, 4}), 0.1f);
    }
    seed(bounded ? "bounded_table.bin" : "table.bin",
         bounded ? kBoundedEmbeddingTable : kEmbeddingTable,
         Saved([&](std::ostream& o) { return table.Save(o); }));
  }
  model::FieldEmbeddings fields = NewFields();
  seed("fields.bin", kFieldEmbeddings, Saved([&](std::ostream& o) { return fields.Save(o); }));
  Adam adam;
  for (torch::Tensor& p : adam.parameters) p.mutable_grad() = torch::ones_like(p);
  adam.adam.Step();
  seed("adam.bin", kDenseAdam, Saved([&](std::ostream& o) { return adam.adam.Save(o); }));
  auto estimator = Created(model::FrequencyEstimator::Create(EstimatorOptions()));
  for (int64_t step = 0; step < 4; ++step) {
    Check(estimator.Update(Ids({1, 2, step}), step).ok(), "cannot update the estimator");
  }
  seed("estimator.bin", kFrequencyEstimator,
       Saved([&](std::ostream& o) { return estimator.Save(o); }));
  model::Catalogue catalogue;
  catalogue.Upsert(108775015, model::ArticleCodes{.known = true, .codes = {1, 2, 3}});
  catalogue.Upsert(108775044, model::ArticleCodes{});
  seed("catalogue.bin", kCatalogue, Saved([&](std::ostream& o) { return catalogue.Save(o); }));
  std::ifstream state(Model().dir / "model_state.bin", std::ios::binary);
  seed("model_state.bin", kModelState,
       std::string(std::istreambuf_iterator<char>(state), std::istreambuf_iterator<char>()));
}

}  // namespace
}  // namespace towerstream::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // One thread for LibTorch's kernels: the fuzzer calls in one thread, and each extra thread
  // only adds scheduling noise.
  at::set_num_threads(1);
  towerstream::fuzz::WriteSeedsIfAsked(&towerstream::fuzz::WriteSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream::fuzz;
  if (size == 0) return 0;
  const std::string_view file = AsText(data + 1, size - 1);
  switch (data[0] % kKindCount) {
    case kEmbeddingTable:
      Table(file, /*bounded=*/false);
      break;
    case kBoundedEmbeddingTable:
      Table(file, /*bounded=*/true);
      break;
    case kFieldEmbeddings:
      Fields(file);
      break;
    case kDenseAdam:
      AdamState(file);
      break;
    case kFrequencyEstimator:
      Estimator(file);
      break;
    case kCatalogue:
      CatalogueState(file);
      break;
    case kModelState:
      ModelState(file);
      break;
  }
  return 0;
}
