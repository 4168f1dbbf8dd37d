#include "common/hm/inspect.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <map>
#include <string>

#include "tests/testing/temp_dir.h"

namespace towerstream::hm {
namespace {

using ::towerstream::testing::ScopedTempDir;

constexpr char kCustomerA[] = "00000dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657";
constexpr char kCustomerB[] = "0000423b00ade91418cceaf3b26c6af3dd342b51fd051eec9c12fb36984420fa";
constexpr char kCustomerUnknown[] =
    "000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318";

std::string ArticleRow(const std::string& id) {
  return id +
         ",108775,Strap top,253,Vest top,Garment Upper body,1010016,Solid,9,Black,4,Dark,5,Black,"
         "1676,Jersey Basic,A,Ladieswear,1,Ladieswear,16,Womens Everyday Basics,1002,Jersey "
         "Basic,\"Jersey top, narrow straps.\"\n";
}

// Two articles, two customers, and transactions with one unknown article, one unknown
// customer and one bad price.
void WriteDataset(const ScopedTempDir& dir) {
  dir.WriteFile("articles.csv", std::string(kArticlesHeader) + "\n" + ArticleRow("0108775015") +
                                    ArticleRow("108775044"));
  dir.WriteFile("customers.csv", std::string(kCustomersHeader) + "\n" + kCustomerA +
                                     ",,,ACTIVE,NONE,49,abc\n" + kCustomerB +
                                     ",1.0,1.0,ACTIVE,Regularly,25.0,def\n");
  dir.WriteFile("transactions_train.csv",
                std::string(kTransactionsHeader) + "\n" +                        //
                    "2018-09-20," + kCustomerA + ",0108775015,0.0508,2\n" +      // line 2
                    "2018-09-21," + kCustomerA + ",108775044,0.0305,1\n" +       // line 3
                    "2018-09-22," + kCustomerB + ",0999999999,0.0305,2\n" +      // line 4
                    "2018-09-25," + kCustomerUnknown + ",0108775015,0.01,2\n" +  // line 5
                    "2018-09-23," + kCustomerB + ",0108775015,abc,2\n");         // line 6
  dir.WriteFile("notes.txt", "not a csv file\n");
}

const FileReport& FindKind(const InspectReport& report, FileKind kind) {
  for (const FileReport& f : report.files) {
    if (f.kind == kind) return f;
  }
  ADD_FAILURE() << "no " << FileKindName(kind) << " file in the report";
  return report.files.front();
}

TEST(InspectTest, SummarisesEveryFileOfADirectory) {
  ScopedTempDir dir;
  WriteDataset(dir);
  Result<InspectReport> report = Inspect({dir.path().string()}, InspectOptions{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->files.size(), 3u);
  EXPECT_TRUE(report->all_ok());

  const FileReport& articles = FindKind(*report, FileKind::kArticles);
  EXPECT_EQ(articles.stats.rows_read, 2);
  EXPECT_EQ(articles.distinct_ids, 2);

  const FileReport& customers = FindKind(*report, FileKind::kCustomers);
  EXPECT_EQ(customers.stats.rows_ok, 2);
  EXPECT_EQ(customers.distinct_ids, 2);

  const FileReport& tx = FindKind(*report, FileKind::kTransactions);
  EXPECT_EQ(tx.stats.rows_read, 5);
  EXPECT_EQ(tx.stats.rows_ok, 4);
  EXPECT_EQ(tx.stats.rows_rejected, 1);
  EXPECT_EQ(tx.distinct_ids, 3);
  EXPECT_EQ(tx.distinct_articles, 3);
  ASSERT_TRUE(tx.first_date && tx.last_date);
  EXPECT_EQ(tx.first_date->ToString(), "2018-09-20");
  EXPECT_EQ(tx.last_date->ToString(), "2018-09-25");
  ASSERT_TRUE(tx.article_known && tx.customer_known);
  EXPECT_EQ(*tx.article_known, 3);
  EXPECT_EQ(*tx.customer_known, 3);
}

TEST(InspectTest, ReportsRejectedRowWithFileAndLine) {
  ScopedTempDir dir;
  WriteDataset(dir);
  Result<InspectReport> report = Inspect({dir.path().string()}, InspectOptions{});
  ASSERT_TRUE(report.ok());
  const FileReport& tx = FindKind(*report, FileKind::kTransactions);
  ASSERT_EQ(tx.stats.errors.size(), 1u);
  const std::string message = tx.stats.errors[0].ToString();
  EXPECT_NE(message.find("transactions_train.csv:6:"), std::string::npos) << message;
  EXPECT_NE(message.find("price"), std::string::npos) << message;
}

TEST(InspectTest, KnownSharesAreUnsetWithoutEntityFiles) {
  ScopedTempDir dir;
  WriteDataset(dir);
  Result<InspectReport> report =
      Inspect({(dir.path() / "transactions_train.csv").string()}, InspectOptions{});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->files.size(), 1u);
  EXPECT_FALSE(report->files[0].article_known.has_value());
  EXPECT_FALSE(report->files[0].customer_known.has_value());
}

TEST(InspectTest, StrictModeStopsAtTheFirstBadRow) {
  ScopedTempDir dir;
  WriteDataset(dir);
  InspectOptions options;
  options.strict = true;
  Result<InspectReport> report = Inspect({dir.path().string()}, options);
  ASSERT_TRUE(report.ok());
  EXPECT_FALSE(report->all_ok());
  const FileReport& tx = FindKind(*report, FileKind::kTransactions);
  EXPECT_FALSE(tx.status.ok());
  EXPECT_NE(tx.status.message().find("transactions_train.csv:6:"), std::string::npos)
      << tx.status.message();
}

TEST(InspectTest, MissingPathIsAnError) {
  Result<InspectReport> report = Inspect({"/nonexistent/towerstream"}, InspectOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_EQ(report.status().code(), StatusCode::kNotFound);
  EXPECT_NE(report.status().message().find("/nonexistent/towerstream"), std::string::npos);
}

TEST(InspectTest, DirectoryWithoutKaggleFilesIsAnError) {
  ScopedTempDir dir;
  dir.WriteFile("other.csv", "a,b\n1,2\n");
  Result<InspectReport> report = Inspect({dir.path().string()}, InspectOptions{});
  ASSERT_FALSE(report.ok());
  EXPECT_NE(report.status().message().find("no .csv file"), std::string::npos);
}

TEST(InspectTest, FileWithUnknownHeaderIsReportedNotFatal) {
  ScopedTempDir dir;
  WriteDataset(dir);
  const std::string other = dir.WriteFile("other.csv", "a,b\n1,2\n");
  Result<InspectReport> report =
      Inspect({other, (dir.path() / "articles.csv").string()}, InspectOptions{});
  ASSERT_TRUE(report.ok());
  ASSERT_EQ(report->files.size(), 2u);
  EXPECT_FALSE(report->files[0].status.ok());
  EXPECT_TRUE(report->files[1].status.ok());
  EXPECT_EQ(report->files[1].stats.rows_ok, 2);
}

// Before, each of these was passed over without a word and inspect exited 0.
TEST(InspectTest, ReportsEveryCsvOfADirectoryThatCannotBeRead) {
  ScopedTempDir dir;
  WriteDataset(dir);
  const std::string empty = dir.WriteFile("empty.csv", "");
  const std::string reordered = dir.WriteFile(
      "reordered.csv", "customer_id,t_dat,article_id,price,sales_channel_id\n" +
                           std::string(kCustomerA) + ",2018-09-20,0108775015,0.05,2\n");
  std::filesystem::create_directory(dir.path() / "folder.csv");
  dir.WriteFile("sample_submission.csv", "customer_id,prediction\nx,0108775015\n");
  Result<InspectReport> report = Inspect({dir.path().string()}, InspectOptions{});
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_EQ(report->files.size(), 6u) << "the three, and three that cannot be read as one";
  EXPECT_FALSE(report->all_ok());
  std::map<std::string, std::string> errors;
  for (const FileReport& f : report->files) {
    if (!f.status.ok()) errors[std::filesystem::path(f.path).filename()] = f.status.message();
  }
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_NE(errors["empty.csv"].find("empty file"), std::string::npos) << errors["empty.csv"];
  EXPECT_NE(errors["reordered.csv"].find("the columns of H&M transactions in another order"),
            std::string::npos)
      << errors["reordered.csv"];
  EXPECT_NE(errors["folder.csv"].find("folder.csv"), std::string::npos) << errors["folder.csv"];
  EXPECT_FALSE(errors.contains("sample_submission.csv")) << "another kind of CSV is left alone";
}

}  // namespace
}  // namespace towerstream::hm
