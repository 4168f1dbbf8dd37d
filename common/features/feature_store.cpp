// FeatureStore: RocksDB column families, batched cached reads, and atomic batched writes.
#include "common/features/feature_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <unordered_set>

namespace towerstream::features {
namespace {

constexpr char kArticlesFamily[] = "articles";
constexpr char kCustomersFamily[] = "customers";
constexpr char kHistoryFamily[] = "history";
constexpr char kVocabFamily[] = "vocab";
constexpr char kMetaFamily[] = "meta";

// Meta keys.
constexpr char kFormatKey[] = "format";
constexpr char kFormatValue[] = "towerstream-features-1";
constexpr char kArticleVocabularySizeKey[] = "vocab.size.articles";
constexpr char kCustomerVocabularySizeKey[] = "vocab.size.customers";

// Vocabulary keys: a kind byte, then the entity key.
constexpr char kArticleVocabularyTag = 'a';
constexpr char kCustomerVocabularyTag = 'c';

std::string CustomerKeyBytes(const CustomerKey& customer) {
  return std::string(reinterpret_cast<const char*>(customer.data()), customer.size());
}

std::string ArticleVocabularyKey(hm::ArticleId id) {
  return kArticleVocabularyTag + ArticleKey(id);
}
std::string CustomerVocabularyKey(const CustomerKey& c) {
  return kCustomerVocabularyTag + CustomerKeyBytes(c);
}

std::string PositionKey(std::string_view topic, int32_t partition) {
  std::string key = "pos/";
  key.append(topic);
  key.push_back('\0');
  const auto p = static_cast<uint32_t>(partition);
  for (int shift = 24; shift >= 0; shift -= 8)
    key.push_back(static_cast<char>((p >> shift) & 0xff));
  return key;
}

// RocksDB's own info log (LOG in the database folder) asserts, aborting the process, on the
// first line after an append to it failed; on a full disk that comes before any error reaches
// us, so ingest died with SIGABRT instead of saying "No space left". This log writes the same
// lines to the same file and drops a line it cannot write. The previous run's LOG is kept as
// LOG.old.
class TolerantInfoLog final : public rocksdb::Logger {
 public:
  explicit TolerantInfoLog(const std::string& folder)
      : rocksdb::Logger(rocksdb::InfoLogLevel::INFO_LEVEL) {
    std::error_code ignored;
    std::filesystem::create_directories(folder, ignored);
    const std::filesystem::path log = std::filesystem::path(folder) / "LOG";
    std::filesystem::rename(log, std::filesystem::path(folder) / "LOG.old", ignored);
    file_ = std::fopen(log.c_str(), "a");  // none: every line is dropped
  }
  ~TolerantInfoLog() override {
    if (file_ != nullptr) std::fclose(file_);
  }
  TolerantInfoLog(const TolerantInfoLog&) = delete;
  TolerantInfoLog& operator=(const TolerantInfoLog&) = delete;

  using rocksdb::Logger::Logv;
  void Logv(const char* format, va_list ap) override {
    if (file_ == nullptr) return;
    timeval now{};
    ::gettimeofday(&now, nullptr);
    std::tm local{};
    ::localtime_r(&now.tv_sec, &local);
    char stamp[32];
    std::strftime(stamp, sizeof stamp, "%Y/%m/%d-%H:%M:%S", &local);
    const std::lock_guard<std::mutex> lock(mutex_);
    std::fprintf(file_, "%s.%06ld ", stamp, static_cast<long>(now.tv_usec));
    std::vfprintf(file_, format, ap);
    std::fputc('\n', file_);
    if (std::fflush(file_) != 0) std::clearerr(file_);  // a full disk: the line is lost
  }

