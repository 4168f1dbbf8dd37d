// The flags `trainer` and `train` share: model shape and training, snapshots, progressive
// validation, MLflow tracking, device and threads.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/status.h"
#include "common/trainer/snapshot_schedule.h"
#include "common/trainer/training_session.h"

namespace towerstream::cli {

struct ModelFlags {
  int64_t dim = 64;
  std::vector<int64_t> hidden = {128};
  int64_t field_dim = 16;
  double temperature = 0.05;
  int64_t admit_after = 2;
  int64_t expire_after = 0;
  int64_t history_length = 20;
  double table_lr = 0.05;
  double dense_lr = 2e-3;
  double weight_decay = 0;
  int64_t extra_negatives = 0;
  bool no_logq = false;
  double logq_alpha = 0.1;
  uint64_t seed = 1;
  std::string device = "auto";
  int threads = 0;
  std::string snapshot_dir;
  int keep = 3;
  std::string snapshot_every;
  int64_t eval_queries = 256;
  double eval_spacing = 4.0;
  bool no_fsync = false;
  std::string mlflow_uri;
  std::string mlflow_experiment = "towerstream";
  std::string mlflow_run_name;
};

// Adds the flags to `cmd`; `snapshot_every_default` is the command's --snapshot-every default.
void AddModelFlags(CLI::App* cmd, ModelFlags* flags, const std::string& snapshot_every_default);

// The session options the flags describe (the device resolved), and the snapshot schedule.
Result<trainer::SessionOptions> SessionOptionsFrom(const ModelFlags& flags);
Result<trainer::SnapshotEvery> SnapshotEveryFrom(const ModelFlags& flags);

// Sets LibTorch's intra-op threads: --threads, or when 0 every core but `reserved` (left to
// work that overlaps the training step, such as embedded enrichment; at least one thread).
// LibTorch's own default on Debian is one thread. Returns the number used.
int ApplyThreads(const ModelFlags& flags, int reserved = 0);

}  // namespace towerstream::cli
