// EmbeddingTable: admission, collisionlessness, expiry, growth, row-wise Adagrad, snapshots.
#include "common/model/embedding_table.h"

#include <gtest/gtest.h>
#include <torch/types.h>

#include <cmath>
#include <functional>
#include <limits>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace towerstream::model {
namespace {

std::unique_ptr<EmbeddingTable> MakeTable(const EmbeddingTableOptions& options) {
  auto table = EmbeddingTable::Create(options);
  EXPECT_TRUE(table.ok()) << table.status().ToString();
  return std::move(table).value();
}

EmbeddingTableOptions SmallOptions() {
  EmbeddingTableOptions o;
  o.dim = 4;
  o.cold_rows = 8;
  o.initial_capacity = 4;
  o.admit_after = 1;
  return o;
}

torch::Tensor Ids(std::vector<int64_t> ids) {
  return torch::tensor(ids, torch::TensorOptions().dtype(torch::kLong));
}

int64_t LookupOne(EmbeddingTable& table, int64_t id, int64_t step) {
  return table.Lookup(Ids({id}), step).item<int64_t>();
}

TEST(EmbeddingTableTest, IdUsesColdRowUntilAdmitAfterSightingsThenOwnRow) {
  for (int64_t admit_after : {1, 2, 3, 5}) {
    EmbeddingTableOptions o = SmallOptions();
    o.admit_after = admit_after;
    auto table = MakeTable(o);
    const int64_t cold = table->RowOf(42);
    ASSERT_LT(cold, o.cold_rows);
    for (int64_t sighting = 1; sighting < admit_after; ++sighting) {
      EXPECT_EQ(LookupOne(*table, 42, sighting), cold)
          << "admit_after=" << admit_after << " sighting=" << sighting;
    }
    const int64_t own = LookupOne(*table, 42, admit_after);
    EXPECT_GE(own, o.cold_rows) << "admit_after=" << admit_after;
    for (int64_t step = admit_after + 1; step < admit_after + 4; ++step) {
      EXPECT_EQ(LookupOne(*table, 42, step), own) << "admit_after=" << admit_after;
    }
    EXPECT_EQ(table->stats().cold_lookups, admit_after - 1) << "admit_after=" << admit_after;
    EXPECT_EQ(table->stats().admitted, 1) << "admit_after=" << admit_after;
  }
}

TEST(EmbeddingTableTest, RepeatsWithinOneBatchCountAsSightings) {
  EmbeddingTableOptions o = SmallOptions();
  o.admit_after = 2;
  auto table = MakeTable(o);
  const torch::Tensor rows = table->Lookup(Ids({7, 7, 7}), 0);
  EXPECT_LT(rows[0].item<int64_t>(), o.cold_rows);
  EXPECT_GE(rows[1].item<int64_t>(), o.cold_rows);
  EXPECT_EQ(rows[1].item<int64_t>(), rows[2].item<int64_t>());
}

TEST(EmbeddingTableTest, DistinctAdmittedIdsNeverShareARow) {
  auto table = MakeTable(SmallOptions());
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 5000; ++i) ids.push_back(i * 7919 - 100000);  // negatives too
  const torch::Tensor rows = table->Lookup(Ids(ids), 0);
  const int64_t* r = rows.data_ptr<int64_t>();
  std::set<int64_t> distinct(r, r + rows.numel());
  EXPECT_EQ(distinct.size(), ids.size());
  EXPECT_GE(*distinct.begin(), SmallOptions().cold_rows);
  EXPECT_EQ(table->stats().rows_in_use, 5000);
  // Stable afterwards, in any order.
  std::reverse(ids.begin(), ids.end());
  const torch::Tensor again = table->Lookup(Ids(ids), 1);
  EXPECT_TRUE(again.flip({0}).equal(rows));
}

TEST(EmbeddingTableTest, ExpiredRowIsReusedAndReinitialised) {
  EmbeddingTableOptions o = SmallOptions();
  o.expire_after = 5;
  auto table = MakeTable(o);
  const torch::Tensor row_a = table->Lookup(Ids({1}), 0);
  const int64_t a = row_a.item<int64_t>();
  table->ApplyRowWiseAdagrad(row_a, torch::ones({1, o.dim}) * 100, /*lr=*/1.0f);
  const torch::Tensor trained = table->Gather(row_a).clone();
  ASSERT_GT(table->accumulator()[a].item<float>(), 0.0f);

  // Step 6 is more than expire_after past id 1's last sighting: the sweep frees its row and
  // the next admission (id 2) gets it, freshly initialised.
  const int64_t b = LookupOne(*table, 2, 6);
  EXPECT_EQ(b, a);
  EXPECT_EQ(table->stats().expired, 1);
  EXPECT_EQ(table->stats().rows_in_use, 1);
  EXPECT_FALSE(table->Gather(row_a).allclose(trained));
  EXPECT_LT(table->Gather(row_a).abs().max().item<float>(), 0.1f);  // init_std scale, not 100s
  EXPECT_EQ(table->accumulator()[a].item<float>(), 0.0f);
  // Id 1 was forgotten: it must earn a row again, and gets a different one.
  EXPECT_NE(LookupOne(*table, 1, 7), a);
}

