// Embedded mode (`towerstream train --data DIR`): ingest's enrichment and the trainer in one
// process, straight from the H&M CSV files, with no broker.
//
// Each epoch enriches the transactions with the same Enricher and RocksDB feature store as
// `towerstream ingest` (a private store under `state_dir`, rebuilt per epoch so every epoch
// sees the same histories), in file order, and trains the TrainingSession on micro-batches of
// the resulting examples. Snapshots record, per epoch, how many examples were trained, so a
// run resumed from LATEST skips exactly those. Runs on the calling thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <stop_token>
#include <string>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/ranking/ranker.h"
#include "common/trainer/snapshot_schedule.h"
#include "common/trainer/trainer_metrics.h"
#include "common/trainer/training_session.h"

namespace towerstream::trainer {

struct EmbeddedOptions {
  // Folder with articles.csv, customers.csv and transactions (found by their headers).
  std::filesystem::path data_dir;
  // Train on transactions before this date (exclusive). Unset: everything before the last 7
  // days of the file, which `towerstream evaluate` holds out by default.
  std::optional<Date> until;
  // Passes over the training transactions.
  int epochs = 1;
  // Examples per micro-batch (per training step).
  int64_t batch_size = 512;
  // Where the enrichment's RocksDB store lives; empty: a folder in the system's temp dir,
  // removed at the end.
  std::filesystem::path state_dir;
  // Extra snapshots during the run (the last one is always written). One that fails (a full
  // disk) is logged and tried again later, with a growing pause, while training goes on.
  SnapshotEvery snapshot_every;
  // How long the last snapshot is retried when it fails with an I/O error (a full disk), so
  // that the user can free space rather than lose the run; 0 gives up at once.
  std::chrono::seconds final_snapshot_patience{600};
  // Purchases per example's history (ingest's --history-length).
  int history_length = 20;
  // Model, snapshot folder and progressive validation.
  SessionOptions session;
  // Draw progress bars on stderr.
  bool progress = true;
  // The ranker (ranking::Ranker) is fitted on the last `ranker_days` days before `until`, the
  // validation week: called once, in the last epoch, just before the first micro-batch that
  // holds a purchase of that week, with the towers as they are then (not yet trained on it).
  // Unset: snapshots carry no ranker and rank by the towers alone.
  int ranker_days = 7;
  std::function<Result<ranking::Ranker>(model::TwoTowerModel& model, Date week_start,
                                        Date week_end)>
      fit_ranker;
  // Called once before training when fit_ranker will be: a chance to read what the fit needs
  // on another thread while the towers train (optional).
  std::function<void(Date week_start, Date week_end)> prepare_ranker;

  Status Validate() const;
};

struct EmbeddedSummary {
  Date until;                    // the exclusive end of the training data
  int64_t examples_trained = 0;  // in this run (a resumed run skips what its snapshot had)
  int64_t examples_skipped = 0;  // already trained according to the snapshot resumed from
  int64_t rows_rejected = 0;     // bad CSV rows, reported and skipped
  int epochs_done = 0;
  // The snapshot resumed from had trained every epoch asked for: nothing was trained or
  // written, and `epochs_before` says how many it had.
  bool nothing_to_do = false;
  int epochs_before = 0;  // complete epochs of the snapshot resumed from
  bool interrupted = false;
  double seconds = 0;
  // Where the wall time went, beside status.times (validation, training, snapshots):
  double setup_seconds = 0;   // counting rows, loading articles and customers into the store
  double enrich_seconds = 0;  // reading, enriching and decoding (on its own thread, overlapped)
  double wait_seconds = 0;    // training waiting for the next enriched micro-batch
  std::string snapshot_id;    // the last snapshot written (or resumed from, if nothing new)
  std::string ranker;         // Ranker::Describe() of what the snapshot carries
  double ranker_seconds = 0;  // fitting the ranker
  SessionStatus status;
};

// Runs the epochs (or the rest of them after a resume). `stop` ends the run at the next
// micro-batch with a snapshot; `schedule` may also be asked for snapshots from other threads
// (SIGUSR1). `metrics` may be null.
Result<EmbeddedSummary> TrainEmbedded(const EmbeddedOptions& options, SnapshotSchedule& schedule,
                                      TrainerMetrics* metrics, std::stop_token stop);

// The last t_dat of a transactions file (one pass, bad rows skipped): the default split of
// `train --until` and `evaluate --test-start` is its last 7 days.
Result<Date> LastTransactionDate(const std::string& transactions_path);

}  // namespace towerstream::trainer
