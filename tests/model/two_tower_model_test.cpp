// TwoTowerModel: learning a planted structure, determinism, save/load, devices, options.
#include "common/model/two_tower_model.h"

#include <gtest/gtest.h>
#include <torch/cuda.h>
#include <torch/types.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/model/planted_stream.h"
#include "tests/model/small_model.h"
#include "tests/testing/small_disk.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::model {
namespace {

using testing::PlantedStream;
using testing::SmallModelOptions;

std::unique_ptr<TwoTowerModel> MakeModel(const ModelOptions& o) {
  auto model = TwoTowerModel::Create(o);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  return std::move(model).value();
}

double HitRate(const ProgressiveCounts& c, bool at_100) {
  return static_cast<double>(at_100 ? c.hits_at_100 : c.hits_at_12) /
         static_cast<double>(std::max<int64_t>(c.queries, 1));
}

TEST(TwoTowerModelTest, LearnsAPlantedStructureThatProgressiveValidationSees) {
  PlantedStream stream(/*customers=*/2000, /*articles=*/400, /*segments=*/8, /*loyalty=*/0.9, 1);
  auto model = MakeModel(SmallModelOptions());
  for (int64_t a = 0; a < 400; ++a) model->AddArticle(a, stream.CodesOf(a));
  const std::vector<Example> probe = stream.Batch(512);
  const ProgressiveCounts before = *model->Evaluate(probe);
  double first_loss = 0, last_loss = 0;
  for (int step = 0; step < 300; ++step) {
    const Result<StepStats> stats = model->Train(stream.Batch(256));
    ASSERT_TRUE(stats.ok()) << stats.status().ToString();
    if (step < 10) first_loss += stats->loss / 10;
    if (step >= 290) last_loss += stats->loss / 10;
  }
  const ProgressiveCounts after = *model->Evaluate(stream.Batch(512));
  EXPECT_EQ(after.queries, 512);
  EXPECT_LT(last_loss, first_loss) << first_loss << " -> " << last_loss;
  // Chance is 12 / 400 = 3%; a segment's 50 articles, skewed, mostly fit in the top 12.
  EXPECT_GT(HitRate(after, false), 0.25) << "before training " << HitRate(before, false);
  EXPECT_GT(HitRate(after, false), 3 * HitRate(before, false));
  EXPECT_GT(HitRate(after, true), 0.8);
  EXPECT_EQ(model->step(), 300);
  EXPECT_EQ(model->stats().catalogue, 400);
}

// Serving embeds one query at a time: its vector must be the one it gets within a batch.
TEST(TwoTowerModelTest, AQueryAloneEmbedsAsItDoesInABatch) {
  PlantedStream stream(500, 100, 4, 0.8, 5);
  auto model = MakeModel(SmallModelOptions());
  for (int step = 0; step < 30; ++step) ASSERT_TRUE(model->Train(stream.Batch(64)).ok());
  const std::vector<Example> queries = stream.Batch(16);
  const Result<torch::Tensor> together = model->QueryEmbeddings(queries);
  ASSERT_TRUE(together.ok());
  for (size_t i = 0; i < queries.size(); ++i) {
    const Result<torch::Tensor> alone = model->QueryEmbeddings(std::span(&queries[i], 1));
    ASSERT_TRUE(alone.ok());
    EXPECT_TRUE(
        torch::allclose(alone->squeeze(0), (*together)[static_cast<int64_t>(i)], 1e-5, 1e-6))
        << "query " << i;
  }
}

TEST(TwoTowerModelTest, SameSeedAndBatchesGiveIdenticalModels) {
  PlantedStream stream(500, 100, 4, 0.8, 2);
  std::vector<std::vector<Example>> batches;
  for (int i = 0; i < 20; ++i) batches.push_back(stream.Batch(64));
  ModelOptions o = SmallModelOptions();
  o.extra_negatives = 8;
  auto a = MakeModel(o), b = MakeModel(o);
  for (const auto& batch : batches) {
    ASSERT_TRUE(a->Train(batch).ok());
    ASSERT_TRUE(b->Train(batch).ok());
  }
  EXPECT_TRUE(torch::equal(*a->QueryEmbeddings(batches[0]), *b->QueryEmbeddings(batches[0])));
  EXPECT_TRUE(torch::equal(a->CatalogueEmbeddings()->vectors, b->CatalogueEmbeddings()->vectors));

  o.seed = 2;
  auto c = MakeModel(o);
  for (const auto& batch : batches) ASSERT_TRUE(c->Train(batch).ok());
  EXPECT_FALSE(torch::equal(*a->QueryEmbeddings(batches[0]), *c->QueryEmbeddings(batches[0])));
}

// TrainAsync is Train with the statistics read later: a step's PendingStepStats still give that
// step's loss after further steps, and the models stay identical.
TEST(TwoTowerModelTest, TrainAsyncGivesEachStepsStatisticsWhenAskedLater) {
  PlantedStream stream(500, 100, 4, 0.8, 5);
  std::vector<std::vector<Example>> batches;
  for (int i = 0; i < 6; ++i) batches.push_back(stream.Batch(64));
  auto sync = MakeModel(SmallModelOptions()), async = MakeModel(SmallModelOptions());
  std::vector<StepStats> expected;
  std::vector<PendingStepStats> pending;
  for (const auto& batch : batches) {
    expected.push_back(*sync->Train(batch));
    Result<PendingStepStats> step = async->TrainAsync(batch);
    ASSERT_TRUE(step.ok()) << step.status().ToString();
    pending.push_back(std::move(step).value());
  }
  for (size_t i = 0; i < batches.size(); ++i) {
    const Result<StepStats> got = pending[i].Get();
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    EXPECT_EQ(got->loss, expected[i].loss) << "step " << i;
    EXPECT_EQ(got->mean_log_q, expected[i].mean_log_q) << "step " << i;
    EXPECT_EQ(got->examples, 64);
  }
  EXPECT_EQ(async->step(), 6);
  EXPECT_TRUE(
      torch::equal(async->CatalogueEmbeddings()->vectors, sync->CatalogueEmbeddings()->vectors));
  EXPECT_FALSE(async->TrainAsync({}).ok());
}

// A full disk is an error naming the reason, not an abort: LibTorch's file writer finished the
// towers' file in its destructor and ended the process with std::terminate (issue 12).
TEST(TwoTowerModelTest, SavingOntoAFullDiskFailsWithTheReason) {
  towerstream::testing::ScopedTempDir dir("model_full_disk");
  std::string why;
  const auto full =
      towerstream::testing::SmallDisk::Mount(dir.path() / "full", 16 * 1024, 16 * 1024, &why);
  if (!full) GTEST_SKIP() << why;
  PlantedStream stream(500, 100, 4, 0.8, 3);
  auto model = MakeModel(SmallModelOptions());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(model->Train(stream.Batch(64)).ok());
  const Result<std::vector<std::string>> saved = model->Save(full->dir());
  ASSERT_FALSE(saved.ok());
  EXPECT_EQ(saved.status().code(), StatusCode::kIoError);
  EXPECT_NE(saved.status().message().find("No space left on device"), std::string::npos)
      << saved.status().ToString();
}

TEST(TwoTowerModelTest, SaveThenLoadGivesIdenticalScoresAndContinuesIdentically) {
  towerstream::testing::ScopedTempDir dir("model_save");
  PlantedStream stream(500, 100, 4, 0.8, 3);
  ModelOptions o = SmallModelOptions();
  o.extra_negatives = 4;
  o.expire_after = 5;  // rows are reclaimed and reused across the save
  auto original = MakeModel(o);
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(original->Train(stream.Batch(64)).ok());
  const Result<std::vector<std::string>> files = original->Save(dir.path());
  ASSERT_TRUE(files.ok()) << files.status().ToString();
  for (const std::string& f : *files) EXPECT_TRUE(std::filesystem::exists(dir.path() / f)) << f;

  auto loaded = MakeModel(o);
  const Status load = loaded->Load(dir.path());
  ASSERT_TRUE(load.ok()) << load.ToString();
  EXPECT_EQ(loaded->step(), 30);
  const std::vector<Example> queries = stream.Batch(100);
  EXPECT_TRUE(torch::equal(*original->QueryEmbeddings(queries), *loaded->QueryEmbeddings(queries)));
  const ItemEmbeddings items = *original->CatalogueEmbeddings();
  EXPECT_EQ(items.ids, loaded->CatalogueEmbeddings()->ids);
  EXPECT_TRUE(torch::equal(items.vectors, loaded->CatalogueEmbeddings()->vectors));

  for (int i = 0; i < 10; ++i) {
    const std::vector<Example> batch = stream.Batch(64);
    const double a = original->Train(batch)->loss;
    const double b = loaded->Train(batch)->loss;
    EXPECT_EQ(a, b) << "step " << i;
  }
  EXPECT_TRUE(torch::equal(*original->QueryEmbeddings(queries), *loaded->QueryEmbeddings(queries)));
  EXPECT_TRUE(torch::equal(original->CatalogueEmbeddings()->vectors,
                           loaded->CatalogueEmbeddings()->vectors));
}

// A small model after one step, saved into `dir`.
void SaveTrainedSmallModel(const std::filesystem::path& dir, uint64_t seed) {
  PlantedStream stream(100, 50, 2, 0.8, seed);
  auto model = MakeModel(SmallModelOptions());
  ASSERT_TRUE(model->Train(stream.Batch(16)).ok());
  ASSERT_TRUE(model->Save(dir).ok());
}

TEST(TwoTowerModelTest, LoadRejectsAModelOfOtherShape) {
  towerstream::testing::ScopedTempDir dir("model_shape");
  ASSERT_NO_FATAL_FAILURE(SaveTrainedSmallModel(dir.path(), 4));
  ModelOptions wider = SmallModelOptions();
  wider.towers.dim = 8;
  const Status s = MakeModel(wider)->Load(dir.path());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
}

// Found by fuzz/snapshot_state_fuzzer: the estimator's shape came from its file alone, so a
// damaged header made Load allocate and fill up to 2^35 buckets (and another shape was taken
// silently) before anything compared it with the model's options.
TEST(TwoTowerModelTest, LoadRejectsAnEstimatorOfOtherShapeBeforeAllocatingIt) {
  towerstream::testing::ScopedTempDir dir("model_estimator");
  ASSERT_NO_FATAL_FAILURE(SaveTrainedSmallModel(dir.path(), 4));
  ModelOptions other = SmallModelOptions();
  other.estimator.buckets /= 2;
  const Status s = MakeModel(other)->Load(dir.path());
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();
  EXPECT_NE(s.message().find("frequency_estimator.bin"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("buckets"), std::string::npos) << s.message();
}

TEST(TwoTowerModelTest, LoadNamesTheDamagedFile) {
  towerstream::testing::ScopedTempDir dir("model_damaged");
  ASSERT_NO_FATAL_FAILURE(SaveTrainedSmallModel(dir.path(), 5));
  const std::filesystem::path table = dir.path() / "customer_table.bin";
  std::filesystem::resize_file(table, std::filesystem::file_size(table) / 2);
  const Status s = MakeModel(SmallModelOptions())->Load(dir.path());
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_NE(s.message().find("customer_table.bin"), std::string::npos) << s.message();

  std::filesystem::remove(dir.path() / "catalogue.bin");
  EXPECT_FALSE(MakeModel(SmallModelOptions())->Load(dir.path()).ok());
}

TEST(TwoTowerModelTest, EvaluateScoresEveryQueryAgainstTheCatalogue) {
  PlantedStream stream(100, 30, 3, 0.8, 6);
  auto model = MakeModel(SmallModelOptions());
  const std::vector<Example> batch = stream.Batch(40);
  const Result<ProgressiveCounts> counts = model->Evaluate(batch);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->queries, 40);
  // Fewer than 100 articles: every purchase is in the top 100.
  EXPECT_EQ(counts->hits_at_100, 40);
  EXPECT_LE(counts->hits_at_12, 40);
  EXPECT_EQ(model->step(), 0) << "evaluation does not train";
  EXPECT_EQ(model->stats().customers.tracked_ids, 0) << "evaluation records no sightings";
}

// Evaluate counts the articles scoring at least as high as the purchased one, in blocks of the
// catalogue; that must be the purchase's rank in a full sort of the same scores.
TEST(TwoTowerModelTest, EvaluateAgreesWithRanksFromAFullSort) {
  constexpr int64_t kArticles = 5000;  // more than two blocks of 2,048
  PlantedStream stream(/*customers=*/3000, kArticles, /*segments=*/10, /*loyalty=*/0.9, 8);
  auto model = MakeModel(SmallModelOptions());
  for (int64_t a = 0; a < kArticles; ++a) model->AddArticle(a, stream.CodesOf(a));
  for (int step = 0; step < 60; ++step) ASSERT_TRUE(model->Train(stream.Batch(256)).ok());
  const std::vector<Example> queries = stream.Batch(300);

  const Result<torch::Tensor> query_vectors = model->QueryEmbeddings(queries);
  const Result<ItemEmbeddings> items = model->CatalogueEmbeddings();
  ASSERT_TRUE(query_vectors.ok() && items.ok());
  const torch::Tensor scores = torch::matmul(*query_vectors, items->vectors.t());
  ProgressiveCounts expected;
  for (size_t q = 0; q < queries.size(); ++q) {
    const int64_t label = *model->catalogue().IndexOf(queries[q].article_id);
    const torch::Tensor row = scores[static_cast<int64_t>(q)];
    // Its place in a descending sort of the scores, the other articles of equal score first.
    const torch::Tensor sorted = std::get<0>(row.sort(/*dim=*/0, /*descending=*/true));
    const int64_t rank = sorted.ge(row[label]).sum().item<int64_t>() - 1;
    expected.hits_at_12 += rank < 12;
    expected.hits_at_100 += rank < 100;
  }
  const Result<ProgressiveCounts> counts = model->Evaluate(queries);
  ASSERT_TRUE(counts.ok()) << counts.status().ToString();
  EXPECT_EQ(counts->queries, 300);
  // Two matrix-product implementations may round a near-tie differently: one query at most.
  EXPECT_NEAR(counts->hits_at_12, expected.hits_at_12, 1);
  EXPECT_NEAR(counts->hits_at_100, expected.hits_at_100, 1);
  EXPECT_GT(counts->hits_at_100, 0) << "a test that no hit can pass proves little";
  EXPECT_LT(counts->hits_at_12, 300);
}

TEST(TwoTowerModelTest, RejectsAnEmptyBatch) {
  auto model = MakeModel(SmallModelOptions());
  EXPECT_EQ(model->Train({}).status().code(), StatusCode::kInvalidArgument);
}

TEST(TwoTowerModelTest, ValidateNamesTheBadOption) {
  struct Case {
    const char* name;
    void (*mutate)(ModelOptions&);
  };
  const std::vector<Case> cases = {
      {"admit_after", [](ModelOptions& o) { o.admit_after = 0; }},
      {"expire_after", [](ModelOptions& o) { o.expire_after = -1; }},
      {"history_length", [](ModelOptions& o) { o.history_length = -1; }},
      {"extra_negatives", [](ModelOptions& o) { o.extra_negatives = -2; }},
      {"table learning rate", [](ModelOptions& o) { o.table_learning_rate = 0; }},
      {"dense learning rate", [](ModelOptions& o) { o.dense_learning_rate = -1; }},
      {"temperature", [](ModelOptions& o) { o.towers.temperature = 0; }},
  };
  EXPECT_TRUE(SmallModelOptions().Validate().ok());
  for (const Case& c : cases) {
    ModelOptions o = SmallModelOptions();
    c.mutate(o);
    const Status s = o.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(s.message().find(c.name), std::string::npos) << s.message();
  }
}

TEST(ResolveDeviceTest, NamesAndErrors) {
  EXPECT_TRUE(ResolveDevice("cpu")->is_cpu());
  EXPECT_EQ(ResolveDevice("auto")->is_cuda(), torch::cuda::is_available());
  const Result<torch::Device> bogus = ResolveDevice("tpu");
  ASSERT_FALSE(bogus.ok());
  EXPECT_NE(bogus.status().message().find("expected auto, cpu, cuda"), std::string::npos);
  if (!torch::cuda::is_available()) {
    const Result<torch::Device> cuda = ResolveDevice("cuda");
    ASSERT_FALSE(cuda.ok());
    EXPECT_NE(cuda.status().message().find("CUDA is not available"), std::string::npos);
  }
}

// With CUDA, the same steps on both devices give the same model up to float rounding.
TEST(TwoTowerModelTest, CpuAndCudaStepsAgree) {
  if (!torch::cuda::is_available()) {
    GTEST_SKIP() << "no CUDA device on this machine: the CPU/GPU agreement check needs one "
                    "(scripts/gpu-bench runs it on a GPU machine)";
  }
  PlantedStream stream(500, 100, 4, 0.8, 7);
  ModelOptions o = SmallModelOptions();
  o.extra_negatives = 8;
  auto cpu = MakeModel(o);
  o.device = torch::Device(torch::kCUDA, 0);
  auto gpu = MakeModel(o);
  for (int i = 0; i < 10; ++i) {
    const std::vector<Example> batch = stream.Batch(128);
    const double a = cpu->Train(batch)->loss, b = gpu->Train(batch)->loss;
    EXPECT_NEAR(a, b, 1e-3 * std::max(1.0, std::abs(a))) << "step " << i;
  }
  const std::vector<Example> queries = stream.Batch(64);
  EXPECT_TRUE(
      torch::allclose(*cpu->QueryEmbeddings(queries), *gpu->QueryEmbeddings(queries), 1e-3, 1e-3));
  EXPECT_TRUE(torch::allclose(cpu->CatalogueEmbeddings()->vectors,
                              gpu->CatalogueEmbeddings()->vectors, 1e-3, 1e-3));
}

}  // namespace
}  // namespace towerstream::model
