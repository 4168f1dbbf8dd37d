// Tests of the RocksDB feature store: round trips, batched reads, histories, persistence.
#include "common/features/feature_store.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/testing/small_disk.h"
#include "tests/testing/temp_dir.h"

namespace towerstream::features {
namespace {

CustomerKey Customer(int n) {
  CustomerKey key{};
  key[0] = static_cast<uint8_t>(n >> 8);
  key[1] = static_cast<uint8_t>(n);
  key[31] = 0x5a;
  return key;
}

events::ArticleFeatures Article(int n) {
  events::ArticleFeatures a;
  a.known = true;
  a.product_code = 100'000 + n;
  a.product_type_no = n % 7;
  a.product_group_name = "Garment Upper body";
  a.graphical_appearance_no = -1;
  a.colour_group_code = 9;
  a.perceived_colour_value_id = 4;
  a.perceived_colour_master_id = 5;
  a.department_no = 1676;
  a.index_code = "A";
  a.index_group_no = 1;
  a.section_no = 16;
  a.garment_group_no = 1002;
  return a;
}

events::CustomerFeatures CustomerFeatures(int age) {
  events::CustomerFeatures c;
  c.known = true;
  c.fn = 1.0f;
  c.club_member_status = "ACTIVE";
  c.fashion_news_frequency = hm::FashionNews::kRegularly;
  c.age = age;
  c.postal_code = "52043ee2162cf5aa7ee79974281641c6f11a68d276429a91f8ca0d4b6efa8100";
  return c;
}

class FeatureStoreTest : public ::testing::Test {
 protected:
  FeatureStoreOptions Options() const {
    FeatureStoreOptions options;
    options.path = (dir_.path() / "db").string();
    options.history_length = 5;
    options.sync_writes = false;  // the tests do not cut the power
    return options;
  }

  std::unique_ptr<FeatureStore> Open(const FeatureStoreOptions& options) {
    Result<std::unique_ptr<FeatureStore>> store = FeatureStore::Open(options);
    EXPECT_TRUE(store.ok()) << store.status().ToString();
    return store.ok() ? std::move(store).value() : nullptr;
  }

  void SetUp() override {
    store_ = Open(Options());
    ASSERT_NE(store_, nullptr);
  }

  void Write(FeatureBatch& batch) {
    const Status written = store_->Write(&batch);
    ASSERT_TRUE(written.ok()) << written.ToString();
  }

  std::vector<hm::ArticleId> History(const CustomerKey& customer, StreamPosition before, int n,
                                     const FeatureBatch* staged = nullptr) {
    std::vector<hm::ArticleId> out;
    const Status read = store_->RecentHistory(customer, before, n, staged, &out);
    EXPECT_TRUE(read.ok()) << read.ToString();
    return out;
  }

  // Appends purchases at offsets first, first+step, ... of partition 2 with articles 1, 2, ...
  void WritePurchases(const CustomerKey& customer, int count, int64_t first = 10,
                      int64_t step = 3) {
    FeatureBatch batch;
    for (int i = 0; i < count; ++i) {
      batch.AppendHistory(customer, {2, first + i * step}, i + 1);
    }
    Write(batch);
  }

