// POSIX file helpers of ts_snapshot (internal): owned descriptors, durable writes, fsync of
// directories and streaming checksums. Errors name the path and strerror.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream::snapshot::internal {

// Owns a file descriptor; closes it (ignoring errors) unless Close() already did. Move-only.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd();
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.Release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release();
  // Closes now and reports the error: close can be where a delayed write error surfaces.
  Status Close(const std::filesystem::path& path);

 private:
  int fd_ = -1;
};

// IoError "<what> <path>: <strerror(err)>".
Status ErrnoError(std::string_view what, const std::filesystem::path& path, int err);

// Opens `path` with `flags` (O_CLOEXEC added), retrying on EINTR.
Result<UniqueFd> OpenFd(const std::filesystem::path& path, int flags, int mode = 0644);

// Creates or truncates `path`, writes `content`, fsyncs it when `sync`, and closes it.
Status WriteFile(const std::filesystem::path& path, std::string_view content, bool sync);

// fsyncs a directory, so that the entries created, renamed or removed in it are durable.
Status SyncDirectory(const std::filesystem::path& dir);

// rename(2); both paths named in the error.
Status Rename(const std::filesystem::path& from, const std::filesystem::path& to);

// Reads the whole of a small file (a manifest or a pointer). NotFound when it does not exist.
Result<std::string> ReadFile(const std::filesystem::path& path);

struct FileDigest {
  int64_t bytes = 0;
  std::string xxh3_64;  // 16 lowercase hex digits
};
// Streams `path` through XXH3-64 in fixed-size chunks (payloads can be hundreds of MB), then
// fsyncs it when `sync`. NotFound when it does not exist.
Result<FileDigest> DigestFile(const std::filesystem::path& path, bool sync);
// XXH3-64 of `bytes` as 16 lowercase hex digits.
std::string Xxh3Hex(std::string_view bytes);

// Removes `path` and everything under it; IoError naming it on failure.
Status RemoveTree(const std::filesystem::path& path);

}  // namespace towerstream::snapshot::internal
