// Tests of the bounded LRU cache in front of the feature store.
#include "common/features/lru_cache.h"

#include <gtest/gtest.h>

#include <string>

namespace towerstream::features {
namespace {

TEST(LruCacheTest, FindReturnsWhatPutStored) {
  LruCache<int, std::string> cache(2);
  cache.Put(1, "one");
  ASSERT_NE(cache.Find(1), nullptr);
  EXPECT_EQ(*cache.Find(1), "one");
  EXPECT_EQ(cache.Find(2), nullptr);
}

TEST(LruCacheTest, EvictsTheLeastRecentlyUsed) {
  LruCache<int, int> cache(2);
  cache.Put(1, 10);
  cache.Put(2, 20);
  cache.Find(1);     // 2 is now the least recently used
  cache.Put(3, 30);  // evicts 2
  EXPECT_NE(cache.Find(1), nullptr);
  EXPECT_EQ(cache.Find(2), nullptr);
  EXPECT_NE(cache.Find(3), nullptr);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.evictions(), 1);
}

TEST(LruCacheTest, PutReplacesWithoutGrowing) {
  LruCache<int, int> cache(2);
  cache.Put(1, 10);
  cache.Put(1, 11);
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_EQ(*cache.Find(1), 11);
}

TEST(LruCacheTest, CountsHitsAndMisses) {
  LruCache<int, int> cache(4);
  cache.Put(1, 10);
  cache.Find(1);
  cache.Find(1);
  cache.Find(2);
  cache.Peek(2);  // not counted
  EXPECT_EQ(cache.hits(), 2);
  EXPECT_EQ(cache.misses(), 1);
}

TEST(LruCacheTest, ZeroCapacityStoresNothing) {
  LruCache<int, int> cache(0);
  EXPECT_EQ(cache.Put(1, 10), nullptr);
  EXPECT_EQ(cache.Find(1), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

TEST(LruCacheTest, EraseForgetsTheKey) {
  LruCache<int, int> cache(2);
  cache.Put(1, 10);
  cache.Erase(1);
  EXPECT_EQ(cache.Find(1), nullptr);
  EXPECT_EQ(cache.size(), 0u);
}

}  // namespace
}  // namespace towerstream::features
