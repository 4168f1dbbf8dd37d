// Tests of the snapshot store: manifests round-trip, LATEST, retention, failed and crashed
// writes, verification, manifest validation, path resolution and ids.
#include "common/snapshot/snapshot_store.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "common/snapshot/file_util.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::snapshot {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string ReadText(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void WriteText(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

// Every entry of `dir` by name (files and directories), to compare before and after.
std::set<std::string> Entries(const fs::path& dir) {
  std::set<std::string> names;
  for (const auto& entry : fs::directory_iterator(dir)) {
    names.insert(entry.path().filename().string());
  }
  return names;
}

bool HasTempEntries(const fs::path& dir) {
  const std::set<std::string> names = Entries(dir);
  return std::any_of(names.begin(), names.end(), [](const std::string& name) {
    return name.starts_with(".tmp-") || name == "LATEST.tmp";
  });
}

// A payload writer that writes `files` (name -> content).
SnapshotStore::PayloadWriter Files(std::map<std::string, std::string> files) {
  return [files = std::move(files)](const fs::path& dir) {
    for (const auto& [name, content] : files) WriteText(dir / name, content);
    return Status::Ok();
  };
}

Manifest SampleManifest(int64_t step) {
  Manifest manifest;
  manifest.step = step;
  manifest.events_trained = step * 256;
  manifest.trained_digest = "9f86d081884c7d65";
  manifest.offsets["hm.examples"] = {{0, 123}, {1, 456}, {10, 7}};
  manifest.offsets["hm.other"] = {{3, 0}};
  manifest.model_config = {{"embedding_dim", 64}, {"towers", {{"hidden", {256, 128}}}}};
  manifest.metrics = {{"recall_at_100", 0.125}, {"loss", 4.5}};
  return manifest;
}

std::chrono::system_clock::time_point FixedTime() {
  using namespace std::chrono;
  return sys_days{year{2026} / November / 29} + hours{10} + minutes{15} + milliseconds{123};
}

class SnapshotStoreTest : public ::testing::Test {
 protected:
  // A root that does not exist yet: Open creates it.
  fs::path root() const { return dir_.path() / "snapshots"; }

  SnapshotStoreOptions Options(int keep = 3) const {
    SnapshotStoreOptions options;
    options.dir = root();
    options.keep = keep;
    options.fsync = false;  // the tests do not cut the power
    return options;
  }

  std::unique_ptr<SnapshotStore> Open(const SnapshotStoreOptions& options) {
    Result<std::unique_ptr<SnapshotStore>> store = SnapshotStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  std::string Write(SnapshotStore& store, const Manifest& manifest,
                    std::map<std::string, std::string> files = {{"model.pt", "weights"}}) {
    Result<std::string> id = store.Write(manifest, Files(std::move(files)));
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : "";
  }

  // Writes one snapshot with a few files and returns its directory.
  fs::path WriteOne() {
    std::unique_ptr<SnapshotStore> store = Open(Options());
    const std::string id = Write(*store, SampleManifest(7),
                                 {{"model.pt", std::string(5000, 'm')}, {"items.bin", "abc"}});
    return store->PathOf(id);
  }

  testing::ScopedTempDir dir_{"snapshot_test"};
};

TEST_F(SnapshotStoreTest, ManifestRoundTripsEveryField) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  ASSERT_NE(store, nullptr);
  const Manifest written = SampleManifest(12345);
  const std::string id = Write(*store, written, {{"model.pt", "0123456789"}, {"empty.bin", ""}});

  Result<Manifest> read = ReadManifest(store->PathOf(id));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->format_version, kManifestFormatVersion);
  EXPECT_EQ(read->id, id);
  EXPECT_GT(read->created_unix_ms, 0);
  EXPECT_EQ(read->step, written.step);
  EXPECT_EQ(read->events_trained, written.events_trained);
  EXPECT_EQ(read->trained_digest, written.trained_digest);
  EXPECT_EQ(read->offsets, written.offsets);
  EXPECT_EQ(read->model_config, written.model_config);
  EXPECT_EQ(read->metrics, written.metrics);
  ASSERT_EQ(read->files.size(), 2u);
  // Sorted by name; XXH3-64 of the empty input is a published test vector.
  EXPECT_EQ(read->files[0], (FileEntry{"empty.bin", 0, "2d06800538d394c2"}));
  EXPECT_EQ(read->files[1].name, "model.pt");
  EXPECT_EQ(read->files[1].bytes, 10);
  EXPECT_EQ(read->files[1].xxh3_64.size(), 16u);
}

