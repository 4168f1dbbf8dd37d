// Two towers and in-batch softmax: shapes, unit norms, accidental hits, logQ, learning.
#include "common/model/two_tower.h"

#include <gtest/gtest.h>
#include <torch/nn/functional.h>
#include <torch/optim/adam.h>
#include <torch/types.h>

#include <cctype>
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

// Tower inputs for `b` examples: zero id embeddings and pooled history, dense features of
// ages 18 + 7 i (every third missing), and code inputs one-hot in column `query_code` /
// `item_code` of each row (modulo the input width).
struct Inputs {
  QueryInputs query;
  ItemInputs item;
};
Inputs MakeInputs(const TwoTowerOptions& o, int64_t b, const torch::Tensor& query_code,
                  const torch::Tensor& item_code) {
  Inputs in;
  in.query.customer_embedding = torch::zeros({b, o.dim});
  in.query.recent_pooled = torch::zeros({b, o.dim});
  in.query.dense = torch::empty({b, kQueryDenseFeatures});
  for (int64_t i = 0; i < b; ++i) {
    FillQueryDense(i % 3 != 2, 18.0f + 7.0f * static_cast<float>(i), 1 + static_cast<int>(i % 12),
                   i % 4, 3, in.query.dense[i].data_ptr<float>());
  }
  const int64_t query_width = kQueryCodeCount * o.field_dim;
  const int64_t item_width = kItemCodeCount * o.field_dim;
  in.query.codes = torch::one_hot(query_code.remainder(query_width), query_width).to(torch::kFloat);
  in.item.article_embedding = torch::zeros({b, o.dim});
  in.item.codes = torch::one_hot(item_code.remainder(item_width), item_width).to(torch::kFloat);
  return in;
}

TEST(FillQueryDenseTest, AgeBandsMonthAndHistory) {
  float out[kQueryDenseFeatures];
  FillQueryDense(true, 36.0f, 1, 0, 20, out);
  EXPECT_FLOAT_EQ(out[0], 0.0f);  // the mean age
  EXPECT_FLOAT_EQ(out[1], 0.0f);
  EXPECT_FLOAT_EQ(out[2], 0.0f);  // January: angle 0
  EXPECT_FLOAT_EQ(out[3], 1.0f);
  EXPECT_FLOAT_EQ(out[4], 0.0f);  // no history
  EXPECT_FLOAT_EQ(out[5 + 3], 1.0f) << "36 is in [30, 40)";
  FillQueryDense(true, 19.0f, 7, 20, 20, out);
  EXPECT_FLOAT_EQ(out[5 + 0], 1.0f) << "19 is under 20";
  EXPECT_NEAR(out[3], -1.0f, 1e-6) << "July is opposite January";
  EXPECT_FLOAT_EQ(out[4], 1.0f) << "a full history";
  FillQueryDense(true, 75.0f, 1, 0, 20, out);
  EXPECT_FLOAT_EQ(out[5 + 6], 1.0f) << "60 and over";
  FillQueryDense(false, 0.0f, 1, 0, 20, out);
  EXPECT_FLOAT_EQ(out[1], 1.0f);
  EXPECT_FLOAT_EQ(out[0], 0.0f);
  EXPECT_FLOAT_EQ(out[5 + kAgeBands - 1], 1.0f) << "the missing band";
  float ones = 0;
  for (int64_t b = 0; b < kAgeBands; ++b) ones += out[5 + b];
  EXPECT_FLOAT_EQ(ones, 1.0f);
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
  Inputs in = MakeInputs(o, 6, torch::arange(6) * 5, torch::arange(6) * 7);
  in.query.recent_pooled = torch::randn({6, o.dim});
  const torch::Tensor q = query_tower.forward(in.query);
  const torch::Tensor i = item_tower.forward(in.item);
  EXPECT_EQ(q.sizes(), (std::vector<int64_t>{6, o.dim}));
  EXPECT_EQ(i.sizes(), (std::vector<int64_t>{6, o.dim}));
  EXPECT_TRUE(torch::allclose(q.norm(2, 1), torch::ones({6}), 1e-5, 1e-5)) << q.norm(2, 1);
  EXPECT_TRUE(torch::allclose(i.norm(2, 1), torch::ones({6}), 1e-5, 1e-5)) << i.norm(2, 1);
}

