// SnapshotStore: temporary directory, fsync, rename, atomic LATEST, retention; and
// ResolveSnapshot for readers.
#include "common/snapshot/snapshot_store.h"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <ctime>
#include <system_error>
#include <tuple>
#include <utility>

#include "common/snapshot/file_util.h"
#include "common/snapshot/manifest_codec.h"

namespace towerstream::snapshot {
namespace {

namespace fs = std::filesystem;

// Everything in the root starting with this is temporary: a write in progress or crashed, or a
// snapshot being deleted. Open removes them; List never shows them.
constexpr std::string_view kTempPrefix = ".tmp-";
constexpr std::string_view kLatestTempFileName = "LATEST.tmp";
constexpr std::string_view kLockFileName = "LOCK";
constexpr size_t kStepDigits = 12;

// The process's umask, read without changing it (umask(2) can only set it, and setting it
// twice races with other threads creating files): Linux reports it in /proc/self/status since
// 4.7. 022, the usual default, where it cannot be read.
mode_t CurrentUmask() {
  std::FILE* status = std::fopen("/proc/self/status", "re");
  if (status == nullptr) return 022;
  char line[256];
  unsigned mask = 022;
  while (std::fgets(line, sizeof(line), status) != nullptr) {
    if (std::sscanf(line, "Umask: %o", &mask) == 1) break;
  }
  std::fclose(status);
  return static_cast<mode_t>(mask & 0777);
}

// What List orders snapshots by, parsed from an id s<step>-<YYYYMMDD>T<HHMMSS>.<mmm>Z[-<n>].
struct IdKey {
  std::string time;  // fixed width, so it compares as the time it stands for
  int64_t step = 0;
  int64_t suffix = 1;  // the first snapshot of a name has none: 1

