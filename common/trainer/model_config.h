// The model configuration as JSON, for snapshot manifests (docs/design.md §7), and loading a model
// from a snapshot directory.
//
// A snapshot's manifest.json carries `model_config`, every option that shapes the model's
// state; the device is not among them (a snapshot trained on a GPU loads on a CPU). Pure
// functions; thread-safe.
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include <torch/types.h>
#include <nlohmann/json.hpp>

#include "common/base/status.h"
#include "common/model/two_tower_model.h"
#include "common/ranking/ranker.h"
#include "common/snapshot/snapshot_store.h"

namespace towerstream::trainer {

nlohmann::json ModelConfigToJson(const model::ModelOptions& options);

// The options a snapshot was trained with; `device` is set from the argument. Corruption
// naming the field when one is missing or of the wrong type.
Result<model::ModelOptions> ModelConfigFromJson(const nlohmann::json& config, torch::Device device);

// "" when `a` and `b` give models of the same state (device aside); otherwise the options that
// differ, e.g. "dim 64 vs 32, history_length 20 vs 10".
std::string ModelConfigDifferences(const model::ModelOptions& a, const model::ModelOptions& b);

// A model restored from a snapshot: the resolved snapshot directory, its manifest and the
// model (created from the manifest's model_config on `device`, its files checked against the
// manifest's checksums first), and its ranker.
struct LoadedSnapshot {
  std::filesystem::path dir;
  snapshot::Manifest manifest;
  std::unique_ptr<model::TwoTowerModel> model;
  // The snapshot's ranker (ranker.json), or the towers alone when it has none.
  ranking::Ranker ranker = ranking::Ranker::TowerOnly();
};

// `path` is a snapshot directory or a snapshot root (its LATEST), as ResolveSnapshot takes.
Result<LoadedSnapshot> LoadModelSnapshot(const std::filesystem::path& path, torch::Device device);

}  // namespace towerstream::trainer
