// A small, fast model for in-process tests (dimension 16, one hidden layer of 32, small hash
// tables): shared by the model's own tests and those of the trainer and serving.
#pragma once

#include "common/model/two_tower_model.h"

namespace towerstream::model::testing {

inline ModelOptions SmallModelOptions() {
  ModelOptions o;
  o.towers.dim = 16;
  o.towers.hidden = {32};
  o.towers.field_dim = 4;
  o.towers.postal_code_buckets = 64;
  o.towers.product_code_buckets = 1024;
  o.towers.item_code_buckets = 64;
  o.estimator.buckets = 4096;
  o.customer_cold_rows = 64;
  o.article_cold_rows = 16;
  return o;
}

}  // namespace towerstream::model::testing
