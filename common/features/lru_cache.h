// A bounded least-recently-used map with hit and miss counters, in front of RocksDB reads.
//
// Holds at most capacity() entries; inserting beyond it evicts the least recently used one.
// Capacity 0 disables caching (every lookup misses, nothing is stored). Not thread-safe: one
// thread at a time (the feature store's owner). Move-only: the index points into the list.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <unordered_map>
#include <utility>

namespace towerstream::features {

template <typename Key, typename Value, typename Hash = std::hash<Key>>
class LruCache {
 public:
  explicit LruCache(size_t capacity) : capacity_(capacity) {
    index_.reserve(std::min<size_t>(capacity, 1 << 16));  // grows on demand beyond that
  }
  LruCache(const LruCache&) = delete;
  LruCache& operator=(const LruCache&) = delete;
  LruCache(LruCache&&) = default;
  LruCache& operator=(LruCache&&) = default;

  // The cached value, now the most recently used, or nullptr; counts a hit or a miss.
  Value* Find(const Key& key) {
    const auto it = index_.find(key);
    if (it == index_.end()) {
      ++misses_;
      return nullptr;
    }
    ++hits_;
    order_.splice(order_.begin(), order_, it->second);
    return &it->second->second;
  }

  // Like Find, without counting or reordering: for updating an entry that may be cached.
  Value* Peek(const Key& key) {
    const auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->second;
  }

  // Inserts or replaces `key`'s value and makes it the most recently used; evicts the least
  // recently used entry when full. Returns the stored value, or nullptr at capacity 0.
  Value* Put(const Key& key, Value value) {
    if (capacity_ == 0) return nullptr;
    if (const auto it = index_.find(key); it != index_.end()) {
      it->second->second = std::move(value);
      order_.splice(order_.begin(), order_, it->second);
      return &it->second->second;
    }
    if (index_.size() >= capacity_) {
      index_.erase(order_.back().first);
      // Reuse the evicted node rather than freeing and allocating one.
      order_.splice(order_.begin(), order_, std::prev(order_.end()));
      order_.front() = {key, std::move(value)};
      ++evictions_;
    } else {
      order_.emplace_front(key, std::move(value));
    }
    index_.emplace(key, order_.begin());
    return &order_.front().second;
  }

  void Erase(const Key& key) {
    if (const auto it = index_.find(key); it != index_.end()) {
      order_.erase(it->second);
      index_.erase(it);
    }
  }

  void Clear() {
    order_.clear();
    index_.clear();
  }

  size_t size() const { return index_.size(); }
  size_t capacity() const { return capacity_; }
  int64_t hits() const { return hits_; }
  int64_t misses() const { return misses_; }
  int64_t evictions() const { return evictions_; }

 private:
  using Entry = std::pair<Key, Value>;

  size_t capacity_;
  std::list<Entry> order_;  // most recently used first
  std::unordered_map<Key, typename std::list<Entry>::iterator, Hash> index_;
  int64_t hits_ = 0;
  int64_t misses_ = 0;
  int64_t evictions_ = 0;
};

}  // namespace towerstream::features
