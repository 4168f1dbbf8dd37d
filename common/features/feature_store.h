// The feature store: articles, customers, purchase histories and vocabularies in RocksDB.
//
// A FeatureStore owns one RocksDB database with column families `articles`, `customers`,
// `history`, `vocab` and `meta`, and bounded LRU caches in front of the first three. Writes go
// through a FeatureBatch applied atomically by Write(). Not thread-safe: one thread at a time
// (ingest's loop). Neither copyable nor movable; owned through the unique_ptr Open returns.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/base/status.h"
#include "common/events/events.h"
#include "common/features/codec.h"
#include "common/features/lru_cache.h"
#include "common/hm/records.h"

namespace rocksdb {
class Cache;
class ColumnFamilyHandle;
class DB;
class Iterator;
}  // namespace rocksdb

namespace towerstream::features {

struct FeatureStoreOptions {
  // Database directory; created when missing.
  std::string path;
  // Purchases kept per customer in the history cache: RecentHistory answers from memory for
  // n up to this (ingest's N); larger n reads RocksDB.
  int history_length = events::kDefaultRecentArticles;
  // Entries of each in-memory cache. H&M has ~106k articles and 1.37M customers: by default
  // all of them fit, since a customer missing from the cache costs a RocksDB read (about 4 us)
  // at every purchase. A customer entry is ~300 bytes, a history entry ~250 to ~650 (full
  // caches at Kaggle's size: about 0.4 GB of customers and up to 0.9 GB of histories).
  size_t article_cache_entries = 200'000;
  size_t customer_cache_entries = 1'500'000;
  size_t history_cache_entries = 1'500'000;
  // Cache the articles and customers a Write stores while the cache has room (never evicting
  // to make it), so that after loading the entity topics or files the first purchase of each
  // needs no read.
  bool cache_loaded_entities = true;
  // RocksDB's block cache (uncompressed blocks of all column families).
  size_t block_cache_bytes = 64 << 20;
  // RocksDB memtable size per column family: larger means fewer, bigger flushes.
  size_t write_buffer_bytes = 32 << 20;
  // fsync the write-ahead log on every Write: a batch that Write reported is on disk even if
  // the machine loses power. Exactly-once ingest needs it before committing the Kafka
  // transaction; turning it off is for tests and benchmarks that accept losing state.
  bool sync_writes = true;
  // Log every Write in RocksDB's write-ahead log. Off, a process crash loses the writes not
  // yet flushed to table files: only for a store rebuilt from its source anyway (embedded
  // training's private store), where the log is pure cost. Off implies no sync.
  bool write_ahead_log = true;

  Status Validate() const;
};

struct CacheStats {
  int64_t hits = 0;
  int64_t misses = 0;
  int64_t evictions = 0;
  size_t size = 0;
  size_t capacity = 0;
};

// One purchase in a customer's history.
struct HistoryEntry {
  StreamPosition position;
  hm::ArticleId article = 0;

  bool operator==(const HistoryEntry&) const = default;
};

// Writes staged for one atomic FeatureStore::Write: entity upserts, history appends, stream
// positions, and ids to give vocabulary indexes. RecentHistory sees a batch's staged history
// when given the batch, so one micro-batch can be enriched before it is written. A value type.
class FeatureBatch {
 public:
  void PutArticle(hm::ArticleId id, events::ArticleFeatures features);
  void PutCustomer(const CustomerKey& customer, events::CustomerFeatures features);
  // Records a purchase at `position`; writing the same customer and position again (after a
  // crash) overwrites it, so histories never hold a purchase twice.
  void AppendHistory(const CustomerKey& customer, StreamPosition position, hm::ArticleId article);
  // Gives the id a vocabulary index at Write if it has none yet (entities put here get one
  // anyway): for ids first seen in a transaction, before their record arrives.
  void NoteArticle(hm::ArticleId id) { vocabulary_articles_.push_back(id); }
  void NoteCustomer(const CustomerKey& customer) { vocabulary_customers_.push_back(customer); }
  // The next offset to read from `topic` `partition`, stored atomically with the rest.
  void SetPosition(std::string_view topic, int32_t partition, int64_t next_offset);

  bool empty() const;
  size_t history_appends() const { return history_appends_; }
  void Clear();

  // The staged purchases of `customer` in the order appended; null when none.
  const std::vector<HistoryEntry>* StagedHistory(const CustomerKey& customer) const;

 private:
  friend class FeatureStore;

  std::vector<std::pair<hm::ArticleId, events::ArticleFeatures>> articles_;
  std::vector<std::pair<CustomerKey, events::CustomerFeatures>> customers_;
  std::unordered_map<CustomerKey, std::vector<HistoryEntry>, CustomerKeyHash> history_;
  size_t history_appends_ = 0;
  // Ids put or noted, in call order: the order new vocabulary indexes are given in.
  std::vector<hm::ArticleId> vocabulary_articles_;
  std::vector<CustomerKey> vocabulary_customers_;
  std::map<std::pair<std::string, int32_t>, int64_t, std::less<>> positions_;
};

class FeatureStore {
 public:
  // Opens (or creates) the database at options.path. Fails with the RocksDB error and the
  // path, e.g. IoError when another process holds the database's lock.
  static Result<std::unique_ptr<FeatureStore>> Open(const FeatureStoreOptions& options);