TEST_F(SnapshotStoreTest, ManifestIsPrettyJsonWithPartitionsAsKeys) {
  const fs::path snapshot = WriteOne();
  const std::string text = ReadText(snapshot / "manifest.json");
  EXPECT_NE(text.find("\n  \"format_version\": 1,\n"), std::string::npos) << text;
  const json parsed = json::parse(text);
  EXPECT_EQ(parsed["offsets"]["hm.examples"]["1"], 456) << text;
  EXPECT_EQ(parsed["offsets"]["hm.examples"]["10"], 7) << text;
}

// The MLflow run that trained the snapshot: written when known, absent otherwise (as in
// manifests of earlier builds, which read as before).
TEST_F(SnapshotStoreTest, ManifestCarriesTheMlflowRunIdOnlyWhenThereIsOne) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  ASSERT_NE(store, nullptr);
  Manifest tracked = SampleManifest(3);
  tracked.mlflow_run_id = "0123456789abcdef0123456789abcdef";
  const std::string with_run = Write(*store, tracked);
  Result<Manifest> read = ReadManifest(store->PathOf(with_run));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->mlflow_run_id, tracked.mlflow_run_id);

  const std::string without = Write(*store, SampleManifest(4));
  const fs::path untracked = store->PathOf(without);
  EXPECT_EQ(ReadText(untracked / "manifest.json").find("mlflow_run_id"), std::string::npos);
  read = ReadManifest(untracked);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(read->mlflow_run_id, "");

  json manifest = json::parse(ReadText(untracked / "manifest.json"));
  manifest.erase(std::string(kManifestChecksumField));
  manifest["mlflow_run_id"] = 42;
  WriteText(untracked / "manifest.json", manifest.dump(2));
  read = ReadManifest(untracked);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(read.status().message().find("field 'mlflow_run_id': expected a string"),
            std::string::npos)
      << read.status().ToString();
}

TEST_F(SnapshotStoreTest, LatestIsEmptyBeforeTheFirstWrite) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  Result<std::optional<std::string>> latest = store->Latest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_FALSE(latest->has_value());
  EXPECT_FALSE(fs::exists(root() / "LATEST"));
}

TEST_F(SnapshotStoreTest, LatestNamesTheNewest) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  Write(*store, SampleManifest(1));
  Write(*store, SampleManifest(2));
  const std::string newest = Write(*store, SampleManifest(3));
  Result<std::optional<std::string>> latest = store->Latest();
  ASSERT_TRUE(latest.ok()) << latest.status().ToString();
  EXPECT_EQ(latest->value_or(""), newest);
  EXPECT_EQ(ReadText(root() / "LATEST"), newest + "\n");
}

TEST_F(SnapshotStoreTest, SnapshotIsReadableByOtherUsersAsTheUmaskAllows) {
  // Another user's serve or evaluate reads the snapshots: not mkdtemp's 0700.
  for (const mode_t mask : {mode_t{022}, mode_t{027}}) {
    const mode_t previous = ::umask(mask);
    const fs::path snapshot = WriteOne();
    ::umask(previous);
    const auto mode = [](const fs::path& path) {
      return static_cast<mode_t>(fs::status(path).permissions() & fs::perms::all);
    };
    EXPECT_EQ(mode(snapshot), 0777 & ~mask) << snapshot << " umask " << std::oct << mask;
    EXPECT_EQ(mode(snapshot / "model.pt"), 0644 & ~mask) << "umask " << std::oct << mask;
    fs::remove_all(root());
  }
}

