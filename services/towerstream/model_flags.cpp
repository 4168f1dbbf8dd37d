// The shared model, snapshot and device flags of `trainer` and `train`.
#include "services/towerstream/model_flags.h"
#include "services/towerstream/cli_support.h"

#include <torch/torch.h>

#include <thread>

#include "common/model/fast_ops.h"
#include "common/model/two_tower_model.h"

namespace towerstream::cli {

void AddModelFlags(CLI::App* cmd, ModelFlags* f, const std::string& snapshot_every_default) {
  f->snapshot_every = snapshot_every_default;
  cmd->add_option("--snapshot-dir", f->snapshot_dir,
                  "Folder of the snapshots (created): <id>/ with manifest.json, and LATEST. A "
                  "run resumes from its LATEST snapshot")
      ->required()
      ->type_name("DIR");
  cmd->add_option("--keep", f->keep, "Complete snapshots kept (older ones are deleted)")
      ->capture_default_str()
      ->check(Positive())
      ->type_name("N");
  cmd->add_option("--snapshot-every", f->snapshot_every,
                  "Also snapshot every wall time (30s, 10m, 2h) or number of examples trained "
                  "(100000, 100k, 2M); off for none")
      ->capture_default_str()
      ->type_name("WHEN");
  cmd->add_flag("--no-fsync", f->no_fsync,
                "Do not fsync snapshots (faster; a power loss, unlike a crash, may then lose "
                "the latest one)");
  cmd->add_option("--device", f->device, "Where to train: auto (CUDA if present), cpu, cuda[:N]")
      ->capture_default_str();
  cmd->add_option("--threads", f->threads,
                  "CPU threads for LibTorch (0: every core; `train` leaves one to enrichment)")
      ->capture_default_str()
      ->check(NonNegative())
      ->type_name("N");
  cmd->add_option("--seed", f->seed,
                  "Seeds every initialisation and sampling (same seed and "
                  "data: same model on a CPU)")
      ->capture_default_str();

  const std::string model = "Model";
  cmd->add_option("--dim", f->dim, "Embedding width and output width of both towers")
      ->capture_default_str()
      ->check(Positive())
      ->group(model);
  cmd->add_option("--hidden", f->hidden, "Hidden layer widths of each tower's MLP")
      ->capture_default_str()
      ->delimiter(',')
      ->group(model)
      ->type_name("N,...");
  cmd->add_option("--field-dim", f->field_dim, "Embedding width of each categorical feature")
      ->capture_default_str()
      ->check(Positive())
      ->group(model);
  cmd->add_option("--temperature", f->temperature,
                  "Softmax temperature over cosine similarities (smaller is sharper)")
      ->capture_default_str()
      ->check(Positive())
      ->group(model);
  cmd->add_option("--admit-after", f->admit_after,
                  "Sightings before a customer or article id gets its own embedding row "
                  "(before: shared hashed cold rows)")
      ->capture_default_str()
      ->check(Positive())
      ->group(model)
      ->type_name("N");
  cmd->add_option("--expire-after", f->expire_after,
                  "Steps without a sighting after which an id's row is reclaimed for reuse "
                  "(0: never)")
      ->capture_default_str()
      ->check(NonNegative())
      ->group(model)
      ->type_name("STEPS");
  cmd->add_option("--history-length", f->history_length,
                  "Recent purchases pooled into the query (the last N of each example's)")
      ->capture_default_str()
      ->check(InRange(0, 1000))
      ->group(model)
      ->type_name("N");
  cmd->add_option("--table-lr", f->table_lr, "Row-wise Adagrad learning rate of the tables")
      ->capture_default_str()
      ->check(Positive())
      ->group(model);
  cmd->add_option("--dense-lr", f->dense_lr, "Adam learning rate of the towers' layers")
      ->capture_default_str()
      ->check(Positive())
      ->group(model);
  cmd->add_option("--weight-decay", f->weight_decay, "Decoupled weight decay (AdamW)")
      ->capture_default_str()
      ->check(NonNegative())
      ->group(model);
  cmd->add_option("--extra-negatives", f->extra_negatives,
                  "Articles drawn uniformly per step as extra negatives (mixed negative "
                  "sampling; 0: in-batch only)")
      ->capture_default_str()
      ->check(NonNegative())
      ->group(model)
      ->type_name("N");
  cmd->add_flag("--no-logq", f->no_logq,
                "Plain in-batch softmax, without the streaming logQ correction")
      ->group(model);
  cmd->add_option("--logq-alpha", f->logq_alpha,
                  "Weight of the newest gap in the frequency estimate (larger adapts faster)")
      ->capture_default_str()
      ->check(InRange(1e-6, 1.0))
      ->group(model);

  const std::string validation = "Progressive validation";
  cmd->add_option("--eval-queries", f->eval_queries,
                  "Examples of a scored micro-batch ranked against every article before training "
                  "on it (0: no progressive validation)")
      ->capture_default_str()
      ->check(NonNegative())
      ->group(validation)
      ->type_name("N");
  cmd->add_option("--eval-spacing", f->eval_spacing,
                  "Which micro-batches are scored: the first, then the next once X times the "
                  "number of articles have trained since (scoring embeds every article, so its "
                  "cost per example stays the same at any catalogue size); 0: every batch")
      ->capture_default_str()
      ->check(NonNegative())
      ->group(validation)
      ->type_name("X");

  const std::string tracking = "MLflow tracking";
  cmd->add_option("--mlflow-uri", f->mlflow_uri,
                  "MLflow tracking server (http://HOST:PORT[/PREFIX]): a run with the "
                  "parameters, loss, progressive recall and examples/s over steps, and every "
                  "snapshot's path; each snapshot's manifest records the run (`evaluate "
                  "--mlflow-uri` logs to it) and the last one is uploaded as an artifact. "
                  "Training goes on, and says so, while it is unreachable. A resumed "
                  "--snapshot-dir continues its run")
      ->group(tracking)
      ->type_name("URI");
  cmd->add_option("--mlflow-experiment", f->mlflow_experiment,
                  "MLflow experiment of the run (created when missing)")
      ->capture_default_str()
      ->group(tracking)
      ->type_name("NAME");
  cmd->add_option("--mlflow-run-name", f->mlflow_run_name,
                  "Name of a new MLflow run (default: one MLflow makes up)")
      ->group(tracking)
      ->type_name("NAME");
}

Result<trainer::SessionOptions> SessionOptionsFrom(const ModelFlags& f) {
  trainer::SessionOptions s;
  model::ModelOptions& m = s.model;
  m.towers.dim = f.dim;
  m.towers.hidden = f.hidden;
  m.towers.field_dim = f.field_dim;
  m.towers.temperature = f.temperature;
  m.admit_after = f.admit_after;
  m.expire_after = f.expire_after;
  m.history_length = f.history_length;
  m.table_learning_rate = static_cast<float>(f.table_lr);
  m.dense_learning_rate = f.dense_lr;
  m.weight_decay = f.weight_decay;
  m.extra_negatives = f.extra_negatives;
  m.logq_correction = !f.no_logq;
  m.estimator.alpha = f.logq_alpha;
  m.seed = f.seed;
  TS_ASSIGN_OR_RETURN(m.device, model::ResolveDevice(f.device));
  s.snapshot_dir = f.snapshot_dir;
  s.keep = f.keep;
  s.fsync = !f.no_fsync;
  s.eval_queries = f.eval_queries;
  s.eval_spacing = f.eval_spacing;
  s.mlflow.tracking_uri = f.mlflow_uri;
  s.mlflow.experiment = f.mlflow_experiment;
  s.mlflow.run_name = f.mlflow_run_name;
  TS_RETURN_IF_ERROR(s.Validate());
  return s;
}

Result<trainer::SnapshotEvery> SnapshotEveryFrom(const ModelFlags& f) {
  return trainer::ParseSnapshotEvery(f.snapshot_every);
}

int ApplyThreads(const ModelFlags& f, int reserved) {
  const int cores = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int threads = f.threads > 0 ? f.threads : std::max(1, cores - reserved);
  torch::set_num_threads(threads);
  model::LimitBlasThreads(1);
  return threads;
}

}  // namespace towerstream::cli
