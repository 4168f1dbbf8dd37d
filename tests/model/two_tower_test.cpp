// Two towers and in-batch softmax: shapes, unit norms, accidental hits, logQ, learning.
#include "common/model/two_tower.h"

#include <gtest/gtest.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace towerstream::model {
namespace {

TwoTowerOptions SmallOptions() {
  TwoTowerOptions o;
  o.dim = 8;
  o.hidden = {16};
  o.field_dim = 4;
  o.postal_code_buckets = 32;
  o.product_code_buckets = 32;
  o.item_code_buckets = 32;
  o.temperature = 0.1;
  return o;
}

// A batch of `b` examples with `recent` purchase slots: zero id embeddings, ages 18 + 7 i (every
// third missing), codes from `query_code` / `item_code` in every column, item ids 100 + i.
Batch MakeBatch(const TwoTowerOptions& o, int64_t b, int64_t recent,
                const torch::Tensor& query_code, const torch::Tensor& item_code) {
  Batch batch;
  const torch::Tensor rows = torch::arange(b, torch::kFloat);
  batch.query.customer_embedding = torch::zeros({b, o.dim});
  batch.query.age = 18 + 7 * rows;
  batch.query.age_missing = (torch::arange(b) % 3 == 2).to(torch::kFloat);
  batch.query.month = 1 + rows.remainder(12);
  batch.query.codes = query_code.unsqueeze(1).expand({b, kQueryCodeCount}).contiguous();
  batch.query.recent_embeddings = torch::zeros({b, recent, o.dim});
  batch.query.recent_mask = torch::zeros({b, recent});
  batch.item.article_embedding = torch::zeros({b, o.dim});
  batch.item.codes = item_code.unsqueeze(1).expand({b, kItemCodeCount}).contiguous();
  batch.item_ids = 100 + torch::arange(b);
  return batch;
}

TEST(TwoTowerOptionsTest, ValidateRejectsEachBadField) {
  struct Case {
    std::string name;
    void (*mutate)(TwoTowerOptions&);
  };
  const std::vector<Case> cases = {
      {"dim 0", [](TwoTowerOptions& o) { o.dim = 0; }},
      {"field_dim 0", [](TwoTowerOptions& o) { o.field_dim = 0; }},
      {"hidden width 0",
       [](TwoTowerOptions& o) {
         o.hidden = {8, 0};
       }},
      {"temperature 0", [](TwoTowerOptions& o) { o.temperature = 0; }},
      {"temperature nan", [](TwoTowerOptions& o) { o.temperature = std::nan(""); }},
      {"postal buckets 0", [](TwoTowerOptions& o) { o.postal_code_buckets = 0; }},
      {"product buckets 0", [](TwoTowerOptions& o) { o.product_code_buckets = 0; }},
      {"item buckets 0", [](TwoTowerOptions& o) { o.item_code_buckets = 0; }},
      {"category buckets 0", [](TwoTowerOptions& o) { o.category_buckets = 0; }},
  };
  EXPECT_TRUE(TwoTowerOptions{}.Validate().ok());
  for (const Case& c : cases) {
    TwoTowerOptions o;
    c.mutate(o);
    EXPECT_FALSE(o.Validate().ok()) << c.name;
  }
}

TEST(TwoTowerTest, OutputsHaveBatchByDimShapeAndUnitNorm) {
  const TwoTowerOptions o = SmallOptions();
  QueryTower query_tower(o);
  ItemTower item_tower(o);
  Batch batch = MakeBatch(o, 6, 3, torch::arange(6) * 1000003, torch::arange(6) * 7919);
  batch.query.recent_embeddings = torch::randn({6, 3, o.dim});
  // Rows with no, some and all recent purchases present.
  batch.query.recent_mask = torch::tensor({1.f, 1.f, 0.f, 0.f, 0.f, 0.f, 1.f, 1.f, 1.f, 1.f, 0.f,
                                           0.f, 0.f, 1.f, 0.f, 1.f, 1.f, 1.f})
                                .view({6, 3});
  const torch::Tensor q = query_tower.forward(batch.query);
  const torch::Tensor i = item_tower.forward(batch.item);
  EXPECT_EQ(q.sizes(), (std::vector<int64_t>{6, o.dim}));
  EXPECT_EQ(i.sizes(), (std::vector<int64_t>{6, o.dim}));
  EXPECT_TRUE(torch::allclose(q.norm(2, 1), torch::ones({6}), 1e-5, 1e-5)) << q.norm(2, 1);
  EXPECT_TRUE(torch::allclose(i.norm(2, 1), torch::ones({6}), 1e-5, 1e-5)) << i.norm(2, 1);
}

TEST(TwoTowerTest, GradientsReachGatheredRowsButNotMaskedRecentSlots) {
  const TwoTowerOptions o = SmallOptions();
  QueryTower query_tower(o);
  ItemTower item_tower(o);
  Batch batch = MakeBatch(o, 4, 2, torch::arange(4), torch::arange(4));
  batch.query.customer_embedding = torch::randn({4, o.dim}).requires_grad_();
  batch.query.recent_embeddings = torch::randn({4, 2, o.dim}).requires_grad_();
  batch.query.recent_mask = torch::tensor({1.f, 0.f, 1.f, 1.f, 0.f, 0.f, 0.f, 1.f}).view({4, 2});
  batch.item.article_embedding = torch::randn({4, o.dim}).requires_grad_();
  InBatchSoftmaxLoss(query_tower.forward(batch.query), item_tower.forward(batch.item),
                     batch.item_ids, torch::zeros({4}), o.temperature)
      .backward();
  const torch::Tensor recent_grad_norm = batch.query.recent_embeddings.grad().norm(2, 2);
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_GT(batch.query.customer_embedding.grad()[r].norm().item<float>(), 0) << r;
    EXPECT_GT(batch.item.article_embedding.grad()[r].norm().item<float>(), 0) << r;
    for (int64_t l = 0; l < 2; ++l) {
      EXPECT_EQ(recent_grad_norm[r][l].item<float>() > 0,
                batch.query.recent_mask[r][l].item<float>() > 0)
          << r << "," << l;
    }
  }
}

