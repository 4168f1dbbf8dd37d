// Durable, crash-safe snapshot directories (docs/design.md §7): <root>/<id>/ with manifest.json.
//
// A SnapshotStore owns one snapshot root and is its only writer: Open takes an exclusive lock
// (<root>/LOCK, released by the kernel when the process dies) so that two trainers cannot race
// on the same root. A snapshot becomes visible only when complete and fsynced (written under
// <root>/.tmp-*, then renamed), and LATEST is replaced atomically, so a crash at any moment
// leaves LATEST naming a complete snapshot, or no LATEST if none was ever completed. Readers
// (evaluate, serve) need no store: ResolveSnapshot, ReadManifest and VerifySnapshot.
// Not thread-safe (one writer thread); neither copyable nor movable.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/base/status.h"

namespace towerstream::snapshot {

inline constexpr int kManifestFormatVersion = 1;
inline constexpr std::string_view kManifestFileName = "manifest.json";
inline constexpr std::string_view kLatestFileName = "LATEST";
// manifest.json's own checksum: XXH3-64 of its other fields (compact JSON, keys sorted).
inline constexpr std::string_view kManifestChecksumField = "manifest_xxh3_64";

// One payload file of a snapshot.
struct FileEntry {
  std::string name;     // plain file name inside the snapshot directory
  int64_t bytes = 0;    // size
  std::string xxh3_64;  // XXH3-64 of the content, 16 lowercase hex digits

  bool operator==(const FileEntry&) const = default;
};

// The contents of manifest.json. The trainer fills in the training state; the store fills in
// format_version, id, created_unix_ms and files when it writes the snapshot.
struct Manifest {
  int format_version = kManifestFormatVersion;
  std::string id;               // set by the store
  int64_t created_unix_ms = 0;  // set by the store
  int64_t step = 0;             // training steps done; >= 0
  int64_t events_trained = 0;   // examples trained on in total; >= 0
  // Opaque to the store: the trainer's order-independent hash of the trained event ids.
  std::string trained_digest;
  // topic -> partition -> next offset to read; partitions and offsets >= 0.
  std::map<std::string, std::map<int32_t, int64_t>> offsets;
  // Opaque to the store, but each must be a JSON object.
  nlohmann::json model_config = nlohmann::json::object();
  nlohmann::json metrics = nlohmann::json::object();
  // The MLflow run that trained it (`evaluate --mlflow-uri` logs to it); empty: none, or not
  // known yet when the snapshot was written. Optional in manifest.json (absent when empty).
  std::string mlflow_run_id;
  // The trainer group that wrote it, opaque to the store but an object when present: its size
  // and each rank's partitions, events trained and digest (docs/design.md, "Trainers as a
  // group"). Null for a single trainer's snapshot (absent from manifest.json).
  nlohmann::json group = nullptr;
  // Set by the store: every payload file (not manifest.json), sorted by name.
  std::vector<FileEntry> files;

  bool operator==(const Manifest&) const = default;
};

struct SnapshotStoreOptions {
  // The snapshot root (--snapshot-dir); created, with its parents, if missing.
  std::filesystem::path dir;
  // Complete snapshots kept: after each write the oldest are deleted until `keep` remain, never
  // the one LATEST names nor a protected one (Protect). More keeps more rollback points at the cost
  // of disk space.
  int keep = 3;
  // fsync files and directories. Without it a power loss (not a process crash) can leave LATEST
  // naming a snapshot whose data never reached the disk; off is only for tests and benchmarks.
  bool fsync = true;
  // The time stamped into ids and created_unix_ms; null means the system clock. Tests pass a
  // fixed clock to make ids collide on purpose.
  std::function<std::chrono::system_clock::time_point()> clock;

  Status Validate() const;
};

class SnapshotStore {
 public:
  // The payload writer given to Write: writes plain files (no subdirectories, no links, not
  // manifest.json) into `dir`, which exists and is empty. Need not fsync: the store does.
  using PayloadWriter = std::function<Status(const std::filesystem::path& dir)>;

