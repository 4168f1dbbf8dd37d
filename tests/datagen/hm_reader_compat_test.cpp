// The project's own H&M readers (common/hm) load generated files with no rejections and read
// back exactly the records the generator made.
#include <gtest/gtest.h>

#include "common/datagen/catalog.h"
#include "common/datagen/generator.h"
#include "common/datagen/population.h"
#include "common/hm/hm_reader.h"
#include "tests/datagen/dataset.h"

namespace towerstream::datagen {
namespace {

GeneratorOptions Options() { return testing::SizedOptions(4000, 2000, 80000, /*seed=*/11); }

class HmReaderCompatTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Result<GenerateSummary> summary = Generate(Options(), dir_.path());
    ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  }
  std::string File(std::string_view name) const { return (dir_.path() / name).string(); }

  testing::TempDir dir_;
};

// All rows of a file, read in strict mode: the first rejected row fails the test.
template <typename Record>
std::vector<Record> ReadWithoutRejections(const std::string& path) {
  hm::ReaderOptions strict;
  strict.strict = true;
  hm::LoadStats stats;
  Result<std::vector<Record>> rows = hm::ReadAll<Record>(path, strict, &stats);
  EXPECT_TRUE(rows.ok()) << rows.status().ToString();
  EXPECT_EQ(stats.rows_rejected, 0);
  return rows.ok() ? std::move(rows).value() : std::vector<Record>{};
}

TEST_F(HmReaderCompatTest, ReadsArticlesBackExactly) {
  const std::vector<hm::Article> articles = ReadWithoutRejections<hm::Article>(File(kArticlesFile));
  const Catalog catalog = BuildCatalog(Options().seed, Options().articles, Options().days);
  ASSERT_EQ(articles.size(), catalog.articles.size());
  for (size_t i = 0; i < articles.size(); ++i)
    ASSERT_EQ(articles[i], catalog.articles[i]) << "row " << i + 1;
}

TEST_F(HmReaderCompatTest, ReadsCustomersBackExactly) {
  const std::vector<hm::Customer> customers =
      ReadWithoutRejections<hm::Customer>(File(kCustomersFile));
  const Population population =
      BuildPopulation(Options().seed, Options().customers, Options().days);
  ASSERT_EQ(static_cast<int64_t>(customers.size()), population.size());
  for (size_t i = 0; i < customers.size(); ++i) {
    ASSERT_EQ(customers[i], population.Row(static_cast<int64_t>(i))) << "row " << i + 1;
  }
}

TEST_F(HmReaderCompatTest, ReadsEveryTransaction) {
  const std::vector<hm::Transaction> transactions =
      ReadWithoutRejections<hm::Transaction>(File(kTransactionsFile));
  ASSERT_EQ(static_cast<int64_t>(transactions.size()), Options().transactions);
  EXPECT_EQ(transactions.front().t_dat, Options().start_date);
}

TEST_F(HmReaderCompatTest, DetectsEachFileKind) {
  const std::pair<std::string_view, hm::FileKind> files[] = {
      {kArticlesFile, hm::FileKind::kArticles},
      {kCustomersFile, hm::FileKind::kCustomers},
      {kTransactionsFile, hm::FileKind::kTransactions},
  };
  for (const auto& [name, kind] : files) {
    Result<hm::FileKind> detected = hm::DetectFileKind(File(name));
    ASSERT_TRUE(detected.ok()) << name << ": " << detected.status().ToString();
    EXPECT_EQ(*detected, kind) << name;
  }
}

}  // namespace
}  // namespace towerstream::datagen