TEST_F(SnapshotStoreTest, RetentionKeepsTheNewestN) {
  std::unique_ptr<SnapshotStore> store = Open(Options(/*keep=*/2));
  std::vector<std::string> ids;
  for (int step = 1; step <= 5; ++step) ids.push_back(Write(*store, SampleManifest(step)));
  EXPECT_EQ(store->List(), (std::vector<std::string>{ids[3], ids[4]}));
  EXPECT_TRUE(store->prune_status().ok()) << store->prune_status().ToString();
  EXPECT_FALSE(HasTempEntries(root()));  // deleted snapshots leave nothing behind
}

TEST_F(SnapshotStoreTest, RetentionNeverDeletesLatestEvenWhenItSortsOldest) {
  // The clock goes back between the writes, so the newest snapshot sorts first in List.
  SnapshotStoreOptions options = Options(/*keep=*/1);
  auto now = FixedTime();
  options.clock = [&now] { return now; };
  std::unique_ptr<SnapshotStore> store = Open(options);
  const std::string first = Write(*store, SampleManifest(1));
  now -= std::chrono::hours(1);
  const std::string second = Write(*store, SampleManifest(2));
  EXPECT_EQ(store->List(), std::vector<std::string>{second});
  EXPECT_TRUE(fs::exists(store->PathOf(second) / "manifest.json"));
}

TEST_F(SnapshotStoreTest, FailingPayloadLeavesEverythingAsItWas) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  const std::string before = Write(*store, SampleManifest(1));
  const std::set<std::string> entries = Entries(root());

  Result<std::string> failed = store->Write(SampleManifest(2), [](const fs::path& dir) {
    WriteText(dir / "model.pt", "half");
    return Status::IoError("disk full while saving the model");
  });
  ASSERT_FALSE(failed.ok());
  EXPECT_EQ(failed.status().code(), StatusCode::kIoError);
  EXPECT_NE(failed.status().message().find("disk full"), std::string::npos)
      << failed.status().ToString();
  EXPECT_EQ(Entries(root()), entries);
  EXPECT_EQ(ReadText(root() / "LATEST"), before + "\n");
}

TEST_F(SnapshotStoreTest, PayloadWithASubdirectoryIsRejected) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  const std::set<std::string> entries = Entries(root());
  Result<std::string> id = store->Write(SampleManifest(1), [](const fs::path& dir) {
    fs::create_directory(dir / "tables");
    return Status::Ok();
  });
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("tables"), std::string::npos) << id.status().ToString();
  EXPECT_EQ(Entries(root()), entries);
}

TEST_F(SnapshotStoreTest, PayloadMayNotWriteTheManifest) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  Result<std::string> id = store->Write(SampleManifest(1), Files({{"manifest.json", "{}"}}));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument) << id.status().ToString();
  EXPECT_FALSE(HasTempEntries(root()));
}

TEST_F(SnapshotStoreTest, WriteRejectsANegativeOffset) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  Manifest manifest = SampleManifest(1);
  manifest.offsets["hm.examples"][2] = -1;
  Result<std::string> id = store->Write(manifest, Files({}));
  ASSERT_FALSE(id.ok());
  EXPECT_EQ(id.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("offsets.hm.examples.2"), std::string::npos)
      << id.status().ToString();
}

TEST_F(SnapshotStoreTest, OpenRemovesLeftoversOfCrashedWrites) {
  fs::create_directories(root() / ".tmp-a1b2c3");
  WriteText(root() / ".tmp-a1b2c3" / "model.pt", "half written");
  fs::create_directories(root() / ".tmp-deleting-s000000000001-20261129T101500.123Z");
  WriteText(root() / "LATEST.tmp", "s0000");
  fs::create_directories(root() / "notes");  // not the store's: left alone

  std::unique_ptr<SnapshotStore> store = Open(Options());
  EXPECT_EQ(Entries(root()), (std::set<std::string>{"LOCK", "notes"}));
}

