// TwoTowerModel::TrainInGroup: ranks of one group keep the replicated state bit-identical, a
// group of one trains like the single step, and a group's customer shards merge for serving.
//
// The ranks here are threads exchanging through shared memory (ThreadExchange, a complete
// implementation of the two collectives): the model's arithmetic is what is under test. The
// Gloo exchange has its own tests (tests/distributed), and the trainer group test runs ranks
// as processes over it.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <thread>
#include <vector>

#include "common/model/step_exchange.h"
#include "common/model/two_tower_model.h"
#include "tests/model/planted_stream.h"
#include "tests/model/small_model.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::model {
namespace {

using testing::PlantedStream;
using testing::SmallModelOptions;

// Collectives between the threads of one process: each call waits for every rank's part.
class SharedBoard {
 public:
  explicit SharedBoard(int world) : world_(world), parts_(static_cast<size_t>(world)) {}

  std::vector<torch::Tensor> Exchange(int rank, const torch::Tensor& part) {
    std::unique_lock lock(mutex_);
    // Wait until the previous round has been read by everyone.
    changed_.wait(lock, [&] { return leaving_ == 0; });
    parts_[static_cast<size_t>(rank)] = part.clone();
    const int64_t round = round_;
    if (++arrived_ == world_) {
      arrived_ = 0;
      leaving_ = world_;
      ++round_;
      changed_.notify_all();
    } else {
      changed_.wait(lock, [&] { return round_ != round; });
    }
    std::vector<torch::Tensor> all = parts_;
    if (--leaving_ == 0) changed_.notify_all();
    return all;
  }

 private:
  const int world_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<torch::Tensor> parts_;
  int arrived_ = 0;
  int leaving_ = 0;
  int64_t round_ = 0;
};

class ThreadExchange : public StepExchange {
 public:
  ThreadExchange(SharedBoard& board, int rank, int world)
      : board_(board), rank_(rank), world_(world) {}
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  Result<std::vector<torch::Tensor>> AllGather(const torch::Tensor& local) override {
    ++stats_.collectives;
    return board_.Exchange(rank_, local);
  }
  Status AllReduceSum(torch::Tensor& values) override {
    ++stats_.collectives;
    const std::vector<torch::Tensor> all = board_.Exchange(rank_, values);
    torch::Tensor sum = all[0].clone();
    for (size_t r = 1; r < all.size(); ++r) sum += all[r];
    values.copy_(sum);
    return Status::Ok();
  }
  ExchangeStats stats() const override { return stats_; }