TEST(EmbeddingTableTest, RowsSeenWithinExpireAfterAreKept) {
  EmbeddingTableOptions o = SmallOptions();
  o.expire_after = 3;
  auto table = MakeTable(o);
  const int64_t row = LookupOne(*table, 1, 0);
  for (int64_t step = 3; step <= 30; step += 3) {
    EXPECT_EQ(LookupOne(*table, 1, step), row) << "step=" << step;
  }
  EXPECT_EQ(table->stats().expired, 0);
}

TEST(EmbeddingTableTest, GrowthKeepsExistingRowValues) {
  auto table = MakeTable(SmallOptions());  // initial_capacity 4
  const torch::Tensor first = table->Lookup(Ids({10, 11, 12}), 0);
  const torch::Tensor before = table->Gather(first).clone();
  std::vector<int64_t> more;
  for (int64_t i = 100; i < 200; ++i) more.push_back(i);
  table->Lookup(Ids(more), 1);
  EXPECT_GE(table->stats().capacity, 103);
  EXPECT_TRUE(table->Gather(first).equal(before));
  EXPECT_TRUE(table->Lookup(Ids({10, 11, 12}), 2).equal(first));
}

TEST(EmbeddingTableTest, MaxRowsKeepsLateIdsOnColdRows) {
  EmbeddingTableOptions o = SmallOptions();
  o.max_rows = 2;
  o.initial_capacity = 1;
  auto table = MakeTable(o);
  const torch::Tensor rows = table->Lookup(Ids({1, 2, 3}), 0);
  EXPECT_GE(rows[1].item<int64_t>(), o.cold_rows);
  EXPECT_LT(rows[2].item<int64_t>(), o.cold_rows);
  EXPECT_EQ(table->stats().refused, 1);
  EXPECT_EQ(table->stats().capacity, 2);
}

// Both implementations of the update: fused host loops and unique/index_add_ tensor ops.
class RowWiseAdagradTest : public ::testing::TestWithParam<bool> {};

TEST_P(RowWiseAdagradTest, MatchesHandComputedUpdate) {
  EmbeddingTableOptions o = SmallOptions();
  o.dim = 2;
  o.eps = 1e-3;
  o.fused_host_update = GetParam();
  auto table = MakeTable(o);
  const torch::Tensor own = table->Lookup(Ids({5, 6}), 0);
  const int64_t r0 = own[0].item<int64_t>(), r1 = own[1].item<int64_t>();
  const torch::Tensor w0 = table->weight()[r0].clone(), w1 = table->weight()[r1].clone();
  const float lr = 0.5f;
  // r0 appears twice: its gradients add up to (2, 0).
  const torch::Tensor rows = Ids({r0, r1, r0});
  const torch::Tensor grads = torch::tensor({1.0f, 2.0f, 3.0f, 0.0f, 1.0f, -2.0f}).view({3, 2});
  table->ApplyRowWiseAdagrad(rows, grads, lr);
  // acc0 = mean(2^2, 0^2) = 2; acc1 = mean(3^2, 0^2) = 4.5.
  EXPECT_NEAR(table->accumulator()[r0].item<float>(), 2.0f, 1e-6);
  EXPECT_NEAR(table->accumulator()[r1].item<float>(), 4.5f, 1e-6);
  auto expect_row = [&](int64_t r, const torch::Tensor& w, float g0, float g1, float acc) {
    const float denom = std::sqrt(acc) + 1e-3f;
    EXPECT_NEAR(table->weight()[r][0].item<float>(), w[0].item<float>() - lr * g0 / denom, 1e-6)
        << "row " << r;
    EXPECT_NEAR(table->weight()[r][1].item<float>(), w[1].item<float>() - lr * g1 / denom, 1e-6)
        << "row " << r;
  };
  expect_row(r0, w0, 2.0f, 0.0f, 2.0f);
  expect_row(r1, w1, 3.0f, 0.0f, 4.5f);

  // A second step accumulates: acc0 = 2 + mean(1, 1) = 3.
  const torch::Tensor w0b = table->weight()[r0].clone();
  table->ApplyRowWiseAdagrad(Ids({r0}), torch::tensor({1.0f, -1.0f}).view({1, 2}), lr);
  EXPECT_NEAR(table->accumulator()[r0].item<float>(), 3.0f, 1e-6);
  expect_row(r0, w0b, 1.0f, -1.0f, 3.0f);
  // Untouched rows stay as they were.
  EXPECT_EQ(table->accumulator()[r1].item<float>(), 4.5f);
}