TEST(TwoTowerTest, SameSeedGivesSameParameters) {
  QueryTower a(SmallOptions()), b(SmallOptions());
  const auto pa = a.parameters(), pb = b.parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (size_t k = 0; k < pa.size(); ++k) EXPECT_TRUE(torch::equal(pa[k], pb[k])) << k;
}

TEST(InBatchSoftmaxLossTest, AccidentalHitsAreMaskedAsComputedByHand) {
  torch::manual_seed(3);
  const torch::Tensor q = torch::randn({4, 5}, torch::kDouble);
  const torch::Tensor it = torch::randn({4, 5}, torch::kDouble);
  const torch::Tensor ids = torch::tensor({7, 9, 7, 7}, torch::kLong);
  const torch::Tensor log_q = torch::tensor({-1.0, -2.0, -0.5, -3.0}, torch::kDouble);
  const double temperature = 0.5;

  double expected = 0;
  for (int64_t r = 0; r < 4; ++r) {
    double denominator = 0, own = 0;
    for (int64_t c = 0; c < 4; ++c) {
      const double logit = q[r].dot(it[c]).item<double>() / temperature - log_q[c].item<double>();
      if (c == r) own = logit;
      if (c == r || ids[c].item<int64_t>() != ids[r].item<int64_t>()) {
        denominator += std::exp(logit);
      }
    }
    expected += -(own - std::log(denominator)) / 4;
  }
  const double loss = InBatchSoftmaxLoss(q, it, ids, log_q, temperature).item<double>();
  EXPECT_NEAR(loss, expected, 1e-9);
}

TEST(InBatchSoftmaxLossTest, AccidentalHitsAreMinusInfinityOffTheDiagonalOnly) {
  const torch::Tensor q = torch::eye(3, torch::kDouble);
  const torch::Tensor ids = torch::tensor({5, 5, 6}, torch::kLong);
  const torch::Tensor logits = InBatchLogits(q, q, ids, torch::zeros({3}, torch::kDouble), 1.0);
  const double inf = std::numeric_limits<double>::infinity();
  const torch::Tensor expected =
      torch::tensor({{1.0, -inf, 0.0}, {-inf, 1.0, 0.0}, {0.0, 0.0, 1.0}}, torch::kDouble);
  EXPECT_TRUE(torch::equal(logits, expected)) << logits;
}

