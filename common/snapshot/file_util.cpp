// POSIX file helpers of ts_snapshot: the fsync/rename discipline the crash safety rests on.
#include "common/snapshot/file_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <memory>
#include <system_error>
#include <vector>

namespace towerstream::snapshot::internal {
namespace {

// Read size for hashing: large enough that XXH3 runs at memory speed, not syscall speed.
constexpr size_t kChunkBytes = 1 << 20;

}  // namespace

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.Release();
  }
  return *this;
}

int UniqueFd::Release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

Status UniqueFd::Close(const std::filesystem::path& path) {
  // Linux releases the descriptor even when close fails, so it is never retried (not on EINTR
  // either: the number may already belong to another thread's file).
  if (::close(Release()) != 0) return ErrnoError("close", path, errno);
  return Status::Ok();
}

Status ErrnoError(std::string_view what, const std::filesystem::path& path, int err) {
  return Status::IoError(std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

Result<UniqueFd> OpenFd(const std::filesystem::path& path, int flags, int mode) {
  int fd;
  do {
    fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
  } while (fd < 0 && errno == EINTR);
  if (fd < 0) {
    const int err = errno;
    if (err == ENOENT) return Status::NotFound(path.string() + ": " + std::strerror(err));
    return ErrnoError("open", path, err);
  }
  return UniqueFd(fd);
}

Status WriteFile(const std::filesystem::path& path, std::string_view content, bool sync) {
  TS_ASSIGN_OR_RETURN(UniqueFd fd, OpenFd(path, O_WRONLY | O_CREAT | O_TRUNC));
  while (!content.empty()) {
    const ssize_t n = ::write(fd.get(), content.data(), content.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("write", path, errno);
    }
    content.remove_prefix(static_cast<size_t>(n));
  }
  if (sync && ::fsync(fd.get()) != 0) return ErrnoError("fsync", path, errno);
  return fd.Close(path);
}

Status SyncDirectory(const std::filesystem::path& dir) {
  TS_ASSIGN_OR_RETURN(UniqueFd fd, OpenFd(dir, O_RDONLY | O_DIRECTORY));
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync", dir, errno);
  return fd.Close(dir);
}

Status Rename(const std::filesystem::path& from, const std::filesystem::path& to) {
  if (::rename(from.c_str(), to.c_str()) != 0) {
    return ErrnoError("rename", from.string() + " -> " + to.string(), errno);
  }
  return Status::Ok();
}

Result<std::string> ReadFile(const std::filesystem::path& path) {
  TS_ASSIGN_OR_RETURN(UniqueFd fd, OpenFd(path, O_RDONLY));
  std::string content;
  char buffer[1 << 14];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer, sizeof(buffer));
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) break;
    content.append(buffer, static_cast<size_t>(n));
  }
  return content;
}

Result<FileDigest> DigestFile(const std::filesystem::path& path, bool sync) {
  TS_ASSIGN_OR_RETURN(UniqueFd fd, OpenFd(path, O_RDONLY));
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(),
                                                                 &XXH3_freeState);
  if (state == nullptr || XXH3_64bits_reset(state.get()) != XXH_OK) {
    return Status::Internal("XXH3 state for " + path.string() + ": out of memory");
  }
  std::vector<char> buffer(kChunkBytes);
  int64_t bytes = 0;
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return ErrnoError("read", path, errno);
    }
    if (n == 0) break;
    if (XXH3_64bits_update(state.get(), buffer.data(), static_cast<size_t>(n)) != XXH_OK) {
      return Status::Internal("XXH3 update for " + path.string() + " failed");
    }
    bytes += n;
  }
  // fsync through a read-only descriptor flushes the file's data all the same (it acts on the
  // inode), which saves opening the file twice.
  if (sync && ::fsync(fd.get()) != 0) return ErrnoError("fsync", path, errno);
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016" PRIx64,
                static_cast<uint64_t>(XXH3_64bits_digest(state.get())));
  return FileDigest{bytes, hex};
}

std::string Xxh3Hex(std::string_view bytes) {
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016" PRIx64,
                static_cast<uint64_t>(XXH3_64bits(bytes.data(), bytes.size())));
  return hex;
}

Status RemoveTree(const std::filesystem::path& path) {
  std::error_code error;
  std::filesystem::remove_all(path, error);
  if (error) return Status::IoError("remove " + path.string() + ": " + error.message());
  return Status::Ok();
}

}  // namespace towerstream::snapshot::internal