TEST_F(SnapshotStoreTest, SecondStoreOnTheSameRootIsRefusedWhileTheFirstIsOpen) {
  std::unique_ptr<SnapshotStore> first = Open(Options());
  Result<std::unique_ptr<SnapshotStore>> second = SnapshotStore::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kFailedPrecondition);
  first.reset();
  EXPECT_TRUE(SnapshotStore::Open(Options()).ok());
}

TEST_F(SnapshotStoreTest, OptionsAreValidated) {
  SnapshotStoreOptions options = Options(/*keep=*/0);
  EXPECT_EQ(SnapshotStore::Open(options).status().code(), StatusCode::kInvalidArgument);
  options = Options();
  options.dir.clear();
  EXPECT_EQ(SnapshotStore::Open(options).status().code(), StatusCode::kInvalidArgument);
}

TEST_F(SnapshotStoreTest, VerifyAcceptsAnIntactSnapshot) {
  const fs::path snapshot = WriteOne();
  const Status verified = VerifySnapshot(snapshot);
  EXPECT_TRUE(verified.ok()) << verified.ToString();
}

TEST_F(SnapshotStoreTest, VerifyCatchesAFlippedByte) {
  const fs::path snapshot = WriteOne();
  std::string content = ReadText(snapshot / "model.pt");
  content[2500] ^= 0x01;
  WriteText(snapshot / "model.pt", content);
  const Status verified = VerifySnapshot(snapshot);
  EXPECT_EQ(verified.code(), StatusCode::kCorruption) << verified.ToString();
  EXPECT_NE(verified.message().find("model.pt: XXH3-64"), std::string::npos) << verified.ToString();
}

TEST_F(SnapshotStoreTest, VerifyCatchesATruncatedFile) {
  const fs::path snapshot = WriteOne();
  fs::resize_file(snapshot / "model.pt", 4000);
  const Status verified = VerifySnapshot(snapshot);
  EXPECT_EQ(verified.code(), StatusCode::kCorruption) << verified.ToString();
  EXPECT_NE(verified.message().find("model.pt: 4000 bytes, manifest.json says 5000"),
            std::string::npos)
      << verified.ToString();
}

TEST_F(SnapshotStoreTest, VerifyCatchesAMissingFile) {
  const fs::path snapshot = WriteOne();
  fs::remove(snapshot / "items.bin");
  const Status verified = VerifySnapshot(snapshot);
  EXPECT_EQ(verified.code(), StatusCode::kCorruption) << verified.ToString();
  EXPECT_NE(verified.message().find("items.bin: listed in manifest.json but missing"),
            std::string::npos)
      << verified.ToString();
}

// The fields a later build may add are part of what its checksum covers.
TEST_F(SnapshotStoreTest, UnknownManifestFieldsAreTolerated) {
  const fs::path snapshot = WriteOne();
  json manifest = json::parse(ReadText(snapshot / "manifest.json"));
  manifest.erase(std::string(kManifestChecksumField));
  manifest["written_by"] = "a future towerstream";
  manifest["files"][0]["compression"] = "none";
  manifest[std::string(kManifestChecksumField)] = internal::Xxh3Hex(manifest.dump());
  WriteText(snapshot / "manifest.json", manifest.dump(2));
  Result<Manifest> read = ReadManifest(snapshot);
  EXPECT_TRUE(read.ok()) << read.status().ToString();
  const Status verified = VerifySnapshot(snapshot);
  EXPECT_TRUE(verified.ok()) << verified.ToString();
}

// A manifest edit and what ReadManifest must say about it.
struct BadManifestCase {
  std::string description;
  std::function<void(json&)> edit;
  StatusCode code;
  std::string message;  // must appear in the error message
};

