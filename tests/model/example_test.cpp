// Example feature codes and the catalogue of articles.
#include "common/model/example.h"

#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "common/model/catalogue.h"
#include "common/model/embedding_table.h"

namespace towerstream::model {
namespace {

TEST(ExampleCodesTest, CustomerKeyIsTheFirstSixteenHexDigits) {
  EXPECT_EQ(CustomerKey("000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318"),
            0x000058a12d5b43e6LL);
  // Other strings are hashed, and differ.
  EXPECT_NE(CustomerKey("alice"), CustomerKey("bob"));
  EXPECT_EQ(CustomerKey("alice"), CustomerKey("alice"));
}

TEST(ExampleCodesTest, CustomerKeyIsNeverTheReservedNoId) {
  // A valid id whose first 16 digits are all f would read as -1, the tables' "no id".
  const std::string all_f(64, 'f');
  const std::string f16 = std::string(16, 'f') + std::string(48, '0');
  for (const std::string& id : {all_f, f16}) {
    EXPECT_NE(CustomerKey(id), kNoId) << id;
    EXPECT_EQ(CustomerKey(id), CustomerKey(id));
  }
  EXPECT_NE(CustomerKey(all_f), CustomerKey(f16)) << "hashed on the whole id";
  EXPECT_EQ(CustomerKey(std::string(15, 'f') + "e" + std::string(48, '0')), -2)
      << "every other id keeps its digits";
}

TEST(ExampleCodesTest, StringCodeIsStablePositiveAndSpread) {
  EXPECT_EQ(StringCode("Garment Upper body"), StringCode("Garment Upper body"));
  std::set<int64_t> buckets;
  for (int i = 0; i < 1000; ++i) {
    const int64_t code = StringCode(std::to_string(i));
    EXPECT_GT(code, 0);
    buckets.insert(code % 64);
  }
  EXPECT_EQ(buckets.size(), 64u) << "short strings spread over small bucket counts";
}

TEST(ExampleCodesTest, CustomerCodeTables) {
  EXPECT_EQ(ClubMemberStatusCode(std::nullopt), 0);
  EXPECT_EQ(ClubMemberStatusCode("ACTIVE"), 1);
  EXPECT_EQ(ClubMemberStatusCode("PRE-CREATE"), 2);
  EXPECT_EQ(ClubMemberStatusCode("LEFT CLUB"), 3);
  EXPECT_GT(ClubMemberStatusCode("GOLD"), 3);
  EXPECT_EQ(FashionNewsCode(std::nullopt), 0);
  EXPECT_EQ(FashionNewsCode(hm::FashionNews::kNone), 1);
  EXPECT_EQ(FashionNewsCode(hm::FashionNews::kMonthly), 3);
  EXPECT_EQ(FlagCode(std::nullopt), 0);
  EXPECT_EQ(FlagCode(0.0f), 1);
  EXPECT_EQ(FlagCode(1.0f), 2);
  EXPECT_EQ(PostalCode(""), 0);
  EXPECT_NE(PostalCode("52043ee2162cf5aa7ee79974281641c6f11a68d276429a91f8ca0d4b6efa8100"), 0);
}

TEST(ExampleCodesTest, ArticleCodesOfAKaggleRow) {
  hm::Article a;
  a.article_id = 108775015;
  a.product_code = 108775;
  a.product_type_no = 253;
  a.product_group_name = "Garment Upper body";
  a.index_code = "A";
  a.garment_group_no = 1002;
  const ArticleCodes codes = ArticleCodesOf(a);
  EXPECT_TRUE(codes.known);
  EXPECT_EQ(codes.codes[kProductCode], 108775);
  EXPECT_EQ(codes.codes[kProductType], 253);
  EXPECT_EQ(codes.codes[kProductGroup], StringCode("Garment Upper body"));
  EXPECT_EQ(codes.codes[kIndex], 'A');
  EXPECT_EQ(codes.codes[kGarmentGroup], 1002);
}

ArticleCodes Codes(int64_t product_code, bool known = true) {
  ArticleCodes c;
  c.known = known;
  c.codes[kProductCode] = product_code;
  return c;
}

TEST(CatalogueTest, UpsertKeepsIndexesAndPrefersKnownCodes) {
  Catalogue catalogue;
  EXPECT_EQ(catalogue.Upsert(7, Codes(0, false)), 0);
  EXPECT_EQ(catalogue.Upsert(9, Codes(90)), 1);
  const int64_t version = catalogue.version();
  EXPECT_EQ(catalogue.Upsert(7, Codes(70)), 0) << "a known record replaces an unknown one";
  EXPECT_EQ(catalogue.codes()[0].codes[kProductCode], 70);
  EXPECT_GT(catalogue.version(), version);
  EXPECT_EQ(catalogue.Upsert(7, Codes(0, false)), 0);
  EXPECT_EQ(catalogue.codes()[0].codes[kProductCode], 70) << "an unknown one never replaces";
  EXPECT_EQ(catalogue.IndexOf(9), 1);
  EXPECT_FALSE(catalogue.IndexOf(8).has_value());
  EXPECT_EQ(catalogue.size(), 2);
}

TEST(CatalogueTest, SaveLoadRoundTripsAndDetectsTruncation) {
  Catalogue catalogue;
  for (int64_t id = 100; id < 110; ++id) catalogue.Upsert(id, Codes(id / 2, id % 3 != 0));
  std::stringstream state;
  ASSERT_TRUE(catalogue.Save(state).ok());
  Catalogue loaded;
  ASSERT_TRUE(loaded.Load(state).ok());
  EXPECT_EQ(loaded.ids(), catalogue.ids());
  EXPECT_EQ(loaded.codes(), catalogue.codes());
  EXPECT_EQ(loaded.IndexOf(105), 5);
  std::stringstream truncated(state.str().substr(0, state.str().size() - 5));
  const Status s = loaded.Load(truncated);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_EQ(loaded.size(), 10) << "a failed load leaves the catalogue as it was";
}

// Found by fuzz/snapshot_state_fuzzer: the count was reserved as read, so a damaged one threw
// std::length_error (or bad_alloc) out of Load instead of returning Corruption.
TEST(CatalogueTest, ADamagedCountIsCorruptionNotAnAllocation) {
  Catalogue catalogue;
  catalogue.Upsert(108775015, Codes(1));
  std::stringstream state;
  ASSERT_TRUE(catalogue.Save(state).ok());
  std::string bytes = state.str();
  // Header: 8 magic bytes, a 4-byte version, then the article count.
  constexpr int64_t kHuge = int64_t{1} << 62;
  bytes.replace(12, sizeof(kHuge), reinterpret_cast<const char*>(&kHuge), sizeof(kHuge));
  std::stringstream damaged(bytes);
  Catalogue loaded;
  const Status s = loaded.Load(damaged);
  EXPECT_EQ(s.code(), StatusCode::kCorruption) << s.ToString();
  EXPECT_EQ(loaded.size(), 0);
}

}  // namespace
}  // namespace towerstream::model
