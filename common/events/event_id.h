// Event ids for transactions replayed from files: stable across runs and machines. Pure and
// thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace towerstream::events {

// 32 lowercase hex characters: XXH3-128 (seed 0, canonical big-endian bytes) of the file's
// base name, a NUL byte and `line` in decimal. Only the base name counts, so replaying the
// same file from another directory or machine yields the same ids, which is what lets
// downstream consumers drop duplicates after a replay restarts. `line` is the row's line
// number as the reader reports it (1-based, header included); ids are distinct for distinct
// (base name, line) pairs up to the hash's collision odds (about 2^-128 per pair).
std::string MakeTransactionEventId(std::string_view source_file_name, int64_t line);

}  // namespace towerstream::events