 private:
  std::mutex mutex_;
  std::FILE* file_ = nullptr;
};

Status FromRocks(const rocksdb::Status& s, std::string_view context) {
  if (s.ok()) return Status::Ok();
  std::string message = std::string(context) + ": " + s.ToString();
  if (s.IsCorruption()) return Status::Corruption(std::move(message));
  if (s.IsNotFound()) return Status::NotFound(std::move(message));
  if (s.IsInvalidArgument() || s.IsNotSupported()) {
    return Status::InvalidArgument(std::move(message));
  }
  if (s.IsIOError() || s.IsBusy() || s.IsTimedOut() || s.IsTryAgain()) {
    return Status::IoError(std::move(message));
  }
  return Status::Internal(std::move(message));
}

bool HasPrefix(const rocksdb::Slice& key, const CustomerKey& customer) {
  return key.size() == kHistoryKeyBytes &&
         std::memcmp(key.data(), customer.data(), kCustomerKeyBytes) == 0;
}

// Reads `keys` missing from `cache` with one MultiGet and fills (*out)[i] for every key.
template <typename Key, typename Value, typename Hash, typename EncodeKey, typename Decode>
Status CachedMultiGet(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* family,
                      LruCache<Key, std::optional<Value>, Hash>& cache, std::span<const Key> keys,
                      EncodeKey encode_key, Decode decode, std::string_view what,
                      std::vector<std::optional<Value>>* out) {
  // Assigned in place: values left from the caller's previous call keep their strings'
  // buffers, so copying a cached value allocates nothing (ingest's hot path, once per event).
  out->resize(keys.size());
  std::vector<size_t> missing;  // indexes into keys of cache misses
  for (size_t i = 0; i < keys.size(); ++i) {
    if (const std::optional<Value>* cached = cache.Find(keys[i])) {
      (*out)[i] = *cached;
    } else {
      (*out)[i].reset();
      missing.push_back(i);
    }
  }
  if (missing.empty()) return Status::Ok();
  std::vector<std::string> encoded;
  encoded.reserve(missing.size());
  for (size_t i : missing) encoded.push_back(encode_key(keys[i]));
  std::vector<rocksdb::Slice> slices(encoded.begin(), encoded.end());
  std::vector<rocksdb::PinnableSlice> values(missing.size());
  std::vector<rocksdb::Status> statuses(missing.size());
  db.MultiGet(rocksdb::ReadOptions(), family, slices.size(), slices.data(), values.data(),
              statuses.data());
  for (size_t j = 0; j < missing.size(); ++j) {
    const size_t i = missing[j];
    if (statuses[j].IsNotFound()) {
      cache.Put(keys[i], std::nullopt);
      continue;
    }
    TS_RETURN_IF_ERROR(FromRocks(statuses[j], std::string("read ") + std::string(what)));
    Result<Value> value = decode(values[j].ToStringView());
    if (!value.ok()) return value.status().WithContext(std::string("read ") + std::string(what));
    (*out)[i] = *value;
    cache.Put(keys[i], std::move(value).value());
  }
  return Status::Ok();
}

// Sorts and deduplicates by position; a later entry wins over an earlier one at the same
// position (it is a re-processing of the same offset).
void SortUnique(std::vector<HistoryEntry>* entries) {
  std::stable_sort(
      entries->begin(), entries->end(),
      [](const HistoryEntry& a, const HistoryEntry& b) { return a.position < b.position; });
  std::vector<HistoryEntry> unique;
  unique.reserve(entries->size());
  for (const HistoryEntry& e : *entries) {
    if (!unique.empty() && unique.back().position == e.position) {
      unique.back() = e;
    } else {
      unique.push_back(e);
    }
  }
  *entries = std::move(unique);
}

bool IsSorted(const std::vector<HistoryEntry>& entries) {
  for (size_t i = 1; i < entries.size(); ++i) {
    if (!(entries[i - 1].position < entries[i].position)) return false;
  }
  return true;
}

}  // namespace

Status FeatureStoreOptions::Validate() const {
  if (path.empty()) return Status::InvalidArgument("feature store: path is empty");
  if (history_length < 1) {
    return Status::InvalidArgument("feature store: history_length " +
                                   std::to_string(history_length) + " is not >= 1");
  }
  if (write_buffer_bytes < (1 << 20)) {
    return Status::InvalidArgument("feature store: write_buffer_bytes " +
                                   std::to_string(write_buffer_bytes) + " is under 1 MiB");
  }
  return Status::Ok();
}

// --- FeatureBatch

void FeatureBatch::PutArticle(hm::ArticleId id, events::ArticleFeatures features) {
  articles_.emplace_back(id, std::move(features));
  vocabulary_articles_.push_back(id);
}

void FeatureBatch::PutCustomer(const CustomerKey& customer, events::CustomerFeatures features) {
  customers_.emplace_back(customer, std::move(features));
  vocabulary_customers_.push_back(customer);
}

void FeatureBatch::AppendHistory(const CustomerKey& customer, StreamPosition position,
                                 hm::ArticleId article) {
  history_[customer].push_back({position, article});
  ++history_appends_;
}

void FeatureBatch::SetPosition(std::string_view topic, int32_t partition, int64_t next_offset) {
  positions_[{std::string(topic), partition}] = next_offset;
}

bool FeatureBatch::empty() const {
  return articles_.empty() && customers_.empty() && history_.empty() &&
         vocabulary_articles_.empty() && vocabulary_customers_.empty() && positions_.empty();
}

void FeatureBatch::Clear() {
  articles_.clear();
  customers_.clear();
  history_.clear();
  history_appends_ = 0;
  vocabulary_articles_.clear();
  vocabulary_customers_.clear();
  positions_.clear();
}

const std::vector<HistoryEntry>* FeatureBatch::StagedHistory(const CustomerKey& customer) const {
  const auto it = history_.find(customer);
  return it == history_.end() ? nullptr : &it->second;
}

// --- FeatureStore

FeatureStore::FeatureStore(const FeatureStoreOptions& options)
    : options_(options),
      articles_cache_(options.article_cache_entries),
      customers_cache_(options.customer_cache_entries),
      history_cache_(options.history_cache_entries) {}

FeatureStore::~FeatureStore() {
  history_iterator_.reset();
  handles_.clear();
  if (db_) db_->Close().PermitUncheckedError();
}

Result<std::unique_ptr<FeatureStore>> FeatureStore::Open(const FeatureStoreOptions& options) {
  TS_RETURN_IF_ERROR(options.Validate());
  std::unique_ptr<FeatureStore> store(new FeatureStore(options));
  TS_RETURN_IF_ERROR(store->OpenDatabase().WithContext("feature store " + options.path));
  return store;
}

Status FeatureStore::OpenDatabase() {
  block_cache_ = rocksdb::NewLRUCache(options_.block_cache_bytes);

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  // One WAL fsync per micro-batch is the cost of exactness; keep background flushes from
  // piling up dirty pages in between.
  db_options.bytes_per_sync = 1 << 20;
  db_options.info_log = std::make_shared<TolerantInfoLog>(options_.path);

  auto family_options = [&](bool point_lookups) {
    rocksdb::BlockBasedTableOptions table;
    table.block_cache = block_cache_;
    table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
    table.whole_key_filtering = point_lookups;
    rocksdb::ColumnFamilyOptions cf;
    cf.write_buffer_size = options_.write_buffer_bytes;
    cf.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
    return cf;
  };
  rocksdb::ColumnFamilyOptions history = family_options(/*point_lookups=*/false);
  // History is read by customer prefix: a prefix Bloom filter skips files (and memtables)
  // that hold nothing of a customer, which is most of them for a first purchase.
  history.prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(kCustomerKeyBytes));
  history.memtable_prefix_bloom_size_ratio = 0.05;

