// A Kafka record as the producer sends it and the consumer returns it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace towerstream::kafka {

// Lets the partitioner choose the partition (by key hash, or spread when the key is null).
inline constexpr int32_t kAnyPartition = -1;

struct Header {
  std::string key;
  std::string value;  // a null header value reads as empty

  bool operator==(const Header&) const = default;
};

// A plain value. On produce, `offset` is ignored and a zero `timestamp_ms` means "now"; on
// consume every field is filled in.
struct Message {
  std::string topic;
  int32_t partition = kAnyPartition;
  int64_t offset = -1;
  std::optional<std::string> key;  // nullopt is Kafka's null key, distinct from ""
  std::string value;
  std::vector<Header> headers;
  int64_t timestamp_ms = 0;  // milliseconds since the Unix epoch

  // Value of the first header named `key`, if any.
  std::optional<std::string> HeaderValue(const std::string& key) const;
};

}  // namespace towerstream::kafka