TEST(TwoTowerTest, GradientsReachEveryEmbeddedInput) {
  const TwoTowerOptions o = SmallOptions();
  QueryTower query_tower(o);
  ItemTower item_tower(o);
  Inputs in = MakeInputs(o, 4, torch::arange(4), torch::arange(4));
  for (torch::Tensor* t : {&in.query.customer_embedding, &in.query.recent_pooled, &in.query.codes,
                           &in.item.article_embedding, &in.item.codes}) {
    *t = torch::randn(t->sizes()).requires_grad_();
  }
  InBatchSoftmaxLoss(query_tower.forward(in.query), item_tower.forward(in.item),
                     100 + torch::arange(4), torch::zeros({4}), o.temperature)
      .backward();
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_GT(in.query.customer_embedding.grad()[r].norm().item<float>(), 0) << r;
    EXPECT_GT(in.query.recent_pooled.grad()[r].norm().item<float>(), 0) << r;
    EXPECT_GT(in.query.codes.grad()[r].norm().item<float>(), 0) << r;
    EXPECT_GT(in.item.article_embedding.grad()[r].norm().item<float>(), 0) << r;
    EXPECT_GT(in.item.codes.grad()[r].norm().item<float>(), 0) << r;
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
  // Equal up to rounding: a BLAS may order a product's sums differently for another shape.
  EXPECT_TRUE(torch::allclose(logits.narrow(1, 0, 3), in_batch, 1e-12, 1e-12)) << logits;
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

// Eight customer segments (code s) each buy items of category s: the towers must learn to
// put segment s's queries next to category s's items.
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
    const Inputs in = MakeInputs(o, kSegments, s, s);
    const torch::Tensor scores =
        query_tower.forward(in.query).matmul(item_tower.forward(in.item).t());
    return (scores.argmax(1) == s).to(torch::kFloat).mean().item<float>();
  };
  const auto step = [&] {
    const torch::Tensor s = torch::randint(kSegments, {16}, torch::kLong);
    const Inputs in = MakeInputs(o, 16, s, s);
    // A segment's item bought twice in a batch is an accidental hit.
    const torch::Tensor loss =
        InBatchSoftmaxLoss(query_tower.forward(in.query), item_tower.forward(in.item), s,
                           torch::zeros({16}), o.temperature);
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

// FusedInBatchSoftmaxLoss and TensorOpsInBatchSoftmaxLoss against the reference ops: same loss
// and same gradients, with accidental hits, logQ and extra negatives.
struct FusedCase {
  std::string name;
  int64_t batch;
  int64_t extra;
  int64_t distinct_ids;  // fewer than batch: repeated items (accidental hits)
};

void PrintTo(const FusedCase& c, std::ostream* out) { *out << c.name; }

class FusedLossTest : public ::testing::TestWithParam<FusedCase> {};

TEST_P(FusedLossTest, MatchesReferenceLossAndGradients) {
  const FusedCase& c = GetParam();
  torch::manual_seed(11);
  const int64_t dim = 8;
  const torch::Tensor q0 = torch::nn::functional::normalize(
      torch::randn({c.batch, dim}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const torch::Tensor i0 = torch::nn::functional::normalize(
      torch::randn({c.batch, dim}), torch::nn::functional::NormalizeFuncOptions().dim(1));
  const torch::Tensor ids = torch::randint(c.distinct_ids, {c.batch}, torch::kLong);
  const torch::Tensor log_q = -torch::rand({c.batch}) * 5;
  const torch::Tensor e0 = torch::randn({std::max<int64_t>(c.extra, 1), dim});
  const torch::Tensor extra_ids = torch::randint(c.distinct_ids, {c.extra}, torch::kLong);
  // kind 0: the reference ops; 1: FusedInBatchSoftmaxLoss (host loops on a CPU); 2: the
  // tensor ops a GPU runs (TensorOpsInBatchSoftmaxLoss).
  const auto run = [&](int kind, torch::Tensor* dq, torch::Tensor* di, torch::Tensor* de) {
    torch::Tensor q = q0.clone().requires_grad_(), i = i0.clone().requires_grad_();
    torch::Tensor e = e0.clone().requires_grad_();
    const ExtraNegatives extra{e.narrow(0, 0, c.extra), extra_ids, torch::full({c.extra}, -2.0f)};
    const ExtraNegatives* with = c.extra > 0 ? &extra : nullptr;
    const torch::Tensor loss = kind == 1 ? FusedInBatchSoftmaxLoss(q, i, ids, log_q, 0.05, with)
                               : kind == 2
                                   ? TensorOpsInBatchSoftmaxLoss(q, i, ids, log_q, 0.05, with)
                                   : InBatchSoftmaxLoss(q, i, ids, log_q, 0.05, with);
    loss.backward();
    *dq = q.grad();
    *di = i.grad();
    *de = c.extra > 0 ? e.grad() : torch::zeros({1});
    return loss.item<double>();
  };
  torch::Tensor rq, ri, re;
  const double reference = run(0, &rq, &ri, &re);
  for (int kind : {1, 2}) {
    torch::Tensor fq, fi, fe;
    const double fused = run(kind, &fq, &fi, &fe);
    const std::string what = c.name + (kind == 1 ? " (host loops)" : " (tensor ops)");
    EXPECT_NEAR(fused, reference, 1e-4 * std::max(1.0, std::abs(reference))) << what;
    EXPECT_TRUE(torch::allclose(fq, rq, 1e-4, 1e-5)) << what << "\n" << (fq - rq).abs().max();
    EXPECT_TRUE(torch::allclose(fi, ri, 1e-4, 1e-5)) << what << "\n" << (fi - ri).abs().max();
    EXPECT_TRUE(torch::allclose(fe, re, 1e-4, 1e-5)) << what << "\n" << (fe - re).abs().max();
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, FusedLossTest,
                         ::testing::Values(FusedCase{"distinct items", 16, 0, 1'000'000},
                                           FusedCase{"many accidental hits", 64, 0, 5},
                                           FusedCase{"with extra negatives", 32, 7, 20},
                                           FusedCase{"one example", 1, 0, 10},
                                           FusedCase{"large batch", 512, 16, 300}),
                         [](const ::testing::TestParamInfo<FusedCase>& info) {
                           std::string name;
                           for (char ch : info.param.name)
                             name += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
                           return name;
                         });

}  // namespace
}  // namespace towerstream::model
