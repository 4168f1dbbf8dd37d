// A snapshot to serve in tests: a small model, with its ranker, trained on planted data.
#pragma once

#include <filesystem>

#include "common/base/status.h"

namespace towerstream::serving::testing {

// Trains (or, resumed from the LATEST of `snapshots`, trains further) a small two-tower model on
// the H&M files of `data` up to `epochs` epochs, and fits its ranker on the last week as
// `towerstream train` does, so that serving ranks as evaluate measures. Takes seconds.
Status TrainSmallSnapshot(const std::filesystem::path& data, const std::filesystem::path& snapshots,
                          int epochs);

}  // namespace towerstream::serving::testing
