// Fuzzes the text files of a snapshot: manifest.json (common/snapshot, with the model_config the
// trainer reads out of it), the LATEST pointer of a snapshot folder, and ranker.json
// (common/ranking). Each input is tried as all three. A manifest decoded must be valid and
// survive encoding; VerifySnapshot and ResolveSnapshot must stay inside the folder they are given;
// a ranker read must write back to the same ranker.
//
// The seeds in fuzz/corpus/snapshot_manifest/ are written by this binary:
// TS_FUZZ_WRITE_SEEDS=fuzz/corpus/snapshot_manifest build-fuzz/bin/snapshot_manifest_fuzzer
#include <torch/types.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/ranking/ranker.h"
#include "common/snapshot/manifest_codec.h"
#include "common/snapshot/snapshot_store.h"
#include "common/trainer/model_config.h"
#include "fuzz/fuzz_support.h"
#include "fuzz/tiny_model.h"

namespace towerstream::fuzz {
namespace {

namespace fs = std::filesystem;

void CheckCode(const Status& status, std::initializer_list<StatusCode> allowed,
               std::string_view what) {
  for (StatusCode code : allowed) {
    if (status.code() == code) return;
  }
  Fail(std::string(what) + " failed with an unexpected code: " + status.ToString());
}

void Manifest(std::string_view text) {
  Result<snapshot::Manifest> manifest = snapshot::internal::DecodeManifest(text, "manifest.json");
  if (!manifest.ok()) {
    CheckCode(manifest.status(), {StatusCode::kCorruption, StatusCode::kFailedPrecondition},
              "DecodeManifest");
    return;
  }
  Check(snapshot::internal::CheckManifestForWrite(*manifest).ok(),
        "a decoded manifest could not be written");
  for (const snapshot::FileEntry& file : manifest->files) {
    Check(snapshot::internal::IsValidPayloadName(file.name), "a bad payload name was accepted");
    Check(file.bytes >= 0 && file.xxh3_64.size() == 16, "a bad file entry was accepted");
  }
  const std::string encoded = snapshot::internal::EncodeManifest(*manifest);
  Result<snapshot::Manifest> again = snapshot::internal::DecodeManifest(encoded, "again");
  Check(again.ok(), "an encoded manifest does not decode: " + again.status().ToString());
  Check(*again == *manifest, "a manifest changed through encode and decode");

  // The model options the trainer and serve read out of it.
  Result<model::ModelOptions> options =
      trainer::ModelConfigFromJson(manifest->model_config, torch::kCPU);
  if (options.ok()) {
    Result<model::ModelOptions> reread =
        trainer::ModelConfigFromJson(trainer::ModelConfigToJson(*options), torch::kCPU);
    Check(reread.ok() && trainer::ModelConfigDifferences(*options, *reread).empty(),
          "model options changed through their JSON");
  } else {
    CheckCode(options.status(), {StatusCode::kCorruption, StatusCode::kInvalidArgument},
              "ModelConfigFromJson");
  }
}

// The input as a snapshot's manifest.json beside one payload file, then verified.
void Verify(std::string_view text) {
  static const fs::path dir = [] {
    const fs::path d = ScratchDir() / "snapshot";
    fs::create_directories(d);
    WriteFile(d / "payload.bin", "payload");
    return d;
  }();
  WriteFile(dir / "manifest.json", text);
  const Status verified = snapshot::VerifySnapshot(dir);
  if (!verified.ok()) {
    CheckCode(verified,
              {StatusCode::kCorruption, StatusCode::kFailedPrecondition, StatusCode::kIoError},
              "VerifySnapshot");
  }
}

// The input as the LATEST of a snapshot folder that holds one snapshot.
void Latest(std::string_view text) {
  static const fs::path root = [] {
    const fs::path r = ScratchDir() / "root";
    fs::create_directories(r / "s000000000001-20261129T101500.123Z");
    WriteFile(r / "s000000000001-20261129T101500.123Z" / "manifest.json", "{}");
    return r;
  }();
  WriteFile(root / "LATEST", text);
  Result<fs::path> resolved = snapshot::ResolveSnapshot(root);
  if (resolved.ok()) {
    Check(resolved->parent_path() == root && resolved->filename() != ".." &&
              resolved->filename() != ".",
          "LATEST resolved outside its folder: " + resolved->string());
  } else {
    CheckCode(resolved.status(), {StatusCode::kCorruption, StatusCode::kNotFound},
              "ResolveSnapshot");
  }
}

void RankerJson(std::string_view text) {
  const nlohmann::json json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return;
  Result<ranking::Ranker> ranker = ranking::Ranker::FromJson(json, "ranker.json");
  if (!ranker.ok()) {
    CheckCode(ranker.status(), {StatusCode::kCorruption}, "Ranker::FromJson");
    return;
  }
  (void)ranker->Describe();
  Result<ranking::Ranker> again =
      ranking::Ranker::FromJson(nlohmann::json::parse(ranker->ToJson().dump()), "again");
  Check(again.ok(), "a ranker's own JSON does not read: " + again.status().ToString());
  Check(*again == *ranker, "a ranker changed through its JSON");
}

// Writes the seeds: a manifest as the store writes it (with its checksum) and without the
// checksum (as builds before it wrote them), a LATEST pointer, and ranker.json of a ranker by
// the towers alone and of a fitted one.
void WriteSeeds(const fs::path& dir) {
  snapshot::Manifest manifest;
  manifest.id = "s000000000012-20261129T101500.123Z";
  manifest.created_unix_ms = 1'795'947'300'123;
  manifest.step = 12;
  manifest.events_trained = 6'144;
  manifest.trained_digest = "9f2c6a51d0e3b7a4";
  manifest.offsets["hm.examples"] = {{0, 3'072}, {1, 3'072}};
  manifest.model_config = trainer::ModelConfigToJson(TinyModelOptions());
  manifest.metrics = {{"loss", 5.91}, {"recall_at_12", 0.031}};
  manifest.files = {{"catalogue.bin", 128, "0123456789abcdef"},
                    {"towers.pt", 4'096, "fedcba9876543210"}};
  const std::string encoded = snapshot::internal::EncodeManifest(manifest);
  WriteFile(dir / "manifest.json", encoded);
  nlohmann::ordered_json unsigned_manifest = nlohmann::ordered_json::parse(encoded);
  unsigned_manifest.erase(std::string(snapshot::kManifestChecksumField));
  WriteFile(dir / "manifest_without_checksum.json", unsigned_manifest.dump(2));
  WriteFile(dir / "LATEST", "s000000000001-20261129T101500.123Z\n");
  const nlohmann::json towers_only = ranking::Ranker::TowerOnly().ToJson();
  WriteFile(dir / "ranker_towers_only.json", towers_only.dump(1));
  nlohmann::json fitted = towers_only;
  const std::vector<float> features(ranking::kFeatureCount, 0.5f);
  std::vector<float> w1;
  for (int i = 0; i < 2 * ranking::kFeatureCount; ++i) w1.push_back(0.01f * static_cast<float>(i));
  fitted["fitted"] = true;
  fitted["fit"] = {{"week", "2020-09-09..2020-09-15"}, {"customers", 1'234}};
  fitted["network"] = {{"hidden", 2},        {"mean", features},  {"scale", features},
                       {"w1", w1},           {"b1", {0.1, -0.1}}, {"w2", {0.5, -0.25}},
                       {"linear", features}, {"bias", -0.125}};
  Check(ranking::Ranker::FromJson(fitted, "seed").ok(), "the fitted ranker seed does not read");
  WriteFile(dir / "ranker_fitted.json", fitted.dump(1));
}

}  // namespace
}  // namespace towerstream::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  towerstream::fuzz::WriteSeedsIfAsked(&towerstream::fuzz::WriteSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream;
  const std::string_view text = fuzz::AsText(data, size);
  fuzz::Manifest(text);
  fuzz::Verify(text);
  fuzz::Latest(text);
  fuzz::RankerJson(text);
  return 0;
}