  const std::vector<rocksdb::ColumnFamilyDescriptor> families = {
      {rocksdb::kDefaultColumnFamilyName, family_options(true)},
      {kArticlesFamily, family_options(true)},
      {kCustomersFamily, family_options(true)},
      {kHistoryFamily, history},
      {kVocabFamily, family_options(true)},
      {kMetaFamily, family_options(true)},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> raw_handles;
  rocksdb::DB* raw_db = nullptr;
  const rocksdb::Status opened =
      rocksdb::DB::Open(db_options, options_.path, families, &raw_handles, &raw_db);
  db_.reset(raw_db);
  for (rocksdb::ColumnFamilyHandle* h : raw_handles) handles_.emplace_back(h);
  TS_RETURN_IF_ERROR(FromRocks(opened, "open"));
  articles_cf_ = handles_[1].get();
  customers_cf_ = handles_[2].get();
  history_cf_ = handles_[3].get();
  vocab_cf_ = handles_[4].get();
  meta_cf_ = handles_[5].get();

  TS_ASSIGN_OR_RETURN(std::optional<std::string> format, GetMeta(kFormatKey));
  if (!format) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    TS_RETURN_IF_ERROR(
        FromRocks(db_->Put(sync, meta_cf_, kFormatKey, kFormatValue), "write format marker"));
  } else if (*format != kFormatValue) {
    return Status::FailedPrecondition("format '" + *format + "' is not '" + kFormatValue +
                                      "' (a newer or foreign database)");
  }
  if (options_.history_cache_entries > 0) {
    rocksdb::ReadOptions read;
    read.total_order_seek = true;  // the whole family, not one customer's prefix
    const std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, history_cf_));
    it->SeekToFirst();
    TS_RETURN_IF_ERROR(FromRocks(it->status(), "read history"));
    history_all_cached_ = !it->Valid();
  }
  for (auto [key, size] : {std::pair{kArticleVocabularySizeKey, &next_article_index_},
                           std::pair{kCustomerVocabularySizeKey, &next_customer_index_}}) {
    TS_ASSIGN_OR_RETURN(std::optional<std::string> value, GetMeta(key));
    if (!value) continue;
    Result<uint64_t> n = DecodeVarint(*value);
    if (!n.ok()) return n.status().WithContext(std::string("meta '") + key + "'");
    *size = static_cast<int64_t>(*n);
  }
  return Status::Ok();
}

