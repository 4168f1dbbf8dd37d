// ModelOptions <-> JSON, and restoring a TwoTowerModel from a snapshot directory.
#include "common/trainer/model_config.h"

#include <algorithm>
#include <optional>
#include <sstream>
#include <type_traits>
#include <vector>

namespace towerstream::trainer {
namespace {

// Whether `value` is a JSON integer, or an array of them, where T wants integers: nlohmann's
// get<T>() would cast a float, which is undefined behaviour when it is out of range (1e300).
template <typename T>
bool IntegersWhereIntegersBelong(const nlohmann::json& value) {
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
    return value.is_array() && std::all_of(value.begin(), value.end(), [](const auto& element) {
             return element.is_number_integer();
           });
  } else if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    return value.is_number_integer();
  } else {
    return true;
  }
}

// Reads `key` of `object` into `out`; Corruption naming the field otherwise.
template <typename T>
Status Field(const nlohmann::json& object, const char* key, T* out) {
  const auto it = object.find(key);
  if (it == object.end())
    return Status::Corruption("model_config: field '" + std::string(key) + "' is missing");
  if (!IntegersWhereIntegersBelong<T>(*it)) {
    const char* expected =
        std::is_same_v<T, std::vector<int64_t>> ? "an array of integers" : "an integer";
    return Status::Corruption("model_config: field '" + std::string(key) + "': expected " +
                              expected + ", got " + it->dump());
  }
  try {
    *out = it->get<T>();
  } catch (const std::exception& e) {
    return Status::Corruption("model_config: field '" + std::string(key) + "': " + e.what());
  }
  return Status::Ok();
}

}  // namespace

nlohmann::json ModelConfigToJson(const model::ModelOptions& o) {
  const model::FrequencyEstimatorOptions& e = o.estimator;
  return {
      {"dim", o.towers.dim},
      {"hidden", o.towers.hidden},
      {"field_dim", o.towers.field_dim},
      {"temperature", o.towers.temperature},
      {"category_buckets", o.towers.category_buckets},
      {"postal_code_buckets", o.towers.postal_code_buckets},
      {"product_code_buckets", o.towers.product_code_buckets},
      {"item_code_buckets", o.towers.item_code_buckets},
      {"admit_after", o.admit_after},
      {"expire_after", o.expire_after},
      {"customer_cold_rows", o.customer_cold_rows},
      {"article_cold_rows", o.article_cold_rows},
      {"history_length", o.history_length},
      {"table_learning_rate", o.table_learning_rate},
      {"dense_learning_rate", o.dense_learning_rate},
      {"weight_decay", o.weight_decay},
      {"extra_negatives", o.extra_negatives},
      {"logq_correction", o.logq_correction},
      {"seed", o.seed},
      {"estimator",
       {{"buckets", e.buckets},
        {"hash_functions", e.hash_functions},
        {"alpha", e.alpha},
        {"initial_gap", e.initial_gap},
        {"min_gap", e.min_gap},
        {"max_gap", e.max_gap},
        {"seed", e.seed}}},
  };
}

