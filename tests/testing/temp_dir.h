// A temporary directory for one test, removed with everything in it when the test ends.
#pragma once

#include <ftw.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace towerstream::testing {

class ScopedTempDir {
 public:
  explicit ScopedTempDir(std::string_view prefix = "towerstream_test") {
    static std::atomic<int> counter{0};
    path_ = std::filesystem::temp_directory_path() /
            (std::string(prefix) + "_" + std::to_string(::getpid()) + "_" +
             std::to_string(counter.fetch_add(1)));
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~ScopedTempDir() {
    // nftw, not std::filesystem::remove_all: the PyTorch wheel's libtorch.so (the GPU build)
    // exports a copy of remove_all(path, error_code&) that the dynamic linker binds first and
    // that jumps to a null address (seen on a GPU machine, torch 2.11).
    const auto remove = [](const char* file, const struct stat*, int, struct FTW*) {
      ::remove(file);
      return 0;
    };
    ::nftw(path_.c_str(), remove, /*nopenfd=*/16, FTW_DEPTH | FTW_PHYS);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }

  // Writes `content` to `name` inside the directory (binary: CRLF stays CRLF) and returns
  // the full path.
  std::string WriteFile(std::string_view name, std::string_view content) const {
    const std::filesystem::path file = path_ / name;
    std::ofstream out(file, std::ios::binary);
    out.write(content.data(), static_cast<std::streamsize>(content.size()));
    return file.string();
  }

 private:
  std::filesystem::path path_;
};

}  // namespace towerstream::testing