  auto Tie() const { return std::tie(time, step, suffix); }
};

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::optional<int64_t> ParseInt(std::string_view s) {
  int64_t value = 0;
  const auto [end, error] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (error != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<IdKey> ParseId(std::string_view name) {
  if (name.empty() || name[0] != 's') return std::nullopt;
  const size_t dash = name.find('-');
  if (dash == std::string_view::npos) return std::nullopt;
  const std::string_view step = name.substr(1, dash - 1);
  if (step.size() < kStepDigits || !AllDigits(step)) return std::nullopt;
  IdKey key;
  const std::optional<int64_t> step_value = ParseInt(step);
  if (!step_value) return std::nullopt;
  key.step = *step_value;

  // YYYYMMDDTHHMMSS.mmmZ, 'd' standing for a digit.
  constexpr std::string_view kTimePattern = "ddddddddTdddddd.dddZ";
  const std::string_view time = name.substr(dash + 1, kTimePattern.size());
  if (time.size() != kTimePattern.size()) return std::nullopt;
  for (size_t i = 0; i < time.size(); ++i) {
    const bool digit = time[i] >= '0' && time[i] <= '9';
    if (kTimePattern[i] == 'd' ? !digit : time[i] != kTimePattern[i]) return std::nullopt;
  }
  key.time = std::string(time);

  const std::string_view rest = name.substr(dash + 1 + kTimePattern.size());
  if (!rest.empty()) {
    const std::string_view digits = rest.substr(1);
    if (rest[0] != '-' || !AllDigits(digits) || digits[0] == '0') return std::nullopt;
    const std::optional<int64_t> suffix = ParseInt(digits);
    if (!suffix || *suffix < 2) return std::nullopt;
    key.suffix = *suffix;
  }
  return key;
}

std::string FormatId(int64_t step, std::chrono::system_clock::time_point now) {
  const int64_t ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  // Floor division: times before 1970 (a test's fixed clock) still format.
  const int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
  const auto millis = static_cast<int>(ms - seconds * 1000);
  const auto t = static_cast<std::time_t>(seconds);
  std::tm utc{};
  gmtime_r(&t, &utc);
  char buffer[80];
  std::snprintf(buffer, sizeof(buffer), "s%012" PRId64 "-%04d%02d%02dT%02d%02d%02d.%03dZ", step,
                utc.tm_year + 1900, utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min,
                utc.tm_sec, millis);
  return buffer;
}

bool IsFile(const fs::path& path) {
  std::error_code error;
  return fs::is_regular_file(path, error);
}

// The id in <root>/LATEST, checked to name a snapshot with a manifest; nullopt without LATEST.
Result<std::optional<std::string>> ReadLatestPointer(const fs::path& root) {
  const fs::path path = root / kLatestFileName;
  Result<std::string> text = internal::ReadFile(path);
  if (!text.ok()) {
    if (text.status().code() == StatusCode::kNotFound) return std::optional<std::string>();
    return text.status();
  }
  std::string id = std::move(text).value();
  // We write "<id>\n"; a hand-written pointer without the newline is fine too.
  if (!id.empty() && id.back() == '\n') id.pop_back();
  if (!internal::IsValidPayloadName(id) || id.find_first_of(" \t\r\n") != std::string::npos ||
      id.starts_with(kTempPrefix)) {
    return Status::Corruption(path.string() + ": expected a snapshot id and a newline, got '" + id +
                              "'");
  }
  if (!IsFile(root / id / kManifestFileName)) {
    return Status::Corruption(path.string() + " names '" + id + "', but " + (root / id).string() +
                              " has no manifest.json");
  }
  return std::optional<std::string>(std::move(id));
}

// Makes a snapshot invisible in one atomic step (a rename to a temporary name), then deletes
// it: a crash midway leaves a temporary directory for Open to remove, never a half-deleted
// snapshot under its id.
Status RemoveSnapshotDir(const fs::path& root, const std::string& id) {
  const fs::path doomed = root / (std::string(kTempPrefix) + "deleting-" + id);
  TS_RETURN_IF_ERROR(internal::Rename(root / id, doomed));
  return internal::RemoveTree(doomed);
}

// Removes a temporary directory when the write that made it fails, whatever the way out.
class TempDirCleanup {
 public:
  explicit TempDirCleanup(fs::path dir) : dir_(std::move(dir)) {}
  ~TempDirCleanup() {
    if (armed_) internal::RemoveTree(dir_).IgnoreError();
  }
  TempDirCleanup(const TempDirCleanup&) = delete;
  TempDirCleanup& operator=(const TempDirCleanup&) = delete;

  void Disarm() { armed_ = false; }

 private:
  fs::path dir_;
  bool armed_ = true;
};

// The payload files in `dir`, sorted; InvalidArgument for anything but plain files.
Result<std::vector<std::string>> PayloadNames(const fs::path& dir) {
  std::vector<std::string> names;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const std::string name = it->path().filename().string();
    const fs::file_type type = it->symlink_status(error).type();
    if (error) break;
    if (type != fs::file_type::regular) {
      return Status::InvalidArgument("snapshot payload: " + it->path().string() +
                                     " is not a plain file (payloads are flat files, no "
                                     "directories or links)");
    }
    if (!internal::IsValidPayloadName(name)) {
      return Status::InvalidArgument("snapshot payload: the payload may not write " + name +
                                     " (the store writes it)");
    }
    names.push_back(name);
  }
  if (error) return Status::IoError("list " + dir.string() + ": " + error.message());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

Status SnapshotStoreOptions::Validate() const {
  if (dir.empty()) return Status::InvalidArgument("snapshot store: dir is empty");
  if (keep < 1) {
    return Status::InvalidArgument("snapshot store: keep " + std::to_string(keep) + " is not >= 1");
  }
  return Status::Ok();
}

SnapshotStore::SnapshotStore(const SnapshotStoreOptions& options) : options_(options) {}

SnapshotStore::~SnapshotStore() {
  // Closing the descriptor releases the flock.
  if (lock_fd_ >= 0) ::close(lock_fd_);
}

Result<std::unique_ptr<SnapshotStore>> SnapshotStore::Open(const SnapshotStoreOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  std::error_code error;
  fs::create_directories(options.dir, error);
  if (error) {
    return Status::IoError("snapshot store: create " + options.dir.string() + ": " +
                           error.message());
  }
  std::unique_ptr<SnapshotStore> store(new SnapshotStore(options));
  TS_RETURN_IF_ERROR(store->Lock());
  TS_RETURN_IF_ERROR(store->RemoveLeftovers());
  return store;
}

Status SnapshotStore::Lock() {
  const fs::path path = options_.dir / kLockFileName;
  TS_ASSIGN_OR_RETURN(internal::UniqueFd fd, internal::OpenFd(path, O_RDWR | O_CREAT));
  int result;
  do {
    result = ::flock(fd.get(), LOCK_EX | LOCK_NB);
  } while (result != 0 && errno == EINTR);
  if (result != 0) {
    if (errno == EWOULDBLOCK) {
      return Status::FailedPrecondition("snapshot store " + options_.dir.string() +
                                        " is in use by another writer (" + path.string() +
                                        " is locked: is another trainer running on it?)");
    }
    return internal::ErrnoError("flock", path, errno);
  }
  lock_fd_ = fd.Release();
  return Status::Ok();
}

Status SnapshotStore::RemoveLeftovers() {
  std::error_code error;
  std::vector<fs::path> leftovers;
  for (fs::directory_iterator it(options_.dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with(kTempPrefix) || name == kLatestTempFileName) {
      leftovers.push_back(it->path());
    }
  }
  if (error) return Status::IoError("list " + options_.dir.string() + ": " + error.message());
  for (const fs::path& path : leftovers) TS_RETURN_IF_ERROR(internal::RemoveTree(path));
  return Status::Ok();
}

std::string SnapshotStore::NewId(int64_t step, std::chrono::system_clock::time_point now) const {
  const std::string base = FormatId(step, now);
  std::string id = base;
  for (int n = 2;; ++n) {
    std::error_code error;
    if (!fs::exists(fs::symlink_status(options_.dir / id, error))) return id;
    id = base + "-" + std::to_string(n);
  }
}

Result<std::string> SnapshotStore::Write(Manifest manifest, const PayloadWriter& write_payload) {
  TS_RETURN_IF_ERROR(internal::CheckManifestForWrite(manifest));
  const fs::path& root = options_.dir;

  std::string pattern = (root / (std::string(kTempPrefix) + "XXXXXX")).string();
  if (::mkdtemp(pattern.data()) == nullptr) return internal::ErrnoError("mkdtemp", pattern, errno);
  const fs::path temp = pattern;
  TempDirCleanup cleanup(temp);
  // mkdtemp makes the folder 0700; a snapshot is read by other users' processes (serve,
  // evaluate, a container's cli), so it gets a folder's usual mode under the umask (0755
  // with umask 022), as its files do.
  if (::chmod(temp.c_str(), 0777 & ~CurrentUmask()) != 0) {
    return internal::ErrnoError("chmod", temp, errno);
  }

  TS_RETURN_IF_ERROR(write_payload(temp).WithContext("snapshot payload"));
  TS_ASSIGN_OR_RETURN(const std::vector<std::string> names, PayloadNames(temp));
  manifest.files.clear();
  for (const std::string& name : names) {
    TS_ASSIGN_OR_RETURN(internal::FileDigest digest,
                        internal::DigestFile(temp / name, options_.fsync));
    manifest.files.push_back({name, digest.bytes, std::move(digest.xxh3_64)});
  }

  const auto now = options_.clock ? options_.clock() : std::chrono::system_clock::now();
  manifest.format_version = kManifestFormatVersion;
  manifest.id = NewId(manifest.step, now);
  manifest.created_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  TS_RETURN_IF_ERROR(internal::WriteFile(temp / kManifestFileName,
                                         internal::EncodeManifest(manifest), options_.fsync));
  if (options_.fsync) TS_RETURN_IF_ERROR(internal::SyncDirectory(temp));

  // From here the snapshot is complete and durable; the renames publish it.
  const std::string& id = manifest.id;
  TS_RETURN_IF_ERROR(internal::Rename(temp, root / id));
  cleanup.Disarm();
  // The root is synced before LATEST changes, so LATEST can never reach the disk ahead of the
  // directory it names.
  Status published = options_.fsync ? internal::SyncDirectory(root) : Status::Ok();
  const fs::path latest_temp = root / kLatestTempFileName;
  if (published.ok()) published = internal::WriteFile(latest_temp, id + "\n", options_.fsync);
  if (published.ok()) published = internal::Rename(latest_temp, root / kLatestFileName);
  if (!published.ok()) {
    // LATEST still names the previous snapshot: withdraw the new one so that the visible state
    // is as before the call.
    std::error_code ignored;
    fs::remove(latest_temp, ignored);
    RemoveSnapshotDir(root, id).IgnoreError();
    return published.WithContext("snapshot " + id);
  }
  if (options_.fsync) {
    TS_RETURN_IF_ERROR(internal::SyncDirectory(root).WithContext(
        "snapshot " + id + " (LATEST names it, but may not be durable)"));
  }

  prune_status_ = Prune();
  return manifest.id;
}

Result<std::optional<std::string>> SnapshotStore::Latest() const {
  return ReadLatestPointer(options_.dir);
}

std::vector<std::string> SnapshotStore::List() const {
  std::vector<std::pair<IdKey, std::string>> found;
  std::error_code error;
  for (fs::directory_iterator it(options_.dir, error), end; !error && it != end;
       it.increment(error)) {
    std::string name = it->path().filename().string();
    const std::optional<IdKey> key = ParseId(name);
    std::error_code type_error;
    if (!key || !it->is_directory(type_error) || it->is_symlink(type_error)) continue;
    if (!IsFile(it->path() / kManifestFileName)) continue;
    found.emplace_back(*key, std::move(name));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first.Tie() < b.first.Tie(); });
  std::vector<std::string> ids;
  ids.reserve(found.size());
  for (auto& [key, name] : found) ids.push_back(std::move(name));
  return ids;
}

Status SnapshotStore::Prune() {
  TS_ASSIGN_OR_RETURN(const std::optional<std::string> latest, Latest());
  const std::vector<std::string> ids = List();
  if (ids.size() <= static_cast<size_t>(options_.keep)) return Status::Ok();
  size_t excess = ids.size() - static_cast<size_t>(options_.keep);
  Status first_error;
  for (const std::string& id : ids) {
    if (excess == 0) break;
    if (id == latest || std::find(protected_.begin(), protected_.end(), id) != protected_.end()) {
      continue;
    }
    Status removed = RemoveSnapshotDir(options_.dir, id);
    if (!removed.ok() && first_error.ok()) first_error = removed.WithContext("prune");
    --excess;
  }
  return first_error;
}

Result<fs::path> ResolveSnapshot(const fs::path& path) {
  constexpr std::string_view kExpected =
      "expected a snapshot directory (with manifest.json) or a snapshot root (with LATEST)";
  std::error_code error;
  const fs::file_status status = fs::status(path, error);
  if (status.type() == fs::file_type::not_found) {
    return Status::NotFound(path.string() + " does not exist; " + std::string(kExpected));
  }
  if (error) return Status::IoError("stat " + path.string() + ": " + error.message());
  if (status.type() != fs::file_type::directory) {
    return Status::NotFound(path.string() + " is not a directory; " + std::string(kExpected));
  }
  if (IsFile(path / kManifestFileName)) return path;
  TS_ASSIGN_OR_RETURN(const std::optional<std::string> latest, ReadLatestPointer(path));
  if (!latest) {
    return Status::NotFound(path.string() + " has neither manifest.json nor LATEST; " +
                            std::string(kExpected) +
                            " (a root gets LATEST when its first snapshot completes)");
  }
  return path / *latest;
}

}  // namespace towerstream::snapshot
