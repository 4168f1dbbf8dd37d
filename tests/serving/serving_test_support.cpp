#include "tests/serving/serving_test_support.h"

#include <stop_token>

#include "common/evaluation/ranker_fit.h"
#include "common/trainer/embedded_trainer.h"
#include "common/trainer/snapshot_schedule.h"
#include "tests/trainer/trainer_test_support.h"

namespace towerstream::serving::testing {

Status TrainSmallSnapshot(const std::filesystem::path& data, const std::filesystem::path& snapshots,
                          int epochs) {
  trainer::EmbeddedOptions o;
  o.data_dir = data;
  o.session.model = trainer::testing::SmallModelOptions();
  o.session.snapshot_dir = snapshots;
  o.session.fsync = false;
  o.session.eval_queries = 0;
  o.batch_size = 256;
  o.epochs = epochs;
  o.progress = false;
  o.fit_ranker = [data](model::TwoTowerModel& model, Date week_start, Date week_end) {
    return evaluation::FitRankerOnWindow(model, data, week_start, week_end);
  };
  trainer::SnapshotSchedule schedule({});
  return trainer::TrainEmbedded(o, schedule, nullptr, std::stop_token()).status();
}

}  // namespace towerstream::serving::testing