INSTANTIATE_TEST_SUITE_P(BothPaths, RowWiseAdagradTest, ::testing::Values(true, false),
                         [](const auto& info) { return info.param ? "Fused" : "TensorOps"; });

TEST(EmbeddingTableTest, ToyRegressionLossDecreases) {
  EmbeddingTableOptions o = SmallOptions();
  o.dim = 8;
  auto table = MakeTable(o);
  std::vector<int64_t> id_list;
  for (int64_t i = 0; i < 64; ++i) id_list.push_back(i * 13);
  const torch::Tensor ids = Ids(id_list);
  const torch::Tensor targets = torch::linspace(-1, 1, 64 * 8).view({64, 8});
  auto loss_at = [&](int64_t step, bool train) {
    const torch::Tensor rows = table->Lookup(ids, step);
    torch::Tensor emb = table->Gather(rows).requires_grad_(true);
    torch::Tensor loss = (emb - targets).square().sum(1).mean();
    if (train) {
      loss.backward();
      table->ApplyRowWiseAdagrad(rows, emb.grad(), /*lr=*/0.1f);
    }
    return loss.item<float>();
  };
  const float initial = loss_at(0, true);
  for (int64_t step = 1; step < 200; ++step) loss_at(step, true);
  const float final_loss = loss_at(200, false);
  EXPECT_LT(final_loss, initial / 10) << "initial " << initial << " final " << final_loss;
}

TEST(EmbeddingTableTest, SameSeedSameValuesDifferentSeedDifferent) {
  auto run = [](uint64_t seed) {
    EmbeddingTableOptions o = SmallOptions();
    o.seed = seed;
    auto table = MakeTable(o);
    table->Lookup(Ids({1, 2, 3}), 0);
    return table->weight().clone();
  };
  EXPECT_TRUE(run(7).equal(run(7)));
  EXPECT_FALSE(run(7).equal(run(8)));
}

// Drives a table through admissions, cold lookups, updates, growth and expiry.
void Exercise(EmbeddingTable& table, int64_t first_step, int64_t steps) {
  for (int64_t step = first_step; step < first_step + steps; ++step) {
    std::vector<int64_t> batch;
    for (int64_t i = 0; i < 16; ++i) batch.push_back((step * 5 + i * i) % 97);
    const torch::Tensor rows = table.Lookup(Ids(batch), step);
    table.ApplyRowWiseAdagrad(rows, torch::full({16, table.options().dim}, 0.01f * (step % 3)),
                              0.1f);
  }
}

TEST(EmbeddingTableTest, SaveLoadRoundTripContinuesIdentically) {
  EmbeddingTableOptions o = SmallOptions();
  o.admit_after = 2;
  o.expire_after = 4;
  auto original = MakeTable(o);
  Exercise(*original, 0, 30);
  ASSERT_GT(original->stats().expired, 0);
  std::stringstream state;
  ASSERT_TRUE(original->Save(state).ok());

  auto restored = MakeTable(o);
  ASSERT_TRUE(restored->Load(state).ok());
  const int64_t rows = original->stats().rows_in_use + original->options().cold_rows;
  EXPECT_TRUE(restored->weight().narrow(0, 0, rows).equal(original->weight().narrow(0, 0, rows)));
  EXPECT_EQ(restored->stats().rows_in_use, original->stats().rows_in_use);
  EXPECT_EQ(restored->stats().tracked_ids, original->stats().tracked_ids);
  EXPECT_EQ(restored->stats().capacity, original->stats().capacity);
  EXPECT_EQ(restored->stats().admitted, original->stats().admitted);
  // Both continue the same way: same rows for new and old ids, same fresh initialisations.
  Exercise(*original, 30, 20);
  Exercise(*restored, 30, 20);
  std::vector<int64_t> probe;
  for (int64_t i = 0; i < 120; ++i) probe.push_back(i);
  EXPECT_TRUE(restored->Lookup(Ids(probe), 50).equal(original->Lookup(Ids(probe), 50)));
  EXPECT_TRUE(restored->weight().equal(original->weight()))
      << restored->weight().sizes() << " vs " << original->weight().sizes();
  EXPECT_TRUE(restored->accumulator().equal(original->accumulator()));
}

