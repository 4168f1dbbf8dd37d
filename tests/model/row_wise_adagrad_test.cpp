// Row-wise Adagrad over several gradient sources, mean pooling of rows, and field embeddings.
#include "common/model/row_wise_adagrad.h"

#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>
#include <sstream>
#include <vector>

#include "common/model/field_embeddings.h"

namespace towerstream::model {
namespace {

torch::Tensor Ids(std::vector<int64_t> ids) {
  return torch::tensor(ids, torch::TensorOptions().dtype(torch::kLong));
}

// Both implementations: fused host loops and tensor ops.
class MultiPartAdagradTest : public ::testing::TestWithParam<bool> {};

TEST_P(MultiPartAdagradTest, SumsEverySourceOfARowBeforeOneStep) {
  torch::Tensor weight = torch::zeros({4, 2});
  torch::Tensor acc = torch::zeros({4});
  RowWiseAdagradScratch scratch;
  // Row 1 gets (1, 0) from the first part and 0.5 * (2, 2) + 0.5 * (0, 2) from the second
  // (pooled over two sources): (2, 2) in all. Row 3 gets 0.5 * (2, 2) = (1, 1).
  const RowGradients own{Ids({1}), torch::tensor({1.0f, 0.0f}).view({1, 2}), {}, {}};
  const RowGradients pooled{Ids({1, 1, 3}), torch::tensor({2.0f, 2.0f, 0.0f, 2.0f}).view({2, 2}),
                            Ids({0, 1, 0}), torch::tensor({0.5f, 0.5f, 0.5f})};
  const std::vector<RowGradients> parts = {own, pooled};
  ApplyRowWiseAdagrad(weight, acc, parts, /*lr=*/1.0f, /*eps=*/0.0f, GetParam(), &scratch);
  // acc1 = mean(4, 4) = 4: w1 = -(2, 2) / 2; acc3 = 1: w3 = -(1, 1).
  EXPECT_FLOAT_EQ(acc[1].item<float>(), 4.0f);
  EXPECT_FLOAT_EQ(acc[3].item<float>(), 1.0f);
  EXPECT_TRUE(torch::allclose(weight[1], torch::tensor({-1.0f, -1.0f}))) << weight;
  EXPECT_TRUE(torch::allclose(weight[3], torch::tensor({-1.0f, -1.0f}))) << weight;
  EXPECT_EQ(weight[0].abs().sum().item<float>(), 0.0f);
  EXPECT_EQ(acc[2].item<float>(), 0.0f);
}

INSTANTIATE_TEST_SUITE_P(BothPaths, MultiPartAdagradTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Fused" : "TensorOps"; });

// The all-slots form (what a GPU uses) updates a table exactly as the valid slots alone do,
// on both paths, including row 0 when a real slot uses it and when none does.
TEST_P(MultiPartAdagradTest, AllSlotsMeanGradientsUpdateAsTheValidSlotsDo) {
  for (const bool row_zero_used : {false, true}) {
    const torch::Tensor rows =
        Ids({4, -1, 7, -1, -1, -1, 2, row_zero_used ? 0 : 2, 2, 1, 3, -1}).view({4, 3});
    torch::manual_seed(3);
    const torch::Tensor grad = torch::randn({4, 5});
    const torch::Tensor start = torch::randn({8, 5});
    const torch::Tensor start_acc = torch::rand({8});
    torch::Tensor w1 = start.clone(), a1 = start_acc.clone();
    torch::Tensor w2 = start.clone(), a2 = start_acc.clone();
    RowWiseAdagradScratch scratch;
    const std::vector<RowGradients> valid = {MeanGradients(rows, grad)};
    const std::vector<RowGradients> all = {MeanGradientsAllSlots(rows, grad)};
    EXPECT_EQ(all[0].rows.numel(), 12);
    ApplyRowWiseAdagrad(w1, a1, valid, 0.1f, 1e-8f, GetParam(), &scratch);
    ApplyRowWiseAdagrad(w2, a2, all, 0.1f, 1e-8f, GetParam(), &scratch);
    EXPECT_TRUE(torch::allclose(w1, w2, 1e-6, 1e-7)) << row_zero_used << "\n" << w1 - w2;
    EXPECT_TRUE(torch::allclose(a1, a2, 1e-6, 1e-7)) << row_zero_used << "\n" << a1 - a2;
    EXPECT_EQ(w2[5].equal(start[5]), true) << "an untouched row changed";
    EXPECT_EQ(w2[0].equal(start[0]), !row_zero_used);
  }
}

TEST(GatherMeanTest, AveragesValidSlotsAndGivesZerosForEmptyRows) {
  const torch::Tensor weight = torch::arange(12, torch::kFloat).view({6, 2});
  const torch::Tensor rows = Ids({0, 2, -1, -1, -1, -1, 5, 5, 1}).view({3, 3});
  const torch::Tensor pooled = GatherMean(weight, rows);
  const torch::Tensor expected =
      torch::tensor({2.0f, 3.0f, 0.0f, 0.0f, 22.0f / 3, 25.0f / 3}).view({3, 2});
  EXPECT_TRUE(torch::allclose(pooled, expected)) << pooled;
}

TEST(GatherMeanTest, MeanGradientsRouteEachRowsGradientToItsValidSlots) {
  const torch::Tensor rows = Ids({4, -1, 7, -1, -1, -1, 2, 2, 2}).view({3, 3});
  const torch::Tensor grad = torch::tensor({1.0f, 2.0f, 3.0f}).view({3, 1});
  const RowGradients g = MeanGradients(rows, grad);
  EXPECT_TRUE(torch::equal(g.rows, Ids({4, 7, 2, 2, 2}))) << g.rows;
  EXPECT_TRUE(torch::equal(g.source, Ids({0, 0, 2, 2, 2}))) << g.source;
  EXPECT_TRUE(torch::allclose(g.scale, torch::tensor({0.5f, 0.5f, 1.0f / 3, 1.0f / 3, 1.0f / 3})));
}

// The pooled gradient path gives what autograd gives for a masked mean of gathered rows.
TEST(GatherMeanTest, AdagradOnMeanGradientsMatchesAutogradOfMaskedMean) {
  torch::manual_seed(2);
  const torch::Tensor weight0 = torch::randn({10, 3});
  const torch::Tensor rows = Ids({1, 2, -1, 3, 3, 3, -1, -1, -1, 9, 1, 0}).view({4, 3});
  const torch::Tensor target = torch::randn({4, 3});

  torch::Tensor w = weight0.clone().requires_grad_();
  const torch::Tensor mask = rows.ge(0).to(torch::kFloat).unsqueeze(-1);
  const torch::Tensor gathered = w.index_select(0, rows.clamp_min(0).view({-1})).view({4, 3, 3});
  const torch::Tensor mean = (gathered * mask).sum(1) / mask.sum(1).clamp_min(1);
  ((mean - target).square().sum()).backward();
  const torch::Tensor dense_grad = w.grad();

  torch::Tensor pooled = GatherMean(weight0, rows).requires_grad_();
  ((pooled - target).square().sum()).backward();
  const RowGradients part = MeanGradients(rows, pooled.grad());
  // One Adagrad step from zero accumulators moves each touched row by -lr * g / |g|_rms.
  torch::Tensor weight = weight0.clone();
  torch::Tensor acc = torch::zeros({10});
  RowWiseAdagradScratch scratch;
  ApplyRowWiseAdagrad(weight, acc, std::vector<RowGradients>{part}, 1.0f, 0.0f, true, &scratch);
  const torch::Tensor expected_acc = dense_grad.square().mean(1);
  EXPECT_TRUE(torch::allclose(acc, expected_acc, 1e-5, 1e-6)) << acc << expected_acc;
}

FieldEmbeddingsOptions TwoFields() {
  FieldEmbeddingsOptions o;
  o.buckets = {3, 5};
  o.field_dim = 2;
  return o;
}

TEST(FieldEmbeddingsTest, RowsAreOffsetPlusPythonModulo) {
  auto fields = std::move(FieldEmbeddings::Create(TwoFields())).value();
  const torch::Tensor rows = fields->Rows(Ids({0, 0, 4, 7, -1, -1}).view({3, 2}));
  // Field 0: c mod 3 at offset 0; field 1: c mod 5 at offset 3. -1 mod 3 = 2, -1 mod 5 = 4.
  EXPECT_TRUE(torch::equal(rows, Ids({0, 3, 1, 5, 2, 7}).view({3, 2}))) << rows;
  const torch::Tensor gathered = fields->Gather(rows);
  ASSERT_EQ(gathered.sizes(), (std::vector<int64_t>{3, 4}));
  EXPECT_TRUE(torch::equal(gathered[1].narrow(0, 2, 2), fields->weight()[5])) << gathered;
}

TEST(FieldEmbeddingsTest, ValidateRejectsNoFieldsAndEmptyField) {
  FieldEmbeddingsOptions o = TwoFields();
  EXPECT_TRUE(o.Validate().ok());
  o.buckets = {};
  EXPECT_FALSE(o.Validate().ok());
  o.buckets = {3, 0};
  EXPECT_FALSE(o.Validate().ok());
  o = TwoFields();
  o.field_dim = 0;
  EXPECT_FALSE(o.Validate().ok());
}

TEST(FieldEmbeddingsTest, SaveLoadRoundTripsAndRejectsOtherShapes) {
  auto a = std::move(FieldEmbeddings::Create(TwoFields())).value();
  const torch::Tensor rows = a->Rows(Ids({1, 2}).view({1, 2}));
  a->ApplyRowWiseAdagrad(rows, torch::ones({1, 4}), 0.1f);
  std::stringstream state;
  ASSERT_TRUE(a->Save(state).ok());

  FieldEmbeddingsOptions other_seed = TwoFields();
  other_seed.seed = 99;
  auto b = std::move(FieldEmbeddings::Create(other_seed)).value();
  ASSERT_FALSE(torch::equal(a->weight(), b->weight()));
  ASSERT_TRUE(b->Load(state).ok());
  EXPECT_TRUE(torch::equal(a->weight(), b->weight()));

  FieldEmbeddingsOptions wider = TwoFields();
  wider.buckets = {3, 6};
  auto c = std::move(FieldEmbeddings::Create(wider)).value();
  std::stringstream again(state.str());
  const Status s = c->Load(again);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition) << s.ToString();

  std::stringstream truncated(state.str().substr(0, state.str().size() - 3));
  EXPECT_EQ(b->Load(truncated).code(), StatusCode::kCorruption);
}

}  // namespace
}  // namespace towerstream::model
