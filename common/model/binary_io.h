// Little-endian binary read/write helpers for the model's state files (snapshots).
//
// Values are written as host bytes; the static_assert pins the host to little-endian, which is
// what the snapshot format documents. Readers report success as bool so callers can name what
// was truncated. Stateless; thread-safe.
#pragma once

#include <torch/types.h>

#include <bit>
#include <cstdint>
#include <cstring>
#include <istream>
#include <ostream>
#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream::model::binary_io {

static_assert(std::endian::native == std::endian::little,
              "the state files are written as host bytes and documented as little-endian");

inline void WriteRaw(std::ostream& out, const void* data, size_t bytes) {
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}
inline bool ReadRaw(std::istream& in, void* data, size_t bytes) {
  in.read(static_cast<char*>(data), static_cast<std::streamsize>(bytes));
  return static_cast<size_t>(in.gcount()) == bytes;
}

template <typename T>
void WritePod(std::ostream& out, const T& value) {
  WriteRaw(out, &value, sizeof(T));
}
template <typename T>
bool ReadPod(std::istream& in, T* value) {
  return ReadRaw(in, value, sizeof(T));
}

// A tensor's elements (any device; copied to the host), without shape: the reader knows it.
inline void WriteTensorData(std::ostream& out, const torch::Tensor& t) {
  const torch::Tensor host = t.to(torch::kCPU).contiguous();
  WriteRaw(out, host.data_ptr(), host.nbytes());
}
// Fills a contiguous host tensor of the expected shape and type.
inline bool ReadTensorData(std::istream& in, const torch::Tensor& host) {
  return ReadRaw(in, host.data_ptr(), host.nbytes());
}

// An 8-byte magic and a uint32 format version, written first in every state file.
inline void WriteHeader(std::ostream& out, const char (&magic)[8], uint32_t version) {
  WriteRaw(out, magic, sizeof(magic));
  WritePod(out, version);
}
// Checks both; Corruption naming `what` (e.g. "field embeddings state") otherwise.
inline Status ReadHeader(std::istream& in, const char (&magic)[8], uint32_t version,
                         std::string_view what) {
  char got[8];
  uint32_t got_version = 0;
  if (!ReadRaw(in, got, sizeof(got)) || std::memcmp(got, magic, sizeof(got)) != 0) {
    return Status::Corruption(std::string(what) + ": bad magic (not a " + std::string(what) +
                              " file)");
  }
  if (!ReadPod(in, &got_version)) {
    return Status::Corruption(std::string(what) + ": truncated while reading the version");
  }
  if (got_version != version) {
    return Status::Corruption(std::string(what) + ": format version " +
                              std::to_string(got_version) + ", expected " +
                              std::to_string(version));
  }
  return Status::Ok();
}

}  // namespace towerstream::model::binary_io
