// The trainable two-tower model: tables, towers, optimisers and the streaming logQ estimate.
//
// A TwoTowerModel owns everything one training step touches: the customer- and article-id
// EmbeddingTables, the code FieldEmbeddings, the QueryTower and ItemTower with their Adam
// optimiser, the FrequencyEstimator and the Catalogue of articles to score against. Train()
// runs one micro-batch; Evaluate() scores a batch before it is trained on (progressive
// validation); Save()/Load() write and read its state as files in a directory. Not thread-safe:
// one thread drives it. Neither copyable nor movable (the optimiser points into the towers).
#pragma once

#include <torch/types.h>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "common/base/status.h"
#include "common/model/catalogue.h"
#include "common/model/dense_adam.h"
#include "common/model/embedding_table.h"
#include "common/model/example.h"
#include "common/model/field_embeddings.h"
#include "common/model/frequency_estimator.h"
#include "common/model/step_exchange.h"
#include "common/model/two_tower.h"

namespace towerstream::model {

struct ModelOptions {
  // Tower shapes (dim, hidden widths, field width, temperature, code buckets).
  TwoTowerOptions towers;
  // Sightings before a customer or article id gets its own row (--admit-after); before that it
  // shares hashed cold rows with other rare ids.
  int64_t admit_after = 2;
  // Steps after which an id not seen again loses its row, which is then reused (--expire-after);
  // 0 keeps rows forever. A step is one micro-batch.
  int64_t expire_after = 0;
  // Shared rows for ids not admitted yet. Customers are many and mostly rare, articles fewer.
  int64_t customer_cold_rows = 8192;
  int64_t article_cold_rows = 1024;
  // Recent purchases pooled into the query (the last N of each example's history).
  int64_t history_length = 20;
  // Row-wise Adagrad step of the id and code tables; sparse rows see few updates, so it is far
  // larger than the dense one.
  float table_learning_rate = 0.05f;
  // Adam step of the towers' dense layers, and decoupled weight decay (AdamW when > 0).
  double dense_learning_rate = 2e-3;
  double weight_decay = 0.0;
  // Items drawn uniformly from the catalogue per step as extra negatives (mixed negative
  // sampling); they help the rare items that in-batch negatives almost never show. 0 = off.
  int64_t extra_negatives = 0;
  // Subtract log p(item) from each in-batch logit (Yi et al. 2019); off gives plain in-batch
  // softmax, which over-penalises popular items.
  bool logq_correction = true;
  // The streaming frequency estimate behind log p. Its moving average weighs the newest gap
  // by 0.1 (about the last ten occurrences): fashion popularity shifts within weeks, and on
  // the generated data this beat the paper's 0.01 (too slow to follow) by a third in recall@100.
  FrequencyEstimatorOptions estimator = [] {
    FrequencyEstimatorOptions e;
    e.alpha = 0.1;
    return e;
  }();
  // Where tensors live and steps run (cpu or cuda; see ResolveDevice).
  torch::Device device = torch::kCPU;
  // Seeds every initialisation and sampling: the same seed and examples give the same model
  // on a CPU.
  uint64_t seed = 1;

  Status Validate() const;
};

// "auto" (CUDA when available), "cpu", "cuda" or "cuda:N"; InvalidArgument naming the value
// otherwise, or when CUDA is asked for but absent.
Result<torch::Device> ResolveDevice(std::string_view name);

struct StepStats {
  double loss = 0;        // mean in-batch softmax loss of the batch (of the group's, in a group)
  int64_t examples = 0;   // batch size (this rank's part, in a group)
  double mean_log_q = 0;  // mean log p of the batch's items (the logQ estimator's view)
  int64_t group_examples = 0;  // examples of every rank in this step (= examples alone)
};

// A step's statistics while the device may still be computing them (TrainAsync). On a GPU,
// Get() waits for the step to finish: call it after the next step has been queued, and the
// device never idles while the host reads the previous loss.
class PendingStepStats {
 public:
  PendingStepStats(torch::Tensor loss, torch::Tensor mean_log_q, int64_t examples)
      : loss_(std::move(loss)), mean_log_q_(std::move(mean_log_q)), examples_(examples) {}
  // Internal if the step's device work failed.
  Result<StepStats> Get() const;

