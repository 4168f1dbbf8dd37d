// A small tmpfs for tests of what happens when a disk fills up: mounted on a directory, then
// filled with a file until only `free_bytes` are left; Fill() takes the rest, FreeSpace()
// removes the filler, and the destructor unmounts. Mounting needs root: Mount() says why when
// it cannot, so that the test can skip with that message.
#pragma once

#include <sys/mount.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

namespace towerstream::testing {

class SmallDisk {
 public:
  // Mounts a tmpfs of `size_bytes` on `dir` (created if missing) and leaves `free_bytes` free
  // (rounded down to 4 KiB pages). Null, with `*why` set, when it cannot be mounted.
  static std::unique_ptr<SmallDisk> Mount(const std::filesystem::path& dir, int64_t size_bytes,
                                          int64_t free_bytes, std::string* why) {
    std::filesystem::create_directories(dir);
    const std::string options = "size=" + std::to_string(size_bytes);
    if (::mount("tmpfs", dir.c_str(), "tmpfs", 0, options.c_str()) != 0) {
      *why = "needs to mount a small tmpfs (as root): " + std::string(std::strerror(errno));
      return nullptr;
    }
    std::unique_ptr<SmallDisk> disk(new SmallDisk(dir));
    std::ofstream out(disk->filler(), std::ios::binary);
    const std::string block(4096, 'x');
    for (int64_t left = size_bytes - free_bytes; left >= 4096; left -= 4096) {
      out.write(block.data(), static_cast<std::streamsize>(block.size()));
    }
    return disk;
  }

  ~SmallDisk() { ::umount2(dir_.c_str(), MNT_DETACH); }
  SmallDisk(const SmallDisk&) = delete;
  SmallDisk& operator=(const SmallDisk&) = delete;

  // Takes every byte still free (appending to the filler until the disk refuses).
  void Fill() const {
    std::ofstream out(filler(), std::ios::binary | std::ios::app);
    const std::string block(4096, 'x');
    while (out.write(block.data(), static_cast<std::streamsize>(block.size())) && out.flush()) {
    }
    out.clear();
    out.write(block.data(), 1);  // and the last partial page
  }
  void FreeSpace() const { std::filesystem::remove(filler()); }
  const std::filesystem::path& dir() const { return dir_; }

 private:
  explicit SmallDisk(std::filesystem::path dir) : dir_(std::move(dir)) {}
  std::filesystem::path filler() const { return dir_ / "filler"; }

  std::filesystem::path dir_;
};

}  // namespace towerstream::testing
