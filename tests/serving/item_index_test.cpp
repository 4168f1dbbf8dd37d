// ItemIndex: exact search against a brute force, the HNSW graph's recall against the exact
// search, exclusions, and bad input.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <set>

#include <torch/torch.h>

#include "common/serving/item_index.h"

namespace towerstream::serving {
namespace {

model::ItemEmbeddings RandomItems(int64_t n, int64_t dim, uint64_t seed) {
  torch::manual_seed(seed);
  model::ItemEmbeddings items;
  items.vectors = torch::nn::functional::normalize(
      torch::randn({n, dim}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  for (int64_t i = 0; i < n; ++i) items.ids.push_back(100'000'000 + i * 7);
  return items;
}

std::vector<hm::ArticleId> Ids(const std::vector<ScoredArticle>& hits) {
  std::vector<hm::ArticleId> ids;
  for (const auto& h : hits) ids.push_back(h.article_id);
  return ids;
}

TEST(ItemIndexTest, ExactSearchRanksByInnerProductLikeABruteForce) {
  const model::ItemEmbeddings items = RandomItems(500, 16, 1);
  const torch::Tensor queries = items.vectors.narrow(0, 0, 20).clone();
  auto index = ItemIndex::Build(items, {});
  ASSERT_TRUE(index.ok()) << index.status().ToString();
  EXPECT_FALSE((*index)->approximate());
  const auto found = (*index)->Search(queries, 10);
  ASSERT_TRUE(found.ok()) << found.status().ToString();
  const torch::Tensor scores = queries.matmul(items.vectors.t());
  for (int64_t q = 0; q < 20; ++q) {
    const auto& hits = (*found)[static_cast<size_t>(q)];
    ASSERT_EQ(hits.size(), 10u);
    // A catalogue vector used as the query finds itself first, at cosine 1.
    EXPECT_EQ(hits[0].article_id, items.ids[static_cast<size_t>(q)]);
    EXPECT_NEAR(hits[0].score, 1.0, 1e-5);
    const torch::Tensor order = std::get<1>(scores[q].topk(10));
    for (int64_t r = 0; r < 10; ++r) {
      EXPECT_EQ(hits[static_cast<size_t>(r)].article_id,
                items.ids[static_cast<size_t>(order[r].item<int64_t>())]);
      if (r > 0) {
        EXPECT_LE(hits[static_cast<size_t>(r)].score, hits[static_cast<size_t>(r - 1)].score);
      }
    }
  }
}

TEST(ItemIndexTest, HnswGraphFindsAtLeast95PercentOfTheExactTop10) {
  const model::ItemEmbeddings items = RandomItems(10'000, 32, 2);
  ItemIndexOptions approximate;
  approximate.exact_below = 1000;
  approximate.hnsw_ef_construction = 100;
  auto graph = ItemIndex::Build(items, approximate);
  ASSERT_TRUE(graph.ok()) << graph.status().ToString();
  EXPECT_TRUE((*graph)->approximate());
  auto exact = ItemIndex::Build(items, {});
  ASSERT_TRUE(exact.ok());
  torch::manual_seed(3);
  const torch::Tensor queries = torch::nn::functional::normalize(
      torch::randn({300, 32}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const auto a = (*graph)->Search(queries, 10);
  const auto e = (*exact)->Search(queries, 10);
  ASSERT_TRUE(a.ok() && e.ok());
  int64_t found = 0, wanted = 0;
  for (size_t q = 0; q < a->size(); ++q) {
    const std::vector<hm::ArticleId> truth = Ids((*e)[q]);
    const std::set<hm::ArticleId> truth_set(truth.begin(), truth.end());
    for (const auto& hit : (*a)[q]) found += truth_set.count(hit.article_id);
    wanted += static_cast<int64_t>(truth.size());
    ASSERT_EQ((*a)[q].size(), 10u);
  }
  const double recall = static_cast<double>(found) / static_cast<double>(wanted);
  EXPECT_GE(recall, 0.95);
  std::printf("HNSW recall@10 against the exact search: %.4f\n", recall);
}

TEST(ItemIndexTest, ExcludedArticlesAreSkippedAndKIsStillFilled) {
  const model::ItemEmbeddings items = RandomItems(200, 8, 4);
  for (const int64_t exact_below : {int64_t{1'000}, int64_t{10}}) {
    ItemIndexOptions options;
    options.exact_below = exact_below;
    auto index = ItemIndex::Build(items, options);
    ASSERT_TRUE(index.ok());
    const torch::Tensor query = items.vectors.narrow(0, 5, 1).clone();
    const auto all = (*index)->Search(query, 12);
    ASSERT_TRUE(all.ok());
    std::vector<hm::ArticleId> exclude = {all->front()[0].article_id, all->front()[3].article_id};
    std::sort(exclude.begin(), exclude.end());
    const auto rest = (*index)->Search(query, 12, &exclude);
    ASSERT_TRUE(rest.ok());
    const std::vector<hm::ArticleId> ids = Ids(rest->front());
    ASSERT_EQ(ids.size(), 12u) << "exact_below " << exact_below;
    for (const hm::ArticleId x : exclude) {
      EXPECT_EQ(std::count(ids.begin(), ids.end(), x), 0) << "exact_below " << exact_below;
    }
  }
}

TEST(ItemIndexTest, AskingForMoreThanTheCatalogueGivesTheWholeCatalogue) {
  auto index = ItemIndex::Build(RandomItems(7, 4, 5), {});
  ASSERT_TRUE(index.ok());
  const auto found = (*index)->Search(torch::ones({1, 4}) / 2, 100);
  ASSERT_TRUE(found.ok());
  EXPECT_EQ(found->front().size(), 7u);
}

TEST(ItemIndexTest, BadInputIsAnErrorNotACrash) {
  model::ItemEmbeddings empty;
  empty.vectors = torch::zeros({0, 4});
  EXPECT_FALSE(ItemIndex::Build(empty, {}).ok());
  model::ItemEmbeddings mismatched = RandomItems(5, 4, 6);
  mismatched.ids.pop_back();
  EXPECT_FALSE(ItemIndex::Build(mismatched, {}).ok());
  ItemIndexOptions bad;
  bad.hnsw_links = 1;
  EXPECT_FALSE(ItemIndex::Build(RandomItems(5, 4, 6), bad).ok());

  auto index = ItemIndex::Build(RandomItems(5, 4, 6), {});
  ASSERT_TRUE(index.ok());
  EXPECT_FALSE((*index)->Search(torch::ones({1, 3}), 2).ok());  // wrong width
  EXPECT_FALSE((*index)->Search(torch::ones({1, 4}), 0).ok());  // k < 1
  EXPECT_FALSE((*index)->Search(torch::ones({1, 4}, torch::kDouble), 2).ok());
}

}  // namespace
}  // namespace towerstream::serving
