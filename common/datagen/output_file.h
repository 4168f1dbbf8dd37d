// A CSV output file written through a large buffer, under a temporary name until committed.
//
// Rows are appended to an in-memory buffer and written with fwrite when it fills, so the
// generator makes few system calls. The file appears under its final name only on Commit(),
// so an interrupted run never leaves a file that looks complete. Owns its FILE*; move-only
// in spirit (neither copyable nor movable: hold it by unique_ptr). Not thread-safe.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string_view>

#include "common/base/status.h"

namespace towerstream::datagen {

class OutputFile {
 public:
  // Creates `path` + ".tmp" for writing; `buffer_bytes` is the write size.
  static Result<std::unique_ptr<OutputFile>> Create(const std::filesystem::path& path,
                                                    size_t buffer_bytes);
  OutputFile(const OutputFile&) = delete;
  OutputFile& operator=(const OutputFile&) = delete;
  // Removes the temporary file unless Commit() succeeded.
  ~OutputFile();

  // Appends `text` (shorter than the buffer). Write errors are kept and reported by Commit().
  void Append(std::string_view text) {
    if (size_ + text.size() > capacity_) Flush();
    std::memcpy(buffer_.get() + size_, text.data(), text.size());
    size_ += text.size();
  }
  // Room for `n` bytes (n < buffer size) to fill in place, then Advance(written).
  char* Reserve(size_t n) {
    if (size_ + n > capacity_) Flush();
    return buffer_.get() + size_;
  }
  void Advance(size_t n) { size_ += n; }

  // Writes what is buffered, closes, and renames to the final name.
  Status Commit();

  int64_t bytes() const { return written_ + static_cast<int64_t>(size_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  OutputFile(std::filesystem::path path, std::filesystem::path temp, std::FILE* file,
             size_t buffer_bytes);
  void Flush();

  std::filesystem::path path_;
  std::filesystem::path temp_;
  struct FileCloser {
    void operator()(std::FILE* f) const { std::fclose(f); }
  };
  std::unique_ptr<std::FILE, FileCloser> file_;
  std::unique_ptr<char[]> buffer_;
  size_t capacity_;
  size_t size_ = 0;
  int64_t written_ = 0;
  Status error_;  // the first write error
  bool committed_ = false;
};

}  // namespace towerstream::datagen