TEST_F(SnapshotStoreTest, ReadManifestRejectsBadManifestsClearly) {
  const fs::path snapshot = WriteOne();
  const std::string good = ReadText(snapshot / "manifest.json");
  const std::vector<BadManifestCase> cases = {
      {"unknown version", [](json& m) { m["format_version"] = 2; }, StatusCode::kFailedPrecondition,
       "format_version 2 is not supported"},
      {"missing version", [](json& m) { m.erase("format_version"); }, StatusCode::kCorruption,
       "field 'format_version': missing"},
      {"missing step", [](json& m) { m.erase("step"); }, StatusCode::kCorruption,
       "field 'step': missing"},
      {"missing offsets", [](json& m) { m.erase("offsets"); }, StatusCode::kCorruption,
       "field 'offsets': missing"},
      {"missing files", [](json& m) { m.erase("files"); }, StatusCode::kCorruption,
       "field 'files': missing"},
      {"step as string", [](json& m) { m["step"] = "7"; }, StatusCode::kCorruption,
       "field 'step': expected an integer, got string"},
      {"negative events", [](json& m) { m["events_trained"] = -5; }, StatusCode::kCorruption,
       "field 'events_trained': -5 is negative"},
      {"bad partition", [](json& m) { m["offsets"]["hm.examples"]["x"] = 1; },
       StatusCode::kCorruption, "field 'offsets.hm.examples.x'"},
      {"metrics not object", [](json& m) { m["metrics"] = json::array(); }, StatusCode::kCorruption,
       "field 'metrics': expected an object, got array"},
      {"file without hash", [](json& m) { m["files"][1].erase("xxh3_64"); },
       StatusCode::kCorruption, "field 'files[1].xxh3_64': missing"},
      {"uppercase hash", [](json& m) { m["files"][0]["xxh3_64"] = "ABCDEF0123456789"; },
       StatusCode::kCorruption, "not 16 lowercase hexadecimal digits"},
      {"file escaping the dir", [](json& m) { m["files"][0]["name"] = "../LATEST"; },
       StatusCode::kCorruption, "field 'files[0].name'"},
      {"file listed twice", [](json& m) { m["files"][1] = m["files"][0]; }, StatusCode::kCorruption,
       "listed twice"},
  };
  for (const BadManifestCase& c : cases) {
    // The field checks, on manifests without the checksum (as builds before it wrote them).
    json manifest = json::parse(good);
    manifest.erase(std::string(kManifestChecksumField));
    c.edit(manifest);
    WriteText(snapshot / "manifest.json", manifest.dump(2));
    Result<Manifest> read = ReadManifest(snapshot);
    ASSERT_FALSE(read.ok()) << c.description;
    EXPECT_EQ(read.status().code(), c.code) << c.description << ": " << read.status().ToString();
    EXPECT_NE(read.status().message().find(c.message), std::string::npos)
        << c.description << ": " << read.status().ToString();
    EXPECT_NE(read.status().message().find((snapshot / "manifest.json").string()),
              std::string::npos)
        << c.description << ": " << read.status().ToString();
  }
}

TEST_F(SnapshotStoreTest, ReadManifestCatchesAHandEditThroughItsChecksum) {
  const fs::path snapshot = WriteOne();
  const std::string good = ReadText(snapshot / "manifest.json");
  ASSERT_NE(good.find(kManifestChecksumField), std::string::npos);
  ASSERT_TRUE(ReadManifest(snapshot).ok());
  // A plausible edit: the count of examples trained, which no payload checksum covers.
  json manifest = json::parse(good);
  manifest["events_trained"] = manifest["events_trained"].get<int64_t>() + 1000;
  WriteText(snapshot / "manifest.json", manifest.dump(2));
  const Result<Manifest> read = ReadManifest(snapshot);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  EXPECT_NE(read.status().message().find("the manifest was edited or damaged"), std::string::npos)
      << read.status().ToString();
  // Re-indented but unchanged, it still reads: the checksum covers the content, not the layout.
  WriteText(snapshot / "manifest.json", json::parse(good).dump());
  EXPECT_TRUE(ReadManifest(snapshot).ok());
}

TEST_F(SnapshotStoreTest, ReadManifestRejectsInvalidJson) {
  const fs::path snapshot = WriteOne();
  WriteText(snapshot / "manifest.json", "{\"format_version\": 1,");
  Result<Manifest> read = ReadManifest(snapshot);
  ASSERT_FALSE(read.ok());
  EXPECT_EQ(read.status().code(), StatusCode::kCorruption);
  EXPECT_NE(read.status().message().find("manifest.json: not valid JSON"), std::string::npos)
      << read.status().ToString();
}

