// Byte layouts of the feature store: RocksDB keys and the versioned binary values.
//
// Pure functions over plain values; thread-safe. Keys sort the way the store iterates them
// (big-endian integers), values start with a format version byte so that a later layout can
// be read beside this one.
#pragma once

#include <array>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/events/events.h"
#include "common/hm/records.h"

namespace towerstream::features {

// A customer id (64 lowercase hex characters) as its 32 bytes: half the size in keys and
// caches, and fixed length, so history keys of one customer share a 32-byte prefix.
inline constexpr size_t kCustomerKeyBytes = 32;
using CustomerKey = std::array<uint8_t, kCustomerKeyBytes>;

struct CustomerKeyHash {
  // Customer ids are SHA-256 digests, so any 8 of their bytes are already uniform.
  size_t operator()(const CustomerKey& key) const {
    uint64_t h = 0;
    for (int i = 0; i < 8; ++i) h = (h << 8) | key[i];
    return static_cast<size_t>(h);
  }
};

// InvalidArgument naming the value unless `customer_id` is 64 lowercase hex characters.
Result<CustomerKey> CustomerKeyFromId(std::string_view customer_id);
std::string CustomerIdFromKey(const CustomerKey& key);

// Where a transaction sits in hm.transactions. All purchases of one customer are on one
// partition (the topic is keyed by customer), so within a customer (partition, offset) order
// is stream order.
struct StreamPosition {
  int32_t partition = 0;
  int64_t offset = 0;

  auto operator<=>(const StreamPosition&) const = default;
};

// Current value format version of every column family.
inline constexpr uint8_t kValueFormatVersion = 1;

// 8 bytes: the article id big-endian.
std::string ArticleKey(hm::ArticleId id);
// 44 bytes: customer key, partition (4 bytes) and offset (8 bytes), both big-endian, so a
// customer's purchases sort in stream order and re-processing an offset rewrites its key.
inline constexpr size_t kHistoryKeyBytes = kCustomerKeyBytes + 4 + 8;
std::string HistoryKey(const CustomerKey& customer, StreamPosition position);
// The same into `out` (kHistoryKeyBytes), without allocating: the write path's version.
void EncodeHistoryKey(const CustomerKey& customer, StreamPosition position, char* out);
// The customer's greatest possible history key: every real one sorts before it.
std::string HistoryKeyUpperBound(const CustomerKey& customer);
// Splits a history key; Corruption unless it has the layout above.
Status ParseHistoryKey(std::string_view key, CustomerKey* customer, StreamPosition* position);

std::string EncodeArticleFeatures(const events::ArticleFeatures& features);
std::string EncodeCustomerFeatures(const events::CustomerFeatures& features);
// Decoded values have known = true. Corruption naming the problem for truncated or trailing
// bytes, or an unknown format version.
Result<events::ArticleFeatures> DecodeArticleFeatures(std::string_view value);
Result<events::CustomerFeatures> DecodeCustomerFeatures(std::string_view value);

// A history value (the article id) and a vocabulary value (a dense index).
std::string EncodeVarint(uint64_t value);
// The same into `out` (at least kMaxVarintBytes); returns the bytes written.
inline constexpr size_t kMaxVarintBytes = 10;
size_t EncodeVarint(uint64_t value, char* out);
Result<uint64_t> DecodeVarint(std::string_view value);

}  // namespace towerstream::features