  // Creates options.dir if needed, locks it (FailedPrecondition if another SnapshotStore,
  // in this or another process, holds it), and removes what crashed writes left behind
  // (.tmp-* directories, LATEST.tmp).
  static Result<std::unique_ptr<SnapshotStore>> Open(const SnapshotStoreOptions& options);

  ~SnapshotStore();
  SnapshotStore(const SnapshotStore&) = delete;
  SnapshotStore& operator=(const SnapshotStore&) = delete;

  // Writes a snapshot of `manifest` plus the files `write_payload` writes, makes LATEST name
  // it, prunes beyond `keep`, and returns its id: s<step, 12 digits>-<UTC time to the ms>,
  // e.g. "s000000012345-20261129T101500.123Z", with "-2", "-3"... appended if that id exists
  // (same step in the same millisecond). Ids sort as strings by step, then time (up to a
  // suffix of -9; List() compares suffixes as numbers).
  // On error (bad manifest, write_payload failing, I/O) LATEST and the visible snapshots are
  // left as they were and nothing temporary stays behind, except where the error is that the
  // new LATEST could not be fsynced: then LATEST may already name the new, complete snapshot.
  // The snapshot folder's mode is 0777 less the umask (0755 with 022), so that other users'
  // readers (serve, evaluate) can open it; its files are created likewise (0644).
  Result<std::string> Write(Manifest manifest, const PayloadWriter& write_payload);

  // The id LATEST names (checked to be a snapshot with a manifest); nullopt if there is no
  // LATEST yet.
  Result<std::optional<std::string>> Latest() const;
  // Complete snapshots (directories named like store ids, holding manifest.json), oldest
  // first: by the creation time in the id, then step, then suffix. Other directories a user
  // put in the root are neither listed nor pruned.
  std::vector<std::string> List() const;
  std::filesystem::path PathOf(std::string_view id) const { return options_.dir / id; }
  const std::filesystem::path& root() const { return options_.dir; }

  // Pruning never deletes `id` (a snapshot a resuming run passed over as damaged: newer than
  // the one it resumed from, it is kept for inspection rather than silently pruned).
  void Protect(std::string id) { protected_.push_back(std::move(id)); }

  // The outcome of the pruning done by the last Write. Pruning failures do not fail Write (the
  // snapshot is durable by then); they are retried by the next Write.
  const Status& prune_status() const { return prune_status_; }

 private:
  explicit SnapshotStore(const SnapshotStoreOptions& options);

  Status Lock();
  Status RemoveLeftovers();
  std::string NewId(int64_t step, std::chrono::system_clock::time_point now) const;
  Status Prune();

  SnapshotStoreOptions options_;
  int lock_fd_ = -1;  // <root>/LOCK, flock'ed for the store's lifetime
  Status prune_status_;
  std::vector<std::string> protected_;  // never pruned (Protect)
};

// Reads and validates <snapshot_dir>/manifest.json. Corruption naming the file and the field on
// any problem (bad JSON, missing or mistyped field, bad file entry); FailedPrecondition for a
// format_version this build does not read. Unknown extra fields are ignored.
Result<Manifest> ReadManifest(const std::filesystem::path& snapshot_dir);

// Checks that every file the manifest lists exists with the listed size and XXH3-64 (files not
// listed are ignored). Corruption naming the file and what differs. Reads every payload file.
Status VerifySnapshot(const std::filesystem::path& snapshot_dir);

// Resolves a --snapshot PATH as users give it: a snapshot directory (has manifest.json) is
// returned as is; a snapshot root (has LATEST) resolves to the snapshot LATEST names. NotFound
// saying what was expected otherwise.
Result<std::filesystem::path> ResolveSnapshot(const std::filesystem::path& path);

}  // namespace towerstream::snapshot