  testing::ScopedTempDir dir_{"feature_store_test"};
  std::unique_ptr<FeatureStore> store_;
};

TEST_F(FeatureStoreTest, ArticleUpsertRoundTrips) {
  FeatureBatch batch;
  batch.PutArticle(108775015, Article(1));
  Write(batch);
  std::vector<std::optional<events::ArticleFeatures>> out;
  const std::vector<hm::ArticleId> ids = {108775015};
  ASSERT_TRUE(store_->GetArticles(ids, &out).ok());
  ASSERT_TRUE(out[0].has_value());
  EXPECT_EQ(*out[0], Article(1));
}

TEST_F(FeatureStoreTest, LaterUpsertReplacesEarlierOne) {
  const CustomerKey c = Customer(1);
  FeatureBatch batch;
  batch.PutCustomer(c, CustomerFeatures(30));
  Write(batch);
  std::vector<std::optional<events::CustomerFeatures>> out;
  ASSERT_TRUE(store_->GetCustomers(std::vector{c}, &out).ok());  // now cached
  batch.PutCustomer(c, CustomerFeatures(31));
  Write(batch);
  ASSERT_TRUE(store_->GetCustomers(std::vector{c}, &out).ok());
  ASSERT_TRUE(out[0].has_value());
  EXPECT_EQ(out[0]->age, 31);
}

TEST_F(FeatureStoreTest, MultiGetReportsMissingIdsAsNullopt) {
  FeatureBatch batch;
  batch.PutCustomer(Customer(1), CustomerFeatures(20));
  batch.PutCustomer(Customer(3), CustomerFeatures(40));
  Write(batch);
  const std::vector<CustomerKey> keys = {Customer(1), Customer(2), Customer(3), Customer(2)};
  std::vector<std::optional<events::CustomerFeatures>> out;
  ASSERT_TRUE(store_->GetCustomers(keys, &out).ok());
  ASSERT_EQ(out.size(), keys.size());
  EXPECT_EQ(out[0], CustomerFeatures(20));
  EXPECT_EQ(out[1], std::nullopt);
  EXPECT_EQ(out[2], CustomerFeatures(40));
  EXPECT_EQ(out[3], std::nullopt);
}

TEST_F(FeatureStoreTest, CachedMissSeesRecordWrittenLater) {
  const std::vector<hm::ArticleId> ids = {42};
  std::vector<std::optional<events::ArticleFeatures>> out;
  ASSERT_TRUE(store_->GetArticles(ids, &out).ok());
  ASSERT_EQ(out[0], std::nullopt);
  FeatureBatch batch;
  batch.PutArticle(42, Article(42));
  Write(batch);
  ASSERT_TRUE(store_->GetArticles(ids, &out).ok());
  EXPECT_EQ(out[0], Article(42));
}

TEST_F(FeatureStoreTest, RecentHistoryIsOldestFirstAndLimitedToN) {
  const CustomerKey c = Customer(7);
  WritePurchases(c, 8);  // articles 1..8 at offsets 10, 13, ..., 31
  EXPECT_EQ(History(c, {2, 1000}, 3), (std::vector<hm::ArticleId>{6, 7, 8}));
  EXPECT_EQ(History(c, {2, 1000}, 5), (std::vector<hm::ArticleId>{4, 5, 6, 7, 8}));
}

TEST_F(FeatureStoreTest, RecentHistoryExcludesThePositionItselfAndLaterOnes) {
  const CustomerKey c = Customer(7);
  WritePurchases(c, 8);
  struct Case {
    int64_t before;
    std::vector<hm::ArticleId> want;
  };
  for (const Case& k : {Case{10, {}}, Case{11, {1}}, Case{13, {1}}, Case{14, {1, 2}},
                        Case{31, {3, 4, 5, 6, 7}}, Case{32, {4, 5, 6, 7, 8}}}) {
    EXPECT_EQ(History(c, {2, k.before}, 5), k.want) << "before offset " << k.before;
  }
}

TEST_F(FeatureStoreTest, RecentHistoryReadsBeyondTheCachedLatestEntries) {
  const CustomerKey c = Customer(7);
  WritePurchases(c, 12);  // the cache keeps the latest 5 (history_length)
  EXPECT_EQ(History(c, {2, 1000}, 5), (std::vector<hm::ArticleId>{8, 9, 10, 11, 12}));
  // Offset 19 is article 4: the purchases before it are older than anything cached.
  EXPECT_EQ(History(c, {2, 19}, 5), (std::vector<hm::ArticleId>{1, 2, 3}));
  EXPECT_EQ(History(c, {2, 25}, 5), (std::vector<hm::ArticleId>{1, 2, 3, 4, 5}));
}

TEST_F(FeatureStoreTest, RecentHistoryKeepsCustomersApart) {
  WritePurchases(Customer(1), 3);
  WritePurchases(Customer(2), 2, /*first=*/11);
  EXPECT_EQ(History(Customer(1), {2, 1000}, 5), (std::vector<hm::ArticleId>{1, 2, 3}));
  EXPECT_EQ(History(Customer(2), {2, 1000}, 5), (std::vector<hm::ArticleId>{1, 2}));
  EXPECT_EQ(History(Customer(3), {2, 1000}, 5), (std::vector<hm::ArticleId>{}));
}

TEST_F(FeatureStoreTest, RecentHistoryIncludesStagedPurchases) {
  const CustomerKey c = Customer(7);
  WritePurchases(c, 2);  // offsets 10, 13
  FeatureBatch staged;
  staged.AppendHistory(c, {2, 20}, 77);
  staged.AppendHistory(c, {2, 25}, 78);
  EXPECT_EQ(History(c, {2, 25}, 5, &staged), (std::vector<hm::ArticleId>{1, 2, 77}));
  EXPECT_EQ(History(c, {2, 26}, 5, &staged), (std::vector<hm::ArticleId>{1, 2, 77, 78}));
  EXPECT_EQ(History(c, {2, 26}, 5), (std::vector<hm::ArticleId>{1, 2}));
}

TEST_F(FeatureStoreTest, ReappendingTheSamePositionDoesNotDuplicate) {
  const CustomerKey c = Customer(7);
  WritePurchases(c, 4);  // offsets 10, 13, 16, 19
  const std::vector<hm::ArticleId> before_crash = History(c, {2, 17}, 5);
  // After a crash ingest re-processes offsets 13..19: the same keys are written again.
  FeatureBatch again;
  again.AppendHistory(c, {2, 13}, 2);
  again.AppendHistory(c, {2, 16}, 3);
  EXPECT_EQ(History(c, {2, 17}, 5, &again), before_crash);
  again.AppendHistory(c, {2, 19}, 4);
  Write(again);
  EXPECT_EQ(History(c, {2, 17}, 5), before_crash);
  EXPECT_EQ(History(c, {2, 100}, 5), (std::vector<hm::ArticleId>{1, 2, 3, 4}));
}

TEST_F(FeatureStoreTest, HistoryCacheAnswersRepeatedReadsFromMemory) {
  const CustomerKey c = Customer(7);
  WritePurchases(c, 3);
  History(c, {2, 1000}, 5);
  const CacheStats first = store_->history_cache_stats();
  History(c, {2, 1000}, 5);
  const CacheStats second = store_->history_cache_stats();
  EXPECT_EQ(second.misses, first.misses);
  EXPECT_EQ(second.hits, first.hits + 1);
}

TEST_F(FeatureStoreTest, CachedHistoryFollowsWrites) {
  const CustomerKey c = Customer(7);
  WritePurchases(c, 3);
  History(c, {2, 1000}, 5);  // caches 1, 2, 3
  FeatureBatch batch;
  batch.AppendHistory(c, {2, 500}, 9);
  Write(batch);
  EXPECT_EQ(History(c, {2, 1000}, 5), (std::vector<hm::ArticleId>{1, 2, 3, 9}));
}

TEST_F(FeatureStoreTest, CacheHoldsAtMostItsCapacity) {
  FeatureStoreOptions options = Options();
  options.path = (dir_.path() / "small").string();
  options.article_cache_entries = 3;
  std::unique_ptr<FeatureStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  std::vector<std::optional<events::ArticleFeatures>> out;
  for (hm::ArticleId id = 1; id <= 10; ++id) {
    ASSERT_TRUE(store->GetArticles(std::vector{id}, &out).ok());
  }
  const CacheStats stats = store->article_cache_stats();
  EXPECT_EQ(stats.size, 3u);
  EXPECT_EQ(stats.evictions, 7);
  EXPECT_EQ(stats.misses, 10);
}

TEST_F(FeatureStoreTest, WrittenEntitiesFillTheCacheWhileItHasRoomAndNeverEvict) {
  FeatureStoreOptions options = Options();
  options.path = (dir_.path() / "fill").string();
  options.customer_cache_entries = 3;
  std::unique_ptr<FeatureStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  FeatureBatch batch;
  for (int n = 1; n <= 2; ++n) batch.PutCustomer(Customer(n), CustomerFeatures(20 + n));
  ASSERT_TRUE(store->Write(&batch).ok());
  // Read once: now the most recently used.
  std::vector<std::optional<events::CustomerFeatures>> out;
  ASSERT_TRUE(store->GetCustomers(std::vector{Customer(1), Customer(2)}, &out).ok());
  EXPECT_EQ(store->customer_cache_stats().misses, 0) << "loaded customers need no read";
  for (int n = 3; n <= 10; ++n) batch.PutCustomer(Customer(n), CustomerFeatures(20 + n));
  ASSERT_TRUE(store->Write(&batch).ok());
  const CacheStats stats = store->customer_cache_stats();
  EXPECT_EQ(stats.size, 3u);
  EXPECT_EQ(stats.evictions, 0) << "a bulk load never evicts";
  ASSERT_TRUE(store->GetCustomers(std::vector{Customer(1), Customer(2), Customer(3)}, &out).ok());
  EXPECT_EQ(store->customer_cache_stats().misses, 0);
  ASSERT_TRUE(store->GetCustomers(std::vector{Customer(9)}, &out).ok());
  EXPECT_EQ(store->customer_cache_stats().misses, 1);
  EXPECT_EQ(out[0], CustomerFeatures(29));
}

TEST_F(FeatureStoreTest, LoadedEntitiesAreNotCachedWhenTurnedOff) {
  FeatureStoreOptions options = Options();
  options.path = (dir_.path() / "no-fill").string();
  options.cache_loaded_entities = false;
  std::unique_ptr<FeatureStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  FeatureBatch batch;
  batch.PutArticle(5, Article(5));
  batch.PutCustomer(Customer(1), CustomerFeatures(30));
  ASSERT_TRUE(store->Write(&batch).ok());
  EXPECT_EQ(store->article_cache_stats().size, 0u);
  EXPECT_EQ(store->customer_cache_stats().size, 0u);
  std::vector<std::optional<events::ArticleFeatures>> out;
  ASSERT_TRUE(store->GetArticles(std::vector<hm::ArticleId>{5}, &out).ok());
  EXPECT_EQ(out[0], Article(5));
}

// Without the write-ahead log a clean close still keeps everything (RocksDB flushes then).
TEST_F(FeatureStoreTest, WritesWithoutTheLogSurviveACleanReopen) {
  FeatureStoreOptions options = Options();
  options.path = (dir_.path() / "no-wal").string();
  options.write_ahead_log = false;
  std::unique_ptr<FeatureStore> store = Open(options);
  ASSERT_NE(store, nullptr);
  FeatureBatch batch;
  batch.PutCustomer(Customer(1), CustomerFeatures(41));
  batch.AppendHistory(Customer(1), {0, 7}, 123);
  ASSERT_TRUE(store->Write(&batch).ok());
  store.reset();
  store = Open(options);
  ASSERT_NE(store, nullptr);
  std::vector<std::optional<events::CustomerFeatures>> out;
  ASSERT_TRUE(store->GetCustomers(std::vector{Customer(1)}, &out).ok());
  EXPECT_EQ(out[0], CustomerFeatures(41));
  std::vector<hm::ArticleId> history;
  ASSERT_TRUE(store->RecentHistory(Customer(1), {0, 8}, 5, nullptr, &history).ok());
  EXPECT_EQ(history, (std::vector<hm::ArticleId>{123}));
}

// On a store opened without history, every history lives in the cache until it first evicts:
// a customer's first purchase needs no RocksDB read.
TEST_F(FeatureStoreTest, AFreshStoreAnswersFirstPurchasesWithoutReading) {
  EXPECT_TRUE(History(Customer(1), {2, 100}, 5).empty());
  WritePurchases(Customer(2), 3);  // never read before: its entry starts at the write
  EXPECT_EQ(History(Customer(2), {2, 100}, 5), (std::vector<hm::ArticleId>{1, 2, 3}));
  WritePurchases(Customer(1), 2);
  EXPECT_EQ(History(Customer(1), {2, 100}, 5), (std::vector<hm::ArticleId>{1, 2}));
  EXPECT_EQ(store_->history_read_seconds(), 0.0) << "no RocksDB history read";
  // Reopened with history in the database, misses read it.
  store_.reset();
  store_ = Open(Options());
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(History(Customer(2), {2, 100}, 5), (std::vector<hm::ArticleId>{1, 2, 3}));
  EXPECT_GT(store_->history_read_seconds(), 0.0);
}

TEST_F(FeatureStoreTest, OnceTheHistoryCacheEvictsMissesReadRocksDbAgain) {
  FeatureStoreOptions options = Options();
  options.path = (dir_.path() / "evicting").string();
  options.history_cache_entries = 2;
  store_ = Open(options);
  ASSERT_NE(store_, nullptr);
  for (int c = 1; c <= 4; ++c) WritePurchases(Customer(c), c);  // 3 and 4 do not fit
  EXPECT_EQ(store_->history_read_seconds(), 0.0);
  for (int c = 1; c <= 4; ++c) {
    std::vector<hm::ArticleId> expected;
    for (int i = 1; i <= c; ++i) expected.push_back(i);
    EXPECT_EQ(History(Customer(c), {2, 100}, 5), expected) << "customer " << c;
  }
  EXPECT_GT(store_->history_read_seconds(), 0.0) << "customers 3 and 4 were read";
  // A customer never written is still right (and costs a read now).
  EXPECT_TRUE(History(Customer(9), {2, 100}, 5).empty());
}

TEST_F(FeatureStoreTest, DataSurvivesReopen) {
  FeatureBatch batch;
  batch.PutArticle(5, Article(5));
  batch.PutCustomer(Customer(1), CustomerFeatures(50));
  batch.AppendHistory(Customer(1), {0, 1}, 5);
  batch.SetPosition("hm.transactions", 3, 1234);
  Write(batch);
  store_.reset();
  store_ = Open(Options());
  ASSERT_NE(store_, nullptr);

  std::vector<std::optional<events::ArticleFeatures>> articles;
  ASSERT_TRUE(store_->GetArticles(std::vector<hm::ArticleId>{5}, &articles).ok());
  EXPECT_EQ(articles[0], Article(5));
  std::vector<std::optional<events::CustomerFeatures>> customers;
  ASSERT_TRUE(store_->GetCustomers(std::vector{Customer(1)}, &customers).ok());
  EXPECT_EQ(customers[0], CustomerFeatures(50));
  EXPECT_EQ(History(Customer(1), {0, 2}, 5), (std::vector<hm::ArticleId>{5}));
  Result<std::optional<int64_t>> position = store_->Position("hm.transactions", 3);
  ASSERT_TRUE(position.ok());
  EXPECT_EQ(*position, 1234);
  EXPECT_EQ(*store_->Position("hm.transactions", 4), std::nullopt);
}

TEST_F(FeatureStoreTest, VocabularyIndexesFollowFirstSightAndSurviveReopen) {
  FeatureBatch batch;
  batch.PutArticle(30, Article(30));
  batch.NoteArticle(10);
  batch.PutArticle(20, Article(20));
  batch.PutArticle(30, Article(30));  // already has one
  batch.NoteCustomer(Customer(2));
  Write(batch);
  batch.PutArticle(10, Article(10));  // noted first: keeps its index
  batch.PutArticle(40, Article(40));
  Write(batch);
  store_.reset();
  store_ = Open(Options());
  ASSERT_NE(store_, nullptr);
  EXPECT_EQ(store_->article_vocabulary_size(), 4);
  EXPECT_EQ(store_->customer_vocabulary_size(), 1);
  struct Case {
    hm::ArticleId id;
    std::optional<int64_t> index;
  };
  for (const Case& k : {Case{30, 0}, Case{10, 1}, Case{20, 2}, Case{40, 3}, Case{50, {}}}) {
    Result<std::optional<int64_t>> index = store_->ArticleIndex(k.id);
    ASSERT_TRUE(index.ok()) << index.status().ToString();
    EXPECT_EQ(*index, k.index) << "article " << k.id;
  }
  EXPECT_EQ(*store_->CustomerIndex(Customer(2)), 0);
}

TEST_F(FeatureStoreTest, SecondOpenOfTheSameDirectoryFails) {
  Result<std::unique_ptr<FeatureStore>> second = FeatureStore::Open(Options());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kIoError) << second.status().ToString();
  EXPECT_NE(second.status().message().find(Options().path), std::string::npos)
      << second.status().message();
}

// A full disk is an error that names the folder and the reason, never RocksDB's abort (its own
// info log, once an append to it failed, asserts on the next line): the failed batch and later
// ones are refused, the store closes cleanly, and once space is freed a reopened store holds
// every batch written before the failure and takes new ones.
class FeatureStoreFullDiskTest : public ::testing::TestWithParam<bool> {
 protected:
  static FeatureBatch Customers(int first, int n) {
    FeatureBatch batch;
    for (int i = first; i < first + n; ++i) {
      batch.PutCustomer(NumberedCustomer(i), CustomerFeatures(20 + i % 50));
      batch.AppendHistory(NumberedCustomer(i), {0, i}, i);
    }
    batch.SetPosition("hm.transactions", 0, first + n);
    return batch;
  }
  static CustomerKey NumberedCustomer(int n) {
    CustomerKey key{};
    for (int k = 0; k < 4; ++k) key[k] = static_cast<uint8_t>(n >> (8 * k));
    key[31] = 0xa5;
    return key;
  }
};

TEST_P(FeatureStoreFullDiskTest, AFullDiskIsAClearErrorAndLosesNothingWritten) {
  towerstream::testing::ScopedTempDir dir{"feature_store_full_disk"};
  std::string why;
  const std::unique_ptr<towerstream::testing::SmallDisk> disk =
      towerstream::testing::SmallDisk::Mount(dir.path() / "disk", 16 << 20, 12 << 20, &why);
  if (disk == nullptr) GTEST_SKIP() << why;
  FeatureStoreOptions options;
  options.path = (disk->dir() / "db").string();
  options.history_length = 5;
  options.write_ahead_log = GetParam();
  options.write_buffer_bytes = 1 << 20;  // without the log, the failure comes at a flush
  Result<std::unique_ptr<FeatureStore>> opened = FeatureStore::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  std::unique_ptr<FeatureStore> store = std::move(opened).value();

  constexpr int kBatch = 1000;
  int written = 0;
  for (; written < 5 * kBatch; written += kBatch) {
    FeatureBatch batch = Customers(written, kBatch);
    ASSERT_TRUE(store->Write(&batch).ok());
  }
  disk->Fill();
  Status failed;
  for (int b = 0; b < 200 && failed.ok(); ++b, written += kBatch) {
    FeatureBatch batch = Customers(written, kBatch);
    failed = store->Write(&batch);
  }
  ASSERT_FALSE(failed.ok()) << "a full disk took every batch";
  EXPECT_EQ(failed.code(), StatusCode::kIoError) << failed.ToString();
  EXPECT_NE(failed.message().find("No space left"), std::string::npos) << failed.ToString();
  EXPECT_NE(failed.message().find(options.path), std::string::npos) << failed.ToString();
  for (int b = 0; b < 20; ++b) {  // later batches too, each a clear error
    FeatureBatch again = Customers(written, kBatch);
    const Status refused = store->Write(&again);
    EXPECT_FALSE(refused.ok());
    EXPECT_NE(refused.message().find("No space left"), std::string::npos) << refused.ToString();
  }
  store.reset();  // closes without aborting, on the full disk

  disk->FreeSpace();
  opened = FeatureStore::Open(options);
  ASSERT_TRUE(opened.ok()) << opened.status().ToString();
  store = std::move(opened).value();
  Result<std::optional<int64_t>> position = store->Position("hm.transactions", 0);
  ASSERT_TRUE(position.ok()) << position.status().ToString();
  // Whatever the stored position says was written is there: with the log that is every batch
  // written before the disk filled, and without it what the last clean flush held.
  const int64_t through = position->value_or(0);
  if (GetParam()) {
    EXPECT_GE(through, 5 * kBatch);
  }
  for (int64_t n = 0; n < through; n += 97) {
    std::vector<std::optional<events::CustomerFeatures>> out;
    ASSERT_TRUE(store->GetCustomers(std::vector{NumberedCustomer(static_cast<int>(n))}, &out).ok());
    EXPECT_TRUE(out[0].has_value()) << "customer " << n << " of " << through;
  }
  FeatureBatch after = Customers(static_cast<int>(through), kBatch);
  const Status resumed = store->Write(&after);
  EXPECT_TRUE(resumed.ok()) << resumed.ToString();
}

INSTANTIATE_TEST_SUITE_P(WithAndWithoutTheLog, FeatureStoreFullDiskTest, ::testing::Bool());

TEST(FeatureStoreOptionsTest, RejectsInvalidOptions) {
  struct Case {
    const char* name;
    FeatureStoreOptions options;
  };
  FeatureStoreOptions no_path;
  FeatureStoreOptions no_history;
  no_history.path = "x";
  no_history.history_length = 0;
  for (const Case& k : {Case{"empty path", no_path}, Case{"history_length 0", no_history}}) {
    EXPECT_EQ(k.options.Validate().code(), StatusCode::kInvalidArgument) << k.name;
  }
}

}  // namespace
}  // namespace towerstream::features