 private:
  torch::Tensor loss_;        // 0-dim, on the model's device
  torch::Tensor mean_log_q_;  // 0-dim, on the model's device
  int64_t examples_;
};

// Progressive validation counts for a batch of queries: how often the purchased article was
// among the top 12 and top 100 of the whole catalogue.
struct ProgressiveCounts {
  int64_t queries = 0;
  int64_t hits_at_12 = 0;
  int64_t hits_at_100 = 0;
};

// Vocabulary and counters for metrics.
struct ModelStats {
  int64_t step = 0;
  EmbeddingTableStats customers;
  EmbeddingTableStats articles;
  int64_t catalogue = 0;
};

// The item embeddings of a catalogue: row i belongs to ids[i]; L2-normalised, float32, host.
struct ItemEmbeddings {
  std::vector<hm::ArticleId> ids;
  torch::Tensor vectors;  // [ids.size(), dim]
};

class TwoTowerModel {
 public:
  static Result<std::unique_ptr<TwoTowerModel>> Create(const ModelOptions& options);
  ~TwoTowerModel();
  TwoTowerModel(const TwoTowerModel&) = delete;
  TwoTowerModel& operator=(const TwoTowerModel&) = delete;

  // One step on a micro-batch (>= 1 example): adds its articles to the catalogue, records
  // sightings, updates the frequency estimate, and trains tables (row-wise Adagrad) and towers
  // (Adam) on the logQ-corrected in-batch softmax. Internal on a LibTorch failure.
  Result<StepStats> Train(std::span<const Example> batch);
  // The same step without waiting for its result: on a GPU, every copy and kernel of the step
  // is queued and the host returns at once (it waits only for the id-to-row lookups, which are
  // its own work). Train is TrainAsync followed by Get.
  Result<PendingStepStats> TrainAsync(std::span<const Example> batch);

  // One step of a data-parallel group (docs/design.md, "Trainers as a group"), called by every
  // rank with its own micro-batch, which may be empty. Customers are sharded: an example's
  // customer is trained on one rank only, so its own row needs no synchronisation. Everything
  // else is replicated and stays bit-identical on every rank: the batch's articles (with their
  // codes) are all-gathered first, so that every rank adds them to the catalogue, records their
  // sightings (admitting the same article rows) and updates the frequency estimate in the same
  // order; the towers' gradients are summed across ranks (each rank's loss weighted by its
  // share of the group's batch, so the sum is the gradient of the group's mean loss); the row
  // gradients of the article and code tables and of the customers' shared cold rows are
  // all-gathered as (row, gradient) and applied by every rank in rank order. In-batch negatives
  // are the rank's own batch. When no rank has an example the step is skipped (step() stays).
  // Unavailable when the group broke (a rank died or timed out): the model is then in an
  // undefined state and must be reloaded from a snapshot. CPU only for now (Gloo).
  Result<StepStats> TrainInGroup(std::span<const Example> batch, StepExchange& group);

  // Progressive validation: for each example, whether its article is in the top 12 / 100 of
  // the whole catalogue for its query, with the model as it is now (call before Train on the
  // same batch). Embeds the whole catalogue afresh, so its cost grows with the catalogue: the
  // caller decides how often it is worth it (TrainingSession scores a sample of batches). A
  // tie with the purchased article counts against it. Adds the examples' articles to the
  // catalogue (unless `add_articles` is false: in a group the catalogue changes only in
  // TrainInGroup, and an article not in it yet counts as a miss); records no sightings.
  Result<ProgressiveCounts> Evaluate(std::span<const Example> queries, bool add_articles = true);

  // Adds articles (with their codes) to the catalogue, e.g. all of articles.csv.
  void AddArticle(hm::ArticleId id, const ArticleCodes& codes) { catalogue_.Upsert(id, codes); }

  // Normalised query vectors [N, dim] (host) for examples used as queries (their article fields
  // are ignored); no sightings recorded.
  Result<torch::Tensor> QueryEmbeddings(std::span<const Example> queries);
  // Fresh normalised vectors of every catalogue article.
  Result<ItemEmbeddings> CatalogueEmbeddings();

  // Writes the whole state into `dir` (existing, empty): towers, optimiser, tables,
  // estimator, catalogue, counters, and item_embeddings.bin (ids and vectors, for serving
  // without the model). Returns the names of the files written. In a group (SetCustomerShard),
  // the customer table is written as this rank's shard; the other ranks write only theirs.
  Result<std::vector<std::string>> Save(const std::filesystem::path& dir);
  // Writes only the customer table, as this rank's shard file; returns its name.
  Result<std::string> SaveCustomerShard(const std::filesystem::path& dir);
  // Replaces the state with one Save wrote, from a model created with the same options
  // (FailedPrecondition naming what differs otherwise; Corruption for damaged files). A group
  // member loads its own customer shard; a single model loading a group's snapshot merges every
  // shard (EmbeddingTable::Merge), so the snapshot serves and evaluates like a single one.
  Status Load(const std::filesystem::path& dir);

