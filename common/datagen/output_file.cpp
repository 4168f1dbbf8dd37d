// Buffered writes, error capture, and the rename that publishes a finished file.
#include "common/datagen/output_file.h"

#include <cerrno>
#include <string>
#include <system_error>

namespace towerstream::datagen {
namespace {

Status IoError(const std::filesystem::path& path, std::string_view what, int err) {
  return Status::IoError(std::string(what) + " " + path.string() + ": " + std::strerror(err));
}

}  // namespace

Result<std::unique_ptr<OutputFile>> OutputFile::Create(const std::filesystem::path& path,
                                                       size_t buffer_bytes) {
  std::filesystem::path temp = path;
  temp += ".tmp";
  std::FILE* file = std::fopen(temp.c_str(), "wb");
  if (file == nullptr) return IoError(temp, "cannot create", errno);
  return std::unique_ptr<OutputFile>(new OutputFile(path, std::move(temp), file, buffer_bytes));
}

OutputFile::OutputFile(std::filesystem::path path, std::filesystem::path temp, std::FILE* file,
                       size_t buffer_bytes)
    : path_(std::move(path)),
      temp_(std::move(temp)),
      file_(file),
      buffer_(new char[buffer_bytes]),
      capacity_(buffer_bytes) {
  // Our buffer is the only one needed.
  std::setvbuf(file_.get(), nullptr, _IONBF, 0);
}

OutputFile::~OutputFile() {
  if (committed_) return;
  file_.reset();
  std::error_code ignored;
  std::filesystem::remove(temp_, ignored);
}

void OutputFile::Flush() {
  if (size_ > 0 && error_.ok() && std::fwrite(buffer_.get(), 1, size_, file_.get()) != size_) {
    error_ = IoError(temp_, "cannot write", errno);
  }
  written_ += static_cast<int64_t>(size_);
  size_ = 0;
}

Status OutputFile::Commit() {
  Flush();
  TS_RETURN_IF_ERROR(error_);
  if (std::fclose(file_.release()) != 0) return IoError(temp_, "cannot close", errno);
  std::error_code ec;
  std::filesystem::rename(temp_, path_, ec);
  if (ec) {
    return Status::IoError("cannot rename " + temp_.string() + " to " + path_.string() + ": " +
                           ec.message());
  }
  committed_ = true;
  return Status::Ok();
}

}  // namespace towerstream::datagen