TEST(InBatchSoftmaxLossTest, LogQCorrectionShiftsEachColumnByMinusLogQ) {
  torch::manual_seed(4);
  const torch::Tensor q = torch::randn({5, 3});
  const torch::Tensor it = torch::randn({5, 3});
  const torch::Tensor ids = torch::arange(5);
  const torch::Tensor log_q = torch::tensor({-0.1f, -1.f, -2.5f, -7.f, -0.f});
  const torch::Tensor plain = InBatchLogits(q, it, ids, torch::zeros({5}), 0.2);
  const torch::Tensor corrected = InBatchLogits(q, it, ids, log_q, 0.2);
  EXPECT_TRUE(torch::allclose(corrected - plain, (-log_q).unsqueeze(0).expand({5, 5}), 0, 1e-6))
      << corrected - plain;
}

TEST(InBatchSoftmaxLossTest, ExtraNegativesAddCorrectedColumnsWithOwnItemMasked) {
  torch::manual_seed(6);
  const torch::Tensor q = torch::randn({3, 4}, torch::kDouble);
  const torch::Tensor it = torch::randn({3, 4}, torch::kDouble);
  const torch::Tensor ids = torch::tensor({1, 2, 3}, torch::kLong);
  const torch::Tensor log_q = torch::tensor({-1.0, -2.0, -3.0}, torch::kDouble);
  ExtraNegatives extra{torch::randn({2, 4}, torch::kDouble), torch::tensor({2, 8}, torch::kLong),
                       torch::tensor({-4.0, -5.0}, torch::kDouble)};
  const torch::Tensor logits = InBatchLogits(q, it, ids, log_q, 0.5, &extra);
  ASSERT_EQ(logits.sizes(), (std::vector<int64_t>{3, 5}));
  const torch::Tensor in_batch = InBatchLogits(q, it, ids, log_q, 0.5);
  EXPECT_TRUE(torch::equal(logits.narrow(1, 0, 3), in_batch)) << logits;
  const torch::Tensor expected_extra = q.matmul(extra.item.t()) / 0.5 - extra.log_q.unsqueeze(0);
  for (int64_t r = 0; r < 3; ++r) {
    for (int64_t c = 0; c < 2; ++c) {
      const double got = logits[r][3 + c].item<double>();
      if (r == 1 && c == 0) {  // extra item 2 is row 1's own item
        EXPECT_EQ(got, -std::numeric_limits<double>::infinity());
      } else {
        EXPECT_NEAR(got, expected_extra[r][c].item<double>(), 1e-12) << r << "," << c;
      }
    }
  }
}

// Eight customer segments (postal code bucket s) each buy items of product type s: the towers
// must learn to put segment s's queries next to type s's items.
TEST(TwoTowerTest, AdamLearnsPlantedSegmentToCategoryStructure) {
  torch::manual_seed(5);
  const TwoTowerOptions o = SmallOptions();
  QueryTower query_tower(o);
  ItemTower item_tower(o);
  std::vector<torch::Tensor> params = query_tower.parameters();
  for (const torch::Tensor& p : item_tower.parameters()) params.push_back(p);
  torch::optim::Adam adam(params, torch::optim::AdamOptions(1e-2));
  constexpr int64_t kSegments = 8;

  const auto recall_at_1 = [&] {
    torch::NoGradGuard no_grad;
    const torch::Tensor s = torch::arange(kSegments);
    const Batch batch = MakeBatch(o, kSegments, 1, s, s);
    const torch::Tensor scores =
        query_tower.forward(batch.query).matmul(item_tower.forward(batch.item).t());
    return (scores.argmax(1) == s).to(torch::kFloat).mean().item<float>();
  };
  const auto step = [&] {
    const torch::Tensor s = torch::randint(kSegments, {16}, torch::kLong);
    Batch batch = MakeBatch(o, 16, 1, s, s);
    batch.item_ids = s;  // a segment's item bought twice in a batch is an accidental hit
    const torch::Tensor loss =
        InBatchSoftmaxLoss(query_tower.forward(batch.query), item_tower.forward(batch.item),
                           batch.item_ids, torch::zeros({16}), o.temperature);
    adam.zero_grad();
    loss.backward();
    adam.step();
    return loss.item<float>();
  };

  const float recall_before = recall_at_1();
  float first_loss = 0, last_loss = 0;
  for (int i = 0; i < 300; ++i) {
    const float loss = step();
    if (i < 10) first_loss += loss / 10;
    if (i >= 290) last_loss += loss / 10;
  }
  EXPECT_LT(last_loss, 0.25f * first_loss) << "first " << first_loss << " last " << last_loss;
  EXPECT_LT(recall_before, 0.5f);
  EXPECT_EQ(recall_at_1(), 1.0f) << "before training " << recall_before;
}

}  // namespace
}  // namespace towerstream::model