  ~FeatureStore();
  FeatureStore(const FeatureStore&) = delete;
  FeatureStore& operator=(const FeatureStore&) = delete;

  // (*out)[i] = the features of ids[i], nullopt when the store has no record of it. Cache
  // misses are read with one batched MultiGet. Duplicate ids are fine.
  Status GetArticles(std::span<const hm::ArticleId> ids,
                     std::vector<std::optional<events::ArticleFeatures>>* out);
  Status GetCustomers(std::span<const CustomerKey> customers,
                      std::vector<std::optional<events::CustomerFeatures>>* out);

  // The article ids of the `n` latest purchases of `customer` strictly before `before`,
  // oldest first: from the written history plus `staged` (may be null). Deterministic in the
  // stream: the same position always gives the same answer, however often it is re-processed.
  Status RecentHistory(const CustomerKey& customer, StreamPosition before, int n,
                       const FeatureBatch* staged, std::vector<hm::ArticleId>* out);

  // Dense vocabulary indexes 0, 1, 2... in the order ids were first written (as entities or
  // noted), stable across restarts; nullopt for ids never written.
  Result<std::optional<int64_t>> ArticleIndex(hm::ArticleId id);
  Result<std::optional<int64_t>> CustomerIndex(const CustomerKey& customer);
  int64_t article_vocabulary_size() const { return next_article_index_; }
  int64_t customer_vocabulary_size() const { return next_customer_index_; }

  // The position last stored with FeatureBatch::SetPosition; nullopt when none.
  Result<std::optional<int64_t>> Position(std::string_view topic, int32_t partition);

  // Applies `batch` atomically (synced when options say so) and clears it; on error nothing
  // of it is applied and the batch is left as it was.
  Status Write(FeatureBatch* batch);

  // Time spent reading histories from RocksDB (cache misses) since Open.
  double history_read_seconds() const { return history_read_seconds_; }
  CacheStats article_cache_stats() const { return StatsOf(articles_cache_); }
  CacheStats customer_cache_stats() const { return StatsOf(customers_cache_); }
  CacheStats history_cache_stats() const { return StatsOf(history_cache_); }
  const FeatureStoreOptions& options() const { return options_; }

 private:
  // The latest history_length purchases of a customer in the database (oldest first), and
  // whether they are all it has.
  struct LatestHistory {
    std::vector<HistoryEntry> entries;
    bool complete = false;
  };

  explicit FeatureStore(const FeatureStoreOptions& options);

  template <typename Cache>
  static CacheStats StatsOf(const Cache& cache) {
    return {cache.hits(), cache.misses(), cache.evictions(), cache.size(), cache.capacity()};
  }

  Status OpenDatabase();
  rocksdb::Iterator* HistoryIterator();
  Status ReadLatestHistory(const CustomerKey& customer, LatestHistory* out);
  Status ReadHistoryBefore(const CustomerKey& customer, StreamPosition before, int n,
                           std::vector<HistoryEntry>* out);
  Result<std::optional<int64_t>> VocabularyIndex(const std::string& key);
  Result<std::optional<std::string>> GetMeta(const std::string& key);
  void UpdateCachesAfterWrite(const FeatureBatch& batch);

  FeatureStoreOptions options_;
  // Declared before the handles and iterators that must be released before it closes.
  std::unique_ptr<rocksdb::DB> db_;
  std::shared_ptr<rocksdb::Cache> block_cache_;
  std::vector<std::unique_ptr<rocksdb::ColumnFamilyHandle>> handles_;
  rocksdb::ColumnFamilyHandle* articles_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* customers_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* history_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* vocab_cf_ = nullptr;
  rocksdb::ColumnFamilyHandle* meta_cf_ = nullptr;
  // Reused across RecentHistory calls; a snapshot, so it is dropped at every Write.
  std::unique_ptr<rocksdb::Iterator> history_iterator_;

  // True while every customer with purchases in the database has its latest ones in the
  // history cache: from opening a database without history until the cache first evicts. A
  // cache miss then means "no purchase yet" and is answered without a RocksDB read (the first
  // purchase of each customer on a fresh store, the commonest miss).
  bool history_all_cached_ = false;
  double history_read_seconds_ = 0;
  std::vector<HistoryEntry> history_scratch_;  // RecentHistory's, reused across calls
  int64_t next_article_index_ = 0;
  int64_t next_customer_index_ = 0;

  // nullopt values cache "no such record"; Write keeps cached entries current.
  LruCache<hm::ArticleId, std::optional<events::ArticleFeatures>> articles_cache_;
  LruCache<CustomerKey, std::optional<events::CustomerFeatures>, CustomerKeyHash> customers_cache_;
  LruCache<CustomerKey, LatestHistory, CustomerKeyHash> history_cache_;
};

}  // namespace towerstream::features
