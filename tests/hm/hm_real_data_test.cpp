// Reads the real H&M sample files (../shared/data/hm-real) and checks the README's row
// counts, zero rejections, and that raw and re-saved copies of the same rows agree.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "common/hm/hm_reader.h"

namespace towerstream::hm {
namespace {

const std::filesystem::path kDataDir = "../shared/data/hm-real";

class HmRealDataTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::filesystem::is_directory(kDataDir)) return;
    if (std::getenv("CI") != nullptr) {
      FAIL() << kDataDir << " is missing (relative to " << std::filesystem::current_path()
             << "); CI must provide the real H&M sample";
    }
    GTEST_SKIP() << kDataDir << " not found (relative to " << std::filesystem::current_path()
                 << "); the real-data checks need it";
  }

  static std::string Path(const std::string& name) { return (kDataDir / name).string(); }

  template <typename Record>
  static std::vector<Record> ReadClean(const std::string& name, int64_t expected_rows) {
    LoadStats stats;
    Result<std::vector<Record>> records = ReadAll<Record>(Path(name), {}, &stats);
    EXPECT_TRUE(records.ok()) << name << ": " << records.status().ToString();
    if (!records.ok()) return {};
    EXPECT_EQ(stats.rows_read, expected_rows) << name;
    EXPECT_EQ(stats.rows_rejected, 0)
        << name << ": first error: " << (stats.errors.empty() ? "" : stats.errors[0].ToString());
    EXPECT_EQ(static_cast<int64_t>(records->size()), expected_rows) << name;
    return *std::move(records);
  }
};

TEST_F(HmRealDataTest, ReadsEveryFileWithTheReadmeRowCountsAndNoRejections) {
  struct Case {
    std::string name;
    FileKind kind;
    int64_t rows;
  };
  const std::vector<Case> cases = {
      {"articles_25col_1k.csv", FileKind::kArticles, 1000},
      {"articles_resaved_4903.csv", FileKind::kArticles, 4903},
      {"customers_raw_1k.csv", FileKind::kCustomers, 1000},
      {"customers_resaved_10k.csv", FileKind::kCustomers, 10000},
      {"transactions_raw_1k.csv", FileKind::kTransactions, 1000},
      {"transactions_resaved_10k.csv", FileKind::kTransactions, 10000},
  };
  for (const Case& c : cases) {
    Result<FileKind> kind = DetectFileKind(Path(c.name));
    ASSERT_TRUE(kind.ok()) << c.name << ": " << kind.status().ToString();
    EXPECT_EQ(*kind, c.kind) << c.name;
    switch (c.kind) {
      case FileKind::kArticles:
        ReadClean<Article>(c.name, c.rows);
        break;
      case FileKind::kCustomers:
        ReadClean<Customer>(c.name, c.rows);
        break;
      case FileKind::kTransactions:
        ReadClean<Transaction>(c.name, c.rows);
        break;
    }
  }
}

TEST_F(HmRealDataTest, SkipsTheIndexColumnOfTheResavedArticles) {
  auto reader = ArticleReader::Open(Path("articles_resaved_4903.csv"));
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_TRUE((*reader)->has_index_column());
  Article first;
  ASSERT_TRUE(*(*reader)->Next(&first));
  EXPECT_EQ(first.article_id, 108775015);
  EXPECT_EQ(first.product_code, 108775);
  EXPECT_EQ(first.prod_name, "Strap top");
  EXPECT_EQ(first.detail_desc, "Jersey top with narrow shoulder straps.");
}

TEST_F(HmRealDataTest, RawAndResavedArticlesAgree) {
  const auto raw = ReadClean<Article>("articles_25col_1k.csv", 1000);
  const auto resaved = ReadClean<Article>("articles_resaved_4903.csv", 4903);
  std::map<ArticleId, const Article*> by_id;
  for (const Article& a : resaved) by_id[a.article_id] = &a;
  int shared = 0;
  for (const Article& a : raw) {
    auto it = by_id.find(a.article_id);
    if (it == by_id.end()) continue;
    ++shared;
    EXPECT_EQ(*it->second, a) << FormatArticleId(a.article_id);
  }
  EXPECT_EQ(shared, 137);
}

TEST_F(HmRealDataTest, RawAndResavedCustomersAgreeAfterNormalisation) {
  const auto raw = ReadClean<Customer>("customers_raw_1k.csv", 1000);
  const auto resaved = ReadClean<Customer>("customers_resaved_10k.csv", 10000);
  ASSERT_EQ(raw.size(), 1000u);
  ASSERT_GE(resaved.size(), raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    EXPECT_EQ(raw[i], resaved[i]) << "row " << i << " customer " << raw[i].customer_id;
  }
  EXPECT_EQ(resaved[0].age, 49);  // written "49.0"
}

TEST_F(HmRealDataTest, RawAndResavedTransactionsAgreeUpToPriceRounding) {
  const auto raw = ReadClean<Transaction>("transactions_raw_1k.csv", 1000);
  const auto resaved = ReadClean<Transaction>("transactions_resaved_10k.csv", 10000);
  ASSERT_EQ(raw.size(), 1000u);
  ASSERT_GE(resaved.size(), raw.size());
  for (size_t i = 0; i < raw.size(); ++i) {
    SCOPED_TRACE("row " + std::to_string(i));
    EXPECT_EQ(raw[i].t_dat, resaved[i].t_dat);
    EXPECT_EQ(raw[i].customer_id, resaved[i].customer_id);
    EXPECT_EQ(raw[i].article_id, resaved[i].article_id);
    EXPECT_EQ(raw[i].sales_channel_id, resaved[i].sales_channel_id);
    EXPECT_NEAR(raw[i].price, resaved[i].price, 1e-12);
  }
}

}  // namespace
}  // namespace towerstream::hm
