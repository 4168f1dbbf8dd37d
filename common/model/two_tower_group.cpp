// TwoTowerModel::TrainInGroup: one data-parallel step, the replicated state kept bit-identical.
#include <torch/torch.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/model/two_tower_model.h"

namespace towerstream::model {
namespace {

// The sparse updates a rank sends: per replicated table, its distinct rows and their summed
// gradients (RowGradients without source or scale), in this order.
// The tables whose row gradients every rank applies, in the order they are packed.
enum SharedTable : int { kArticleRows, kQueryCodeRows, kItemCodeRows, kCustomerColdRows, kTables };

// One float buffer per rank: the row count of each table, then each table's rows and gradients.
// Counts and rows travel as the bits of int32 values (copied, never computed on), so that one
// all-gather carries every table.
float Int32Bits(int64_t value) {
  if (value < 0 || value > std::numeric_limits<int32_t>::max()) {
    throw std::out_of_range("row " + std::to_string(value) + " does not fit the row exchange");
  }
  const auto narrow = static_cast<int32_t>(value);
  float bits;
  std::memcpy(&bits, &narrow, sizeof(bits));
  return bits;
}

int64_t FromInt32Bits(float bits) {
  int32_t value;
  std::memcpy(&value, &bits, sizeof(value));
  return value;
}

torch::Tensor Pack(const std::vector<RowGradients>& tables) {
  int64_t size = kTables;
  for (const RowGradients& t : tables) size += t.rows.numel() + t.grads.numel();
  torch::Tensor packed = torch::empty({size}, torch::kFloat);
  float* out = packed.data_ptr<float>();
  for (const RowGradients& t : tables) *out++ = Int32Bits(t.rows.numel());
  for (const RowGradients& t : tables) {
    const torch::Tensor rows = t.rows.contiguous();
    const int64_t* row = rows.data_ptr<int64_t>();
    for (int64_t i = 0; i < rows.numel(); ++i) *out++ = Int32Bits(row[i]);
    const torch::Tensor grads = t.grads.contiguous();
    std::copy_n(grads.data_ptr<float>(), grads.numel(), out);
    out += grads.numel();
  }
  return packed;
}

Result<std::vector<RowGradients>> Unpack(const torch::Tensor& packed,
                                         const int64_t (&widths)[kTables], int rank) {
  const auto bad = [&] {
    return Status::Corruption("model: the row gradients received from rank " +
                              std::to_string(rank) + " are malformed");
  };
  const float* in = packed.data_ptr<float>();
  const int64_t size = packed.numel();
  if (size < kTables) return bad();
  int64_t counts[kTables];
  int64_t need = kTables;
  for (int t = 0; t < kTables; ++t) {
    counts[t] = FromInt32Bits(in[t]);
    if (counts[t] < 0) return bad();
    need += counts[t] * (1 + widths[t]);
  }
  if (need != size) return bad();
  std::vector<RowGradients> tables(kTables);
  int64_t at = kTables;
  for (int t = 0; t < kTables; ++t) {
    torch::Tensor rows = torch::empty({counts[t]}, torch::kLong);
    int64_t* row = rows.data_ptr<int64_t>();
    for (int64_t i = 0; i < counts[t]; ++i) row[i] = FromInt32Bits(in[at++]);
    tables[t].rows = rows;
    tables[t].grads = packed.narrow(0, at, counts[t] * widths[t]).view({counts[t], widths[t]});
    at += counts[t] * widths[t];
  }
  return tables;
}

}  // namespace

Result<StepStats> TwoTowerModel::TrainInGroup(std::span<const Example> batch, StepExchange& group) {
  if (!options_.device.is_cpu()) {
    return Status::FailedPrecondition(
        "model: a trainer group exchanges over Gloo and trains on the CPU; got device " +
        options_.device.str());
  }
  try {
    const auto n = static_cast<int64_t>(batch.size());
    const float lr = options_.table_learning_rate;
    const int64_t dim = options_.towers.dim;
    const int64_t field_dim = options_.towers.field_dim;

    // 1. The group's articles with their codes, in rank order: every rank adds them to the
    //    catalogue, records their sightings and updates the frequency estimate identically.
    constexpr int64_t kItemColumns = 2 + kItemCodeCount;  // id, codes known, codes
    torch::Tensor items = torch::empty({n, kItemColumns}, torch::kLong);
    int64_t* item = items.data_ptr<int64_t>();
    for (const Example& e : batch) {
      *item++ = e.article_id;
      *item++ = e.article.known ? 1 : 0;
      item = std::copy(e.article.codes.begin(), e.article.codes.end(), item);
    }
    TS_ASSIGN_OR_RETURN(const std::vector<torch::Tensor> all_items, group.AllGather(items));
    int64_t total = 0;
    int64_t offset = 0;
    for (size_t r = 0; r < all_items.size(); ++r) {
      if (static_cast<int>(r) == group.rank()) offset = total;
      total += all_items[r].size(0);
    }
    StepStats stats;
    stats.examples = n;
    stats.group_examples = total;
    if (total == 0) return stats;
    const torch::Tensor group_items = torch::cat(all_items).contiguous();
    const int64_t* row = group_items.data_ptr<int64_t>();
    for (int64_t i = 0; i < total; ++i, row += kItemColumns) {
      ArticleCodes codes;
      codes.known = row[1] != 0;
      std::copy_n(row + 2, kItemCodeCount, codes.codes.begin());
      catalogue_.Upsert(row[0], codes);
    }
    const torch::Tensor group_ids = group_items.select(1, 0).contiguous();
    const torch::Tensor group_article_rows = articles_->Lookup(group_ids, step_);
    TS_RETURN_IF_ERROR(estimator_->Update(group_ids, step_));
    // Every rank draws, so that the draw counter stays the same everywhere.
    const bool with_extra = options_.extra_negatives > 0 && catalogue_.size() > 0;
    NegativeDraw draw;
    if (with_extra) draw = DrawExtraNegatives();

    // 2. This rank's forward and backward pass, its loss weighted by its share of the group's
    //    batch; an empty rank contributes zero gradients.
    std::vector<RowGradients> shared(kTables);
    shared[kArticleRows] = {.rows = torch::empty({0}, torch::kLong),
                            .grads = torch::empty({0, dim}),
                            .source = {},
                            .scale = {}};
    shared[kQueryCodeRows] = {.rows = torch::empty({0}, torch::kLong),
                              .grads = torch::empty({0, field_dim}),
                              .source = {},
                              .scale = {}};
    shared[kItemCodeRows] = shared[kQueryCodeRows];
    shared[kCustomerColdRows] = shared[kArticleRows];
    double weighted_loss = 0;
    double weighted_log_q = 0;
    adam_->ZeroGrad();
    if (n > 0) {
      const HostBatch host = MakeHostBatch(batch);
      StepInputs in = TrainableInputs(host, group_article_rows.narrow(0, offset, n));
      const torch::Tensor& customer_rows = in.customer_rows;
      const torch::Tensor& query_code_rows = in.query_code_rows;
      QueryInputs& query = in.query;
      ItemInputs& item_inputs = in.item;
      const torch::Tensor& item_ids = host.article_ids;
      const torch::Tensor log_q = options_.logq_correction
                                      ? estimator_->LogProbability(item_ids)
                                      : torch::zeros({n}, torch::TensorOptions(torch::kFloat));
      ExtraItems extra;
      if (with_extra) extra = EmbedExtraNegatives(draw, log_q.options());
      const torch::Tensor loss = FusedInBatchSoftmaxLoss(
          query_tower_->forward(query), item_tower_->forward(item_inputs), item_ids, log_q,
          options_.towers.temperature, with_extra ? &extra.negatives : nullptr);
      const double share = static_cast<double>(n) / static_cast<double>(total);
      (loss * share).backward();
      weighted_loss = loss.item<double>() * share;
      weighted_log_q = log_q.mean().item<double>() * share;

      // Summed per row before the exchange: each row travels once, however many histories
      // hold it.
      const ItemTableGradients item_tables =
          ItemTableGradientsOf(in, with_extra ? &extra : nullptr);
      shared[kArticleRows] = articles_->SumGradients(item_tables.article_parts);
      shared[kQueryCodeRows] = query_fields_->SumGradients(query_code_rows, query.codes.grad());
      shared[kItemCodeRows] =
          item_fields_->SumGradients(item_tables.item_code_rows, item_tables.item_code_grads);
      // A customer's own row lives on this rank only; the cold rows rare customers share are
      // replicated like the articles'.
      const torch::Tensor customer_grads = query.customer_embedding.grad();
      const torch::Tensor cold = customer_rows.lt(customers_->options().cold_rows);
      const torch::Tensor own = cold.logical_not();
      customers_->ApplyRowWiseAdagrad(customer_rows.index({own}), customer_grads.index({own}), lr);
      const RowGradients cold_part{.rows = customer_rows.index({cold}),
                                   .grads = customer_grads.index({cold}),
                                   .source = {},
                                   .scale = {}};
      shared[kCustomerColdRows] =
          customers_->SumGradients(std::span<const RowGradients>(&cold_part, 1));
    }

    // 3. The towers' gradients (and the weighted loss and log q) summed over the group.
    const std::vector<torch::Tensor> params = TowerParameters();
    int64_t dense_size = 2;
    for (const torch::Tensor& p : params) dense_size += p.numel();
    torch::Tensor dense = torch::zeros({dense_size}, torch::kFloat);
    int64_t at = 0;
    for (const torch::Tensor& p : params) {
      if (p.grad().defined()) dense.narrow(0, at, p.numel()).copy_(p.grad().reshape({-1}));
      at += p.numel();
    }
    dense[at] = weighted_loss;
    dense[at + 1] = weighted_log_q;
    TS_RETURN_IF_ERROR(group.AllReduceSum(dense));
    at = 0;
    for (const torch::Tensor& p : params) {
      torch::Tensor sum = dense.narrow(0, at, p.numel()).view_as(p).clone();
      // Every parameter steps on every rank, with the group's gradient.
      if (p.grad().defined()) {
        p.mutable_grad().copy_(sum);
      } else {
        p.mutable_grad() = sum;
      }
      at += p.numel();
    }
    stats.loss = dense[at].item<double>();
    stats.mean_log_q = dense[at + 1].item<double>();
    adam_->Step();

    // 4. Every rank's row gradients of the replicated tables, applied in rank order.
    TS_ASSIGN_OR_RETURN(const std::vector<torch::Tensor> all_updates,
                        group.AllGather(Pack(shared)));
    const int64_t widths[kTables] = {dim, field_dim, field_dim, dim};
    std::vector<std::vector<RowGradients>> received;
    for (size_t r = 0; r < all_updates.size(); ++r) {
      TS_ASSIGN_OR_RETURN(std::vector<RowGradients> tables,
                          Unpack(all_updates[r], widths, static_cast<int>(r)));
      received.push_back(std::move(tables));
    }
    const auto parts_of = [&](SharedTable table) {
      std::vector<RowGradients> parts;
      for (const std::vector<RowGradients>& tables : received) {
        parts.push_back(
            {.rows = tables[table].rows, .grads = tables[table].grads, .source = {}, .scale = {}});
      }
      return parts;
    };
    const auto concatenated = [&](SharedTable table, bool grads) {
      std::vector<torch::Tensor> pieces;
      for (const std::vector<RowGradients>& tables : received) {
        pieces.push_back(grads ? tables[table].grads : tables[table].rows);
      }
      return torch::cat(pieces);
    };
    articles_->ApplyRowWiseAdagrad(parts_of(kArticleRows), lr);
    customers_->ApplyRowWiseAdagrad(parts_of(kCustomerColdRows), lr);
    query_fields_->ApplyRowWiseAdagrad(concatenated(kQueryCodeRows, false),
                                       concatenated(kQueryCodeRows, true), lr);
    item_fields_->ApplyRowWiseAdagrad(concatenated(kItemCodeRows, false),
                                      concatenated(kItemCodeRows, true), lr);
    ++step_;
    return stats;
  } catch (const std::exception& e) {
    return Status::Internal(std::string("model: group training step failed: ") + e.what());
  }
}

Status TwoTowerModel::WriteReplicatedState(std::ostream& out) const {
  try {
    for (const torch::Tensor& p : TowerParameters()) {
      const torch::Tensor host = p.detach().to(torch::kCPU).contiguous();
      out.write(static_cast<const char*>(host.data_ptr()),
                static_cast<std::streamsize>(host.numel() * host.element_size()));
    }
    const int64_t cold = customers_->options().cold_rows;
    for (const torch::Tensor& t :
         {customers_->weight().narrow(0, 0, cold), customers_->accumulator().narrow(0, 0, cold)}) {
      const torch::Tensor host = t.to(torch::kCPU).contiguous();
      out.write(static_cast<const char*>(host.data_ptr()),
                static_cast<std::streamsize>(host.numel() * host.element_size()));
    }
  } catch (const std::exception& e) {
    return Status::Internal(std::string("model: cannot read the replicated state: ") + e.what());
  }
  TS_RETURN_IF_ERROR(adam_->Save(out));
  TS_RETURN_IF_ERROR(articles_->Save(out));
  TS_RETURN_IF_ERROR(query_fields_->Save(out));
  TS_RETURN_IF_ERROR(item_fields_->Save(out));
  TS_RETURN_IF_ERROR(estimator_->Save(out));
  TS_RETURN_IF_ERROR(catalogue_.Save(out));
  out.write(reinterpret_cast<const char*>(&step_), sizeof(step_));
  out.write(reinterpret_cast<const char*>(&negative_draws_), sizeof(negative_draws_));
  if (!out) return Status::IoError("model: cannot write the replicated state");
  return Status::Ok();
}

}  // namespace towerstream::model