TEST(EmbeddingTableTest, LoadRejectsOtherDimAndTruncatedState) {
  auto original = MakeTable(SmallOptions());
  Exercise(*original, 0, 5);
  std::stringstream state;
  ASSERT_TRUE(original->Save(state).ok());
  const std::string bytes = state.str();

  EmbeddingTableOptions wider = SmallOptions();
  wider.dim = 5;
  std::stringstream in1(bytes);
  const Status other_dim = MakeTable(wider)->Load(in1);
  EXPECT_FALSE(other_dim.ok());
  EXPECT_NE(other_dim.message().find("dim"), std::string::npos) << other_dim.ToString();

  for (size_t cut : {size_t{3}, size_t{40}, bytes.size() / 2, bytes.size() - 1}) {
    std::stringstream in(bytes.substr(0, cut));
    auto table = MakeTable(SmallOptions());
    EXPECT_FALSE(table->Load(in).ok()) << "cut at " << cut << " of " << bytes.size();
    EXPECT_EQ(table->stats().tracked_ids, 0) << "state changed by a failed load, cut " << cut;
  }
}

TEST(EmbeddingTableTest, LoadRejectsARowHeldByTwoIds) {
  auto original = MakeTable(SmallOptions());
  original->Lookup(Ids({1, 2}), 0);
  std::stringstream state;
  ASSERT_TRUE(original->Save(state).ok());
  std::string bytes = state.str();
  // Header: 8 magic bytes, a 4-byte version, 10 int64 fields, the id count; then entries of
  // (id, row, count, last_seen). Give the second id the first one's row.
  constexpr size_t kEntries = 8 + 4 + 11 * 8;
  bytes.replace(kEntries + 32 + 8, 8, bytes.substr(kEntries + 8, 8));
  std::stringstream in(bytes);
  const Status s = MakeTable(SmallOptions())->Load(in);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
}

// Found by fuzz/snapshot_state_fuzzer: the saved capacity was allocated (and zeroed) as read, so
// a 100-byte file could make Load allocate terabytes, and fields near INT64_MIN overflowed.
TEST(EmbeddingTableTest, LoadBoundsADamagedCapacityByTheRowsHeld) {
  auto original = MakeTable(SmallOptions());
  original->Lookup(Ids({1, 2, 3}), 0);
  std::stringstream state;
  ASSERT_TRUE(original->Save(state).ok());
  std::string bytes = state.str();
  // Header: 8 magic bytes, a 4-byte version, then dim, cold_rows, capacity and next_row.
  constexpr size_t kCapacity = 8 + 4 + 2 * 8;
  constexpr size_t kNextRow = kCapacity + 8;
  const auto with = [&](size_t at, int64_t value) {
    std::string damaged = bytes;
    damaged.replace(at, sizeof(value), reinterpret_cast<const char*>(&value), sizeof(value));
    return damaged;
  };
  for (const int64_t capacity : {int64_t{1} << 40, std::numeric_limits<int64_t>::min()}) {
    std::stringstream in(with(kCapacity, capacity));
    auto table = MakeTable(SmallOptions());
    const Status s = table->Load(in);
    ASSERT_TRUE(s.ok()) << "capacity " << capacity << ": " << s.ToString();
    EXPECT_EQ(table->stats().rows_in_use, 3);
    // It doubles from initial_capacity (4), so 3 rows never had more than 6.
    EXPECT_LE(table->stats().capacity, 6) << "capacity " << capacity;
  }
  std::stringstream in(with(kNextRow, std::numeric_limits<int64_t>::min()));
  EXPECT_FALSE(MakeTable(SmallOptions())->Load(in).ok());
}

TEST(EmbeddingTableTest, ValidateNamesTheBadField) {
  struct Case {
    std::string field;
    std::function<void(EmbeddingTableOptions&)> mutate;
  };
  const std::vector<Case> cases = {
      {"dim", [](auto& o) { o.dim = 0; }},
      {"admit_after", [](auto& o) { o.admit_after = 0; }},
      {"cold_rows", [](auto& o) { o.cold_rows = 0; }},
      {"expire_after", [](auto& o) { o.expire_after = -1; }},
      {"initial_capacity", [](auto& o) { o.initial_capacity = -1; }},
      {"max_rows", [](auto& o) { o.max_rows = -1; }},
      {"max_rows", [](auto& o) { o.max_rows = 2, o.initial_capacity = 3; }},
      {"init_std", [](auto& o) { o.init_std = -1; }},
      {"eps", [](auto& o) { o.eps = 0; }},
  };
  EXPECT_TRUE(EmbeddingTableOptions().Validate().ok());
  for (const Case& c : cases) {
    EmbeddingTableOptions o;
    c.mutate(o);
    const Status s = o.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << c.field << ": " << s.ToString();
    EXPECT_FALSE(EmbeddingTable::Create(o).ok()) << c.field;
  }
}

}  // namespace
}  // namespace towerstream::model