TEST_F(SnapshotStoreTest, ResolveTurnsARootIntoItsLatestSnapshot) {
  std::unique_ptr<SnapshotStore> store = Open(Options());
  Write(*store, SampleManifest(1));
  const std::string newest = Write(*store, SampleManifest(2));
  Result<fs::path> resolved = ResolveSnapshot(root());
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_EQ(*resolved, root() / newest);
}

TEST_F(SnapshotStoreTest, ResolveKeepsASnapshotDirectory) {
  const fs::path snapshot = WriteOne();
  Result<fs::path> resolved = ResolveSnapshot(snapshot);
  ASSERT_TRUE(resolved.ok()) << resolved.status().ToString();
  EXPECT_EQ(*resolved, snapshot);
}

TEST_F(SnapshotStoreTest, ResolveRejectsWhatIsNeitherRootNorSnapshot) {
  fs::create_directories(dir_.path() / "empty");
  WriteText(dir_.path() / "file.txt", "x");
  for (const fs::path& path :
       {dir_.path() / "no-such-dir", dir_.path() / "empty", dir_.path() / "file.txt"}) {
    Result<fs::path> resolved = ResolveSnapshot(path);
    ASSERT_FALSE(resolved.ok()) << path;
    EXPECT_EQ(resolved.status().code(), StatusCode::kNotFound) << path;
    EXPECT_NE(resolved.status().message().find("expected a snapshot directory"), std::string::npos)
        << resolved.status().ToString();
  }
}

TEST_F(SnapshotStoreTest, ResolveReportsALatestThatNamesNothing) {
  fs::create_directories(root());
  WriteText(root() / "LATEST", "s000000000009-20261129T101500.123Z\n");
  Result<fs::path> resolved = ResolveSnapshot(root());
  ASSERT_FALSE(resolved.ok());
  EXPECT_EQ(resolved.status().code(), StatusCode::kCorruption) << resolved.status().ToString();
}

TEST_F(SnapshotStoreTest, IdCarriesTheStepAndUtcTime) {
  SnapshotStoreOptions options = Options();
  options.clock = FixedTime;
  std::unique_ptr<SnapshotStore> store = Open(options);
  EXPECT_EQ(Write(*store, SampleManifest(12345)), "s000000012345-20261129T101500.123Z");
}

TEST_F(SnapshotStoreTest, IdsSharingStepAndTimeAreUniqueAndSortInWriteOrder) {
  SnapshotStoreOptions options = Options(/*keep=*/20);
  options.clock = FixedTime;  // every write gets the same millisecond
  std::unique_ptr<SnapshotStore> store = Open(options);
  std::vector<std::string> ids;
  for (int i = 0; i < 12; ++i) ids.push_back(Write(*store, SampleManifest(5)));
  EXPECT_EQ(ids[0], "s000000000005-20261129T101500.123Z");
  EXPECT_EQ(ids[1], "s000000000005-20261129T101500.123Z-2");
  EXPECT_EQ(ids[11], "s000000000005-20261129T101500.123Z-12");
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  EXPECT_EQ(store->List(), ids);
  EXPECT_EQ(store->Latest()->value_or(""), ids.back());
}

TEST_F(SnapshotStoreTest, IdsOfQuickSuccessiveWritesAtOneStepSortAsStrings) {
  std::unique_ptr<SnapshotStore> store = Open(Options(/*keep=*/10));
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(Write(*store, SampleManifest(42)));
  const std::regex pattern(R"(s000000000042-\d{8}T\d{6}\.\d{3}Z(-[2-9])?)");
  for (const std::string& id : ids) EXPECT_TRUE(std::regex_match(id, pattern)) << id;
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), ids.size());
  EXPECT_EQ(store->List(), ids);
}

}  // namespace
}  // namespace towerstream::snapshot