  // The largest group whose snapshots Load merges.
  static constexpr int kMaxGroupSize = 1024;
  // Every part of the state a trainer group replicates (towers, optimiser, article and code
  // tables, the customers' cold rows, estimator, catalogue, counters) as bytes: equal bytes on
  // two ranks mean bit-identical replicas. For checking a group, not for loading.
  Status WriteReplicatedState(std::ostream& out) const;

  // Makes this model rank `rank` of a group of `world` for Save and Load (1: a single model).
  void SetCustomerShard(int rank, int world);
  // The customer table's file name for rank `rank` of `world` ("customer_table.bin" for 1).
  static std::string CustomerTableFile(int rank, int world);

  int64_t step() const { return step_; }
  ModelStats stats() const;
  const ModelOptions& options() const { return options_; }
  const Catalogue& catalogue() const { return catalogue_; }

 private:
  // Host tensors of a micro-batch, built by MakeHostBatch.
  struct HostBatch {
    int64_t size = 0;
    torch::Tensor customer_ids;  // int64 [B]
    torch::Tensor article_ids;   // int64 [B]
    torch::Tensor recent_ids;    // int64 [B, L], kNoId where a slot is empty
    torch::Tensor dense;         // float [B, kQueryDenseFeatures]
    torch::Tensor query_codes;   // int64 [B, kQueryCodeCount]
    torch::Tensor item_codes;    // int64 [B, kItemCodeCount]
  };
  explicit TwoTowerModel(const ModelOptions& options);
  Status Init();

  // The customer table from `dir`: this rank's shard, the single table, or every shard merged.
  Status LoadCustomers(const std::filesystem::path& dir);
  // Host tensors of a batch: ids, codes, dense features and recent purchases.
  HostBatch MakeHostBatch(std::span<const Example> batch) const;
  QueryInputs QueryInputsOf(const HostBatch& batch, const torch::Tensor& customer_rows,
                            const torch::Tensor& recent_rows, const torch::Tensor& code_rows);
  // The rows a training step touches and its inputs, as autograd leaves: customers are looked
  // up (recording sightings) here, the batch's article rows come from the caller (a group
  // looks up every rank's articles at once).
  struct StepInputs {
    torch::Tensor customer_rows;
    torch::Tensor article_rows;
    torch::Tensor recent_rows;
    torch::Tensor query_code_rows;
    torch::Tensor item_code_rows;
    QueryInputs query;
    ItemInputs item;
  };
  StepInputs TrainableInputs(const HostBatch& host, torch::Tensor article_rows);

  // Extra negatives of one step: the catalogue articles drawn (host ids and codes), and the
  // rows, inputs and tower output that the loss and the table updates use.
  struct NegativeDraw {
    torch::Tensor ids;    // int64 [n]
    torch::Tensor codes;  // int64 [n, kItemCodeCount]
  };
  struct ExtraItems {
    torch::Tensor rows;
    torch::Tensor code_rows;
    ItemInputs inputs;
    ExtraNegatives negatives;
  };
  // The article and item-code tables' gradients of a step (the batch's articles, the
  // histories, the extra negatives), as ApplyRowWiseAdagrad or SumGradients take them.
  struct ItemTableGradients {
    std::vector<RowGradients> article_parts;
    torch::Tensor item_code_rows;
    torch::Tensor item_code_grads;
  };
  ItemTableGradients ItemTableGradientsOf(const StepInputs& in, const ExtraItems* extra);
  // The next draw (seeded by a counter, so a resumed run, and every rank of a group, draws the
  // same articles).
  NegativeDraw DrawExtraNegatives();
  ExtraItems EmbedExtraNegatives(const NegativeDraw& draw, const torch::TensorOptions& log_q);
  // The towers' parameters, in the order the optimiser holds them.
  std::vector<torch::Tensor> TowerParameters() const;

  // Item vectors for catalogue indexes [first, last), no grad.
  torch::Tensor EmbedCatalogue(int64_t first, int64_t last);
  void AddBatchArticles(std::span<const Example> batch);

  ModelOptions options_;
  std::unique_ptr<EmbeddingTable> customers_;
  std::unique_ptr<EmbeddingTable> articles_;
  std::unique_ptr<FieldEmbeddings> query_fields_;
  std::unique_ptr<FieldEmbeddings> item_fields_;
  std::shared_ptr<QueryTower> query_tower_;
  std::shared_ptr<ItemTower> item_tower_;
  std::unique_ptr<DenseAdam> adam_;
  std::unique_ptr<FrequencyEstimator> estimator_;
  Catalogue catalogue_;
  // This model's customer shard: rank of world (see SetCustomerShard).
  int shard_rank_ = 0;
  int shard_world_ = 1;
  int64_t step_ = 0;
  // Extra-negative draws so far: seeds the next draw, so a resumed run draws the same items.
  int64_t negative_draws_ = 0;
};

}  // namespace towerstream::model