 private:
  SharedBoard& board_;
  int rank_;
  int world_;
  ExchangeStats stats_;
};

std::unique_ptr<TwoTowerModel> NewModel(int rank, int world) {
  ModelOptions options = SmallModelOptions();
  options.extra_negatives = 8;
  auto model = TwoTowerModel::Create(options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  (*model)->SetCustomerShard(rank, world);
  return std::move(*model);
}

std::string Bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Rank r of `world` trains the examples whose customer is r modulo world (the way Kafka's
// partitions by customer give each customer one rank).
std::vector<Example> ShareOf(const std::vector<Example>& batch, int rank, int world) {
  std::vector<Example> share;
  for (const Example& e : batch) {
    if (e.customer_key % world == rank) share.push_back(e);
  }
  return share;
}

TEST(TwoTowerGroupTest, AGroupOfOneTrainsLikeTheSingleStep) {
  PlantedStream stream(200, 120, 4, 0.8, 7);
  auto single = NewModel(0, 1);
  auto grouped = NewModel(0, 1);
  SharedBoard board(1);
  ThreadExchange exchange(board, 0, 1);
  for (int step = 0; step < 20; ++step) {
    const std::vector<Example> batch = stream.Batch(64);
    auto a = single->Train(batch);
    auto b = grouped->TrainInGroup(batch, exchange);
    ASSERT_TRUE(a.ok()) << a.status().ToString();
    ASSERT_TRUE(b.ok()) << b.status().ToString();
    EXPECT_NEAR(a->loss, b->loss, 1e-4);
    EXPECT_EQ(b->group_examples, 64);
  }
  EXPECT_EQ(single->step(), grouped->step());
  // Only the order of float sums differs (rows summed per rank before the exchange).
  const std::vector<Example> queries = stream.Batch(32);
  auto qa = single->QueryEmbeddings(queries);
  auto qb = grouped->QueryEmbeddings(queries);
  ASSERT_TRUE(qa.ok() && qb.ok());
  EXPECT_TRUE(torch::allclose(*qa, *qb, 1e-4, 1e-5));
  auto ia = single->CatalogueEmbeddings();
  auto ib = grouped->CatalogueEmbeddings();
  ASSERT_TRUE(ia.ok() && ib.ok());
  EXPECT_EQ(ia->ids, ib->ids);
  EXPECT_TRUE(torch::allclose(ia->vectors, ib->vectors, 1e-4, 1e-5));
}

TEST(TwoTowerGroupTest, RanksKeepTheReplicatedStateBitIdenticalAndShardsMergeForServing) {
  constexpr int kWorld = 2;
  PlantedStream stream(300, 150, 4, 0.8, 11);
  std::vector<std::vector<Example>> batches;
  for (int step = 0; step < 30; ++step) batches.push_back(stream.Batch(48));
  // A step where rank 1 has nothing (an idle partition) and one where nobody has anything.
  batches.push_back(ShareOf(stream.Batch(48), 0, kWorld));
  batches.push_back({});

  std::vector<std::unique_ptr<TwoTowerModel>> ranks;
  for (int r = 0; r < kWorld; ++r) ranks.push_back(NewModel(r, kWorld));
  SharedBoard board(kWorld);
  std::vector<int64_t> trained(kWorld, 0);
  std::vector<std::thread> threads;
  for (int r = 0; r < kWorld; ++r) {
    threads.emplace_back([&, r] {
      ThreadExchange exchange(board, r, kWorld);
      for (const std::vector<Example>& batch : batches) {
        auto stats = ranks[r]->TrainInGroup(ShareOf(batch, r, kWorld), exchange);
        ASSERT_TRUE(stats.ok()) << stats.status().ToString();
        trained[r] += stats->examples;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(trained[0] + trained[1], 30 * 48 + static_cast<int64_t>(batches[30].size()));
  // The step where nobody had an example did not count.
  EXPECT_EQ(ranks[0]->step(), 31);
  EXPECT_EQ(ranks[1]->step(), 31);

  towerstream::testing::ScopedTempDir dir;
  std::vector<std::filesystem::path> saved;
  for (int r = 0; r < kWorld; ++r) {
    saved.push_back(dir.path() / ("rank" + std::to_string(r)));
    std::filesystem::create_directories(saved.back());
    auto files = ranks[r]->Save(saved.back());
    ASSERT_TRUE(files.ok()) << files.status().ToString();
  }
  for (const char* replicated :
       {"towers.pt", "optimizer.bin", "article_table.bin", "query_fields.bin", "item_fields.bin",
        "frequency_estimator.bin", "catalogue.bin", "model_state.bin", "item_embeddings.bin"}) {
    // Compared as a whole: a byte dump of a table would drown the report.
    EXPECT_TRUE(Bytes(saved[0] / replicated) == Bytes(saved[1] / replicated))
        << replicated << " differs between the ranks";
  }
  const std::string shard0 = TwoTowerModel::CustomerTableFile(0, kWorld);
  const std::string shard1 = TwoTowerModel::CustomerTableFile(1, kWorld);
  ASSERT_TRUE(std::filesystem::exists(saved[0] / shard0));
  ASSERT_TRUE(std::filesystem::exists(saved[1] / shard1));
  EXPECT_FALSE(std::filesystem::exists(saved[0] / "customer_table.bin"));

  // The group's snapshot as a single model sees: rank 0's files with rank 1's shard beside.
  std::filesystem::copy_file(saved[1] / shard1, saved[0] / shard1);
  auto merged = NewModel(0, 1);
  ASSERT_TRUE(merged->Load(saved[0]).ok());
  EXPECT_EQ(merged->stats().customers.rows_in_use,
            ranks[0]->stats().customers.rows_in_use + ranks[1]->stats().customers.rows_in_use);
  for (int r = 0; r < kWorld; ++r) {
    const std::vector<Example> queries = ShareOf(stream.Batch(64), r, kWorld);
    auto expected = ranks[r]->QueryEmbeddings(queries);
    auto got = merged->QueryEmbeddings(queries);
    ASSERT_TRUE(expected.ok() && got.ok());
    EXPECT_TRUE(torch::equal(*expected, *got)) << "rank " << r << "'s customers";
  }

  // A rank resumes its own shard; a group of another size is refused by name.
  auto resumed = NewModel(1, kWorld);
  ASSERT_TRUE(resumed->Load(saved[0]).ok());
  auto other_size = NewModel(0, 3);
  const Status refused = other_size->Load(saved[0]);
  EXPECT_EQ(refused.code(), StatusCode::kFailedPrecondition) << refused.ToString();
  EXPECT_NE(refused.message().find("customer_table.rank-0-of-3.bin"), std::string::npos)
      << refused.ToString();
}

TEST(TwoTowerGroupTest, MergeRefusesShardsOfDifferentGroups) {
  auto a = NewModel(0, 2);
  auto b = NewModel(1, 2);
  PlantedStream stream(50, 40, 2, 0.8, 3);
  ASSERT_TRUE(a->Train(stream.Batch(32)).ok());  // trained alone: its cold rows moved
  towerstream::testing::ScopedTempDir dir;
  ASSERT_TRUE(a->SaveCustomerShard(dir.path()).ok());
  ASSERT_TRUE(b->SaveCustomerShard(dir.path()).ok());
  std::vector<std::unique_ptr<EmbeddingTable>> shards;
  std::vector<const EmbeddingTable*> views;
  for (int r = 0; r < 2; ++r) {
    EmbeddingTableOptions options;
    options.dim = 16;
    options.cold_rows = 64;
    auto table = EmbeddingTable::Create(options);
    ASSERT_TRUE(table.ok());
    std::ifstream in(dir.path() / TwoTowerModel::CustomerTableFile(r, 2), std::ios::binary);
    ASSERT_TRUE((*table)->Load(in).ok());
    views.push_back(table->get());
    shards.push_back(std::move(*table));
  }
  auto merged = EmbeddingTable::Merge(views);
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(merged.status().message().find("cold rows differ"), std::string::npos)
      << merged.status().ToString();
}

}  // namespace
}  // namespace towerstream::model