Result<std::optional<std::string>> FeatureStore::GetMeta(const std::string& key) {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), meta_cf_, key, &value);
  if (s.IsNotFound()) return std::optional<std::string>();
  TS_RETURN_IF_ERROR(FromRocks(s, "read meta '" + key + "'"));
  return std::optional<std::string>(std::move(value));
}

Status FeatureStore::GetArticles(std::span<const hm::ArticleId> ids,
                                 std::vector<std::optional<events::ArticleFeatures>>* out) {
  return CachedMultiGet(*db_, articles_cf_, articles_cache_, ids, ArticleKey, DecodeArticleFeatures,
                        "articles", out);
}

Status FeatureStore::GetCustomers(std::span<const CustomerKey> customers,
                                  std::vector<std::optional<events::CustomerFeatures>>* out) {
  return CachedMultiGet(*db_, customers_cf_, customers_cache_, customers, CustomerKeyBytes,
                        DecodeCustomerFeatures, "customers", out);
}

rocksdb::Iterator* FeatureStore::HistoryIterator() {
  if (!history_iterator_) {
    rocksdb::ReadOptions read;
    read.prefix_same_as_start = true;
    history_iterator_.reset(db_->NewIterator(read, history_cf_));
  }
  return history_iterator_.get();
}

namespace {

// Adds the time from construction to destruction to a counter.
class ScopedTimer {
 public:
  explicit ScopedTimer(double* total) : total_(total) {}
  ~ScopedTimer() {
    *total_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  ScopedTimer(const ScopedTimer&) = delete;
  ScopedTimer& operator=(const ScopedTimer&) = delete;

 private:
  double* total_;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace

Status FeatureStore::ReadLatestHistory(const CustomerKey& customer, LatestHistory* out) {
  const ScopedTimer timer(&history_read_seconds_);
  out->entries.clear();
  const auto wanted = static_cast<size_t>(options_.history_length);
  rocksdb::Iterator* it = HistoryIterator();
  CustomerKey key_customer;
  for (it->SeekForPrev(HistoryKeyUpperBound(customer));
       it->Valid() && HasPrefix(it->key(), customer); it->Prev()) {
    if (out->entries.size() == wanted) break;
    HistoryEntry entry;
    TS_RETURN_IF_ERROR(ParseHistoryKey(it->key().ToStringView(), &key_customer, &entry.position));
    TS_ASSIGN_OR_RETURN(uint64_t article, DecodeVarint(it->value().ToStringView()));
    entry.article = static_cast<hm::ArticleId>(article);
    out->entries.push_back(entry);
  }
  // Complete unless the loop stopped at the limit with more of this customer left.
  out->complete = !(it->Valid() && HasPrefix(it->key(), customer));
  TS_RETURN_IF_ERROR(FromRocks(it->status(), "read history"));
  std::reverse(out->entries.begin(), out->entries.end());
  return Status::Ok();
}

Status FeatureStore::ReadHistoryBefore(const CustomerKey& customer, StreamPosition before, int n,
                                       std::vector<HistoryEntry>* out) {
  const ScopedTimer timer(&history_read_seconds_);
  out->clear();
  rocksdb::Iterator* it = HistoryIterator();
  const std::string bound = HistoryKey(customer, before);
  it->SeekForPrev(bound);
  if (it->Valid() && it->key() == rocksdb::Slice(bound)) it->Prev();
  CustomerKey key_customer;
  for (; it->Valid() && HasPrefix(it->key(), customer) && static_cast<int>(out->size()) < n;
       it->Prev()) {
    HistoryEntry entry;
    TS_RETURN_IF_ERROR(ParseHistoryKey(it->key().ToStringView(), &key_customer, &entry.position));
    TS_ASSIGN_OR_RETURN(uint64_t article, DecodeVarint(it->value().ToStringView()));
    entry.article = static_cast<hm::ArticleId>(article);
    out->push_back(entry);
  }
  TS_RETURN_IF_ERROR(FromRocks(it->status(), "read history"));
  std::reverse(out->begin(), out->end());
  return Status::Ok();
}

Status FeatureStore::RecentHistory(const CustomerKey& customer, StreamPosition before, int n,
                                   const FeatureBatch* staged, std::vector<hm::ArticleId>* out) {
  out->clear();
  if (n <= 0) return Status::Ok();

  // Written purchases before `before`: from the cached latest ones when they reach back far
  // enough (always, in stream order), else from RocksDB.
  const LatestHistory* latest = history_cache_.Find(customer);
  LatestHistory loaded;
  if (latest == nullptr) {
    if (history_all_cached_) {
      loaded.complete = true;  // nothing written for this customer yet
    } else {
      TS_RETURN_IF_ERROR(ReadLatestHistory(customer, &loaded));
    }
    if (history_cache_.size() >= history_cache_.capacity()) history_all_cached_ = false;
    latest =
        history_cache_.capacity() == 0 ? &loaded : history_cache_.Put(customer, std::move(loaded));
  }
  const auto below_end =
      std::partition_point(latest->entries.begin(), latest->entries.end(),
                           [&](const HistoryEntry& e) { return e.position < before; });
  const auto below = static_cast<int>(below_end - latest->entries.begin());
  std::vector<HistoryEntry>& merged = history_scratch_;
  if (below >= n || latest->complete) {
    merged.assign(below_end - std::min(below, n), below_end);
  } else {
    TS_RETURN_IF_ERROR(ReadHistoryBefore(customer, before, n, &merged));
  }

  if (staged != nullptr) {
    if (const std::vector<HistoryEntry>* pending = staged->StagedHistory(customer)) {
      for (const HistoryEntry& e : *pending) {
        if (e.position < before) merged.push_back(e);
      }
      // Staged purchases normally all follow the written ones, in order; a re-processed
      // offset (written and staged) or a parked purchase takes the general path.
      if (!IsSorted(merged)) SortUnique(&merged);
    }
  }
  const size_t take = std::min(merged.size(), static_cast<size_t>(n));
  out->reserve(take);
  for (size_t i = merged.size() - take; i < merged.size(); ++i) out->push_back(merged[i].article);
  return Status::Ok();
}

Result<std::optional<int64_t>> FeatureStore::VocabularyIndex(const std::string& key) {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), vocab_cf_, key, &value);
  if (s.IsNotFound()) return std::optional<int64_t>();
  TS_RETURN_IF_ERROR(FromRocks(s, "read vocabulary"));
  TS_ASSIGN_OR_RETURN(uint64_t index, DecodeVarint(value));
  return std::optional<int64_t>(static_cast<int64_t>(index));
}

Result<std::optional<int64_t>> FeatureStore::ArticleIndex(hm::ArticleId id) {
  return VocabularyIndex(ArticleVocabularyKey(id));
}

Result<std::optional<int64_t>> FeatureStore::CustomerIndex(const CustomerKey& customer) {
  return VocabularyIndex(CustomerVocabularyKey(customer));
}

Result<std::optional<int64_t>> FeatureStore::Position(std::string_view topic, int32_t partition) {
  TS_ASSIGN_OR_RETURN(std::optional<std::string> value, GetMeta(PositionKey(topic, partition)));
  if (!value) return std::optional<int64_t>();
  TS_ASSIGN_OR_RETURN(uint64_t offset, DecodeVarint(*value));
  return std::optional<int64_t>(static_cast<int64_t>(offset));
}

Status FeatureStore::Write(FeatureBatch* batch) {
  if (batch->empty()) return Status::Ok();
  rocksdb::WriteBatch write;

  // Vocabulary: ids of this batch without an index get the next ones, in batch order.
  std::vector<std::string> candidates;
  {
    std::unordered_set<std::string> distinct;
    auto add = [&](std::string key) {
      if (distinct.insert(key).second) candidates.push_back(std::move(key));
    };
    for (hm::ArticleId id : batch->vocabulary_articles_) add(ArticleVocabularyKey(id));
    for (const CustomerKey& c : batch->vocabulary_customers_) add(CustomerVocabularyKey(c));
  }
  int64_t next_article = next_article_index_;
  int64_t next_customer = next_customer_index_;
  if (!candidates.empty()) {
    std::vector<rocksdb::Slice> keys(candidates.begin(), candidates.end());
    std::vector<rocksdb::PinnableSlice> values(keys.size());
    std::vector<rocksdb::Status> statuses(keys.size());
    db_->MultiGet(rocksdb::ReadOptions(), vocab_cf_, keys.size(), keys.data(), values.data(),
                  statuses.data());
    for (size_t i = 0; i < keys.size(); ++i) {
      if (statuses[i].ok()) continue;
      if (!statuses[i].IsNotFound()) return FromRocks(statuses[i], "read vocabulary");
      int64_t& next = candidates[i][0] == kArticleVocabularyTag ? next_article : next_customer;
      write.Put(vocab_cf_, keys[i], EncodeVarint(static_cast<uint64_t>(next++)));
    }
    if (next_article != next_article_index_) {
      write.Put(meta_cf_, kArticleVocabularySizeKey, EncodeVarint(next_article));
    }
    if (next_customer != next_customer_index_) {
      write.Put(meta_cf_, kCustomerVocabularySizeKey, EncodeVarint(next_customer));
    }
  }

  for (const auto& [id, features] : batch->articles_) {
    write.Put(articles_cf_, ArticleKey(id), EncodeArticleFeatures(features));
  }
  for (const auto& [customer, features] : batch->customers_) {
    write.Put(customers_cf_, CustomerKeyBytes(customer), EncodeCustomerFeatures(features));
  }
  // In key order: each memtable insert then starts from where the previous one ended instead
  // of from the top of the skip list, which halves the cost of a large batch.
  struct Encoded {
    char key[kHistoryKeyBytes];
    char value[kMaxVarintBytes];
    uint8_t value_size;
  };
  std::vector<Encoded> history(batch->history_appends_);
  size_t next = 0;
  for (const auto& [customer, entries] : batch->history_) {
    for (const HistoryEntry& e : entries) {
      Encoded& h = history[next++];
      EncodeHistoryKey(customer, e.position, h.key);
      h.value_size = static_cast<uint8_t>(EncodeVarint(static_cast<uint64_t>(e.article), h.value));
    }
  }
  std::sort(history.begin(), history.end(), [](const Encoded& a, const Encoded& b) {
    return std::memcmp(a.key, b.key, kHistoryKeyBytes) < 0;
  });
  for (const Encoded& h : history) {
    write.Put(history_cf_, rocksdb::Slice(h.key, kHistoryKeyBytes),
              rocksdb::Slice(h.value, h.value_size));
  }
  for (const auto& [where, offset] : batch->positions_) {
    write.Put(meta_cf_, PositionKey(where.first, where.second),
              EncodeVarint(static_cast<uint64_t>(offset)));
  }

  rocksdb::WriteOptions options;
  options.disableWAL = !options_.write_ahead_log;
  options.sync = options_.sync_writes && options_.write_ahead_log;
  TS_RETURN_IF_ERROR(FromRocks(db_->Write(options, &write), "write batch"));
  next_article_index_ = next_article;
  next_customer_index_ = next_customer;
  history_iterator_.reset();  // its snapshot predates this write
  UpdateCachesAfterWrite(*batch);
  batch->Clear();
  return Status::Ok();
}

void FeatureStore::UpdateCachesAfterWrite(const FeatureBatch& batch) {
  // Cached entities are updated (a cached "no such record" must not outlive the record's
  // arrival); others are cached only while the cache has room, so that a bulk load of entities
  // fills an empty cache (the first purchase of each then needs no read) but never evicts the
  // hot ones.
  for (const auto& [id, features] : batch.articles_) {
    if (auto* cached = articles_cache_.Peek(id)) {
      *cached = features;
    } else if (options_.cache_loaded_entities &&
               articles_cache_.size() < articles_cache_.capacity()) {
      articles_cache_.Put(id, features);
    }
  }
  for (const auto& [customer, features] : batch.customers_) {
    if (auto* cached = customers_cache_.Peek(customer)) {
      *cached = features;
    } else if (options_.cache_loaded_entities &&
               customers_cache_.size() < customers_cache_.capacity()) {
      customers_cache_.Put(customer, features);
    }
  }
  const auto keep = static_cast<size_t>(options_.history_length);
  for (const auto& [customer, entries] : batch.history_) {
    LatestHistory* cached = history_cache_.Peek(customer);
    if (cached == nullptr) {
      // While every history is cached, a customer's first purchases start its entry.
      if (!history_all_cached_) continue;
      if (history_cache_.size() >= history_cache_.capacity()) {
        history_all_cached_ = false;
        continue;
      }
      cached = history_cache_.Put(customer, LatestHistory{{}, /*complete=*/true});
    }
    cached->entries.insert(cached->entries.end(), entries.begin(), entries.end());
    if (!IsSorted(cached->entries)) SortUnique(&cached->entries);
    if (cached->entries.size() > keep) {
      cached->entries.erase(cached->entries.begin(),
                            cached->entries.end() - static_cast<std::ptrdiff_t>(keep));
      cached->complete = false;
    }
  }
}

}  // namespace towerstream::features
