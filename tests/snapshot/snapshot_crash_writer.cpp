// A snapshot writer for the crash test: writes snapshots of random content with fsync on, in a
// loop, until killed. Resumes from the step of the snapshot LATEST names, like a trainer.
//
// Usage: snapshot_crash_writer ROOT SEED
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <string>

#include "common/snapshot/snapshot_store.h"

namespace towerstream::snapshot {
namespace {

constexpr int64_t kMaxFileBytes = 2 << 20;

// Random bytes: the checksums in the manifest can only come from hashing what was written.
Status WriteRandomFile(const std::filesystem::path& path, int64_t bytes, std::mt19937_64& rng) {
  std::string content(static_cast<size_t>(bytes), '\0');
  for (size_t i = 0; i < content.size(); i += 8) {
    const uint64_t word = rng();
    for (size_t j = 0; j < 8 && i + j < content.size(); ++j) {
      content[i + j] = static_cast<char>(word >> (8 * j));
    }
  }
  std::ofstream out(path, std::ios::binary);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
  out.close();
  if (!out) return Status::IoError("write " + path.string());
  return Status::Ok();
}

int Run(const std::filesystem::path& root, uint64_t seed) {
  SnapshotStoreOptions options;
  options.dir = root;
  options.keep = 3;
  options.fsync = true;
  Result<std::unique_ptr<SnapshotStore>> store = SnapshotStore::Open(options);
  if (!store.ok()) {
    std::fprintf(stderr, "snapshot_crash_writer: %s\n", store.status().ToString().c_str());
    return 2;
  }
  int64_t step = 0;
  Result<std::optional<std::string>> latest = (*store)->Latest();
  if (!latest.ok()) {
    std::fprintf(stderr, "snapshot_crash_writer: %s\n", latest.status().ToString().c_str());
    return 2;
  }
  if (latest->has_value()) {
    Result<Manifest> manifest = ReadManifest((*store)->PathOf(**latest));
    if (!manifest.ok()) {
      std::fprintf(stderr, "snapshot_crash_writer: %s\n", manifest.status().ToString().c_str());
      return 2;
    }
    step = manifest->step;
  }

  std::mt19937_64 rng(seed ^ static_cast<uint64_t>(step));
  for (;;) {
    ++step;
    Manifest manifest;
    manifest.step = step;
    manifest.events_trained = step * 512;
    manifest.trained_digest = std::to_string(rng());
    manifest.offsets["hm.examples"] = {{0, step * 10}, {1, step * 10 + 1}};
    manifest.model_config = {{"embedding_dim", 64}};
    manifest.metrics = {{"loss", 1.0 / static_cast<double>(step)}};
    Result<std::string> id = (*store)->Write(manifest, [&](const std::filesystem::path& dir) {
      // step.txt lets the test check that a payload belongs to its manifest.
      std::ofstream(dir / "step.txt") << step;
      const int files = 1 + static_cast<int>(rng() % 3);
      for (int i = 0; i < files; ++i) {
        const auto bytes = static_cast<int64_t>(rng() % (kMaxFileBytes + 1));
        TS_RETURN_IF_ERROR(
            WriteRandomFile(dir / ("part-" + std::to_string(i) + ".bin"), bytes, rng));
      }
      return Status::Ok();
    });
    if (!id.ok()) {
      std::fprintf(stderr, "snapshot_crash_writer: %s\n", id.status().ToString().c_str());
      return 1;
    }
    if (!(*store)->prune_status().ok()) {
      std::fprintf(stderr, "snapshot_crash_writer: %s\n",
                   (*store)->prune_status().ToString().c_str());
      return 1;
    }
  }
}

}  // namespace
}  // namespace towerstream::snapshot

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s ROOT SEED\n", argv[0]);
    return 2;
  }
  return towerstream::snapshot::Run(argv[1], std::strtoull(argv[2], nullptr, 10));
}
