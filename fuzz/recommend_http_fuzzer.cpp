// Fuzzes `towerstream serve` (common/serving) through real sockets: one RecommendServer per
// process, over a snapshot of a tiny model written at start-up and customer histories read from
// real H&M rows (fuzz/data/recommend), answers each input written as raw bytes to a fresh
// connection; the fuzzer closes its sending side and reads until the server closes. The whole
// path runs: Beast's parser, the admin server, the recommend handler's query parsing, the worker
// pool, the model, the index and the JSON answer. A crash, a sanitizer report, an answer that is
// not HTTP or a connection left open (a hang) is a finding.
#include <ATen/Parallel.h>
#include <torch/types.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "common/hm/hm_reader.h"
#include "common/model/example.h"
#include "common/serving/recommend_server.h"
#include "common/snapshot/snapshot_store.h"
#include "common/trainer/model_config.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/tiny_model.h"

namespace towerstream::fuzz {
namespace {

namespace fs = std::filesystem;

const fs::path kData = fs::path(TS_FUZZ_DATA_DIR) / "recommend";

// A snapshot folder holding one snapshot of the tiny model, whose catalogue has the articles
// of the data folder.
fs::path WriteSnapshot() {
  std::unique_ptr<model::TwoTowerModel> model = TrainTinyModel(/*steps=*/4);
  Result<std::unique_ptr<hm::ArticleReader>> articles =
      hm::ArticleReader::Open((kData / "articles.csv").string());
  Check(articles.ok(), "cannot read the articles: " + articles.status().ToString());
  hm::Article article;
  for (;;) {
    Result<bool> more = (*articles)->Next(&article);
    Check(more.ok(), "bad articles.csv: " + more.status().ToString());
    if (!*more) break;
    model->AddArticle(article.article_id, model::ArticleCodesOf(article));
  }
  snapshot::SnapshotStoreOptions store_options;
  store_options.dir = ScratchDir() / "snapshots";
  store_options.fsync = false;
  Result<std::unique_ptr<snapshot::SnapshotStore>> store =
      snapshot::SnapshotStore::Open(store_options);
  Check(store.ok(), "cannot open the snapshot folder: " + store.status().ToString());
  snapshot::Manifest manifest;
  manifest.step = model->step();
  manifest.model_config = trainer::ModelConfigToJson(model->options());
  Result<std::string> id =
      (*store)->Write(manifest, [&](const fs::path& dir) { return model->Save(dir).status(); });
  Check(id.ok(), "cannot write the snapshot: " + id.status().ToString());
  return store_options.dir;
}

serving::RecommendServer& Server() {
  static serving::RecommendServer* const server = [] {
    serving::RecommendServerOptions options;
    options.snapshot = WriteSnapshot();
    options.histories.data_dir = kData;
    options.address = "127.0.0.1:0";
    options.threads = 1;
    options.reload_interval = std::chrono::hours(1);
    options.max_k = 50;
    options.request_log = "";  // a line per input would drown libFuzzer's own output
    Result<std::unique_ptr<serving::RecommendServer>> started =
        serving::RecommendServer::Start(options);
    Check(started.ok(), "cannot start the server: " + started.status().ToString());
    return started->release();  // serves until the process exits
  }();
  return *server;
}

}  // namespace
}  // namespace towerstream::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  at::set_num_threads(1);
  towerstream::fuzz::Server();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream::fuzz;
  HttpExchange(Server().port(), AsText(data, size));
  return 0;
}