Result<model::ModelOptions> ModelConfigFromJson(const nlohmann::json& c, torch::Device device) {
  if (!c.is_object()) return Status::Corruption("model_config: not a JSON object");
  model::ModelOptions o;
  TS_RETURN_IF_ERROR(Field(c, "dim", &o.towers.dim));
  TS_RETURN_IF_ERROR(Field(c, "hidden", &o.towers.hidden));
  TS_RETURN_IF_ERROR(Field(c, "field_dim", &o.towers.field_dim));
  TS_RETURN_IF_ERROR(Field(c, "temperature", &o.towers.temperature));
  TS_RETURN_IF_ERROR(Field(c, "category_buckets", &o.towers.category_buckets));
  TS_RETURN_IF_ERROR(Field(c, "postal_code_buckets", &o.towers.postal_code_buckets));
  TS_RETURN_IF_ERROR(Field(c, "product_code_buckets", &o.towers.product_code_buckets));
  TS_RETURN_IF_ERROR(Field(c, "item_code_buckets", &o.towers.item_code_buckets));
  TS_RETURN_IF_ERROR(Field(c, "admit_after", &o.admit_after));
  TS_RETURN_IF_ERROR(Field(c, "expire_after", &o.expire_after));
  TS_RETURN_IF_ERROR(Field(c, "customer_cold_rows", &o.customer_cold_rows));
  TS_RETURN_IF_ERROR(Field(c, "article_cold_rows", &o.article_cold_rows));
  TS_RETURN_IF_ERROR(Field(c, "history_length", &o.history_length));
  TS_RETURN_IF_ERROR(Field(c, "table_learning_rate", &o.table_learning_rate));
  TS_RETURN_IF_ERROR(Field(c, "dense_learning_rate", &o.dense_learning_rate));
  TS_RETURN_IF_ERROR(Field(c, "weight_decay", &o.weight_decay));
  TS_RETURN_IF_ERROR(Field(c, "extra_negatives", &o.extra_negatives));
  TS_RETURN_IF_ERROR(Field(c, "logq_correction", &o.logq_correction));
  TS_RETURN_IF_ERROR(Field(c, "seed", &o.seed));
  const auto estimator = c.find("estimator");
  if (estimator == c.end() || !estimator->is_object()) {
    return Status::Corruption("model_config: field 'estimator' is missing or not an object");
  }
  model::FrequencyEstimatorOptions& e = o.estimator;
  TS_RETURN_IF_ERROR(Field(*estimator, "buckets", &e.buckets));
  TS_RETURN_IF_ERROR(Field(*estimator, "hash_functions", &e.hash_functions));
  TS_RETURN_IF_ERROR(Field(*estimator, "alpha", &e.alpha));
  TS_RETURN_IF_ERROR(Field(*estimator, "initial_gap", &e.initial_gap));
  TS_RETURN_IF_ERROR(Field(*estimator, "min_gap", &e.min_gap));
  TS_RETURN_IF_ERROR(Field(*estimator, "max_gap", &e.max_gap));
  TS_RETURN_IF_ERROR(Field(*estimator, "seed", &e.seed));
  o.device = device;
  o.towers.device = device;
  o.estimator.device = device;
  TS_RETURN_IF_ERROR(o.Validate().WithContext("model_config"));
  return o;
}

std::string ModelConfigDifferences(const model::ModelOptions& a, const model::ModelOptions& b) {
  const nlohmann::json ja = ModelConfigToJson(a), jb = ModelConfigToJson(b);
  std::ostringstream out;
  const auto compare = [&](const nlohmann::json& x, const nlohmann::json& y,
                           const std::string& prefix) {
    for (const auto& [key, value] : x.items()) {
      if (value.is_object()) continue;
      if (!y.contains(key) || y.at(key) != value) {
        if (out.tellp() > 0) out << ", ";
        out << prefix << key << " " << value.dump() << " vs "
            << (y.contains(key) ? y.at(key).dump() : "none");
      }
    }
  };
  compare(ja, jb, "");
  compare(ja.at("estimator"), jb.at("estimator"), "estimator.");
  return out.str();
}

Result<LoadedSnapshot> LoadModelSnapshot(const std::filesystem::path& path, torch::Device device) {
  LoadedSnapshot loaded;
  TS_ASSIGN_OR_RETURN(loaded.dir, snapshot::ResolveSnapshot(path));
  TS_ASSIGN_OR_RETURN(loaded.manifest, snapshot::ReadManifest(loaded.dir));
  TS_RETURN_IF_ERROR(snapshot::VerifySnapshot(loaded.dir));
  Result<model::ModelOptions> options = ModelConfigFromJson(loaded.manifest.model_config, device);
  if (!options.ok()) return options.status().WithContext((loaded.dir / "manifest.json").string());
  TS_ASSIGN_OR_RETURN(loaded.model, model::TwoTowerModel::Create(*options));
  TS_RETURN_IF_ERROR(loaded.model->Load(loaded.dir));
  TS_ASSIGN_OR_RETURN(std::optional<ranking::Ranker> ranker, ranking::Ranker::Load(loaded.dir));
  if (ranker) loaded.ranker = std::move(*ranker);
  return loaded;
}

}  // namespace towerstream::trainer
