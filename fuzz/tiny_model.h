// A tiny two-tower model with real state, for the fuzz targets that need one: the state files a
// snapshot holds (as seeds and as the model they load into) and the recommend server.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "common/model/example.h"
#include "common/model/two_tower_model.h"
#include "fuzz/fuzz_support.h"
#include "tests/model/small_model.h"

namespace towerstream::fuzz {

// The tests' small model, with ids admitted at once and expiring quickly, so that its tables
// hold own rows and a free list.
inline model::ModelOptions TinyModelOptions() {
  model::ModelOptions o = model::testing::SmallModelOptions();
  o.admit_after = 1;
  o.expire_after = 2;
  return o;
}

// The model after `steps` micro-batches of a few made-up purchases.
inline std::unique_ptr<model::TwoTowerModel> TrainTinyModel(int steps) {
  Result<std::unique_ptr<model::TwoTowerModel>> created =
      model::TwoTowerModel::Create(TinyModelOptions());
  Check(created.ok(), "cannot create the tiny model: " + created.status().ToString());
  std::unique_ptr<model::TwoTowerModel> model = std::move(*created);
  for (int step = 0; step < steps; ++step) {
    std::vector<model::Example> batch;
    for (int i = 0; i < 4; ++i) {
      model::Example e;
      e.article_id = 108775015 + (step * 3 + i) % 7;
      e.customer_key = 1000 + (step + i) % 5;
      e.day = 17'800 + step;
      e.sales_channel = 1 + i % 2;
      e.customer.known = true;
      e.customer.age = 20 + i;
      e.article.known = true;
      e.article.codes.fill(i + 1);
      e.recent_article_ids = {108775015, 108775016};
      batch.push_back(e);
    }
    Result<model::StepStats> trained = model->Train(batch);
    Check(trained.ok(), "cannot train the tiny model: " + trained.status().ToString());
  }
  return model;
}

}  // namespace towerstream::fuzz
