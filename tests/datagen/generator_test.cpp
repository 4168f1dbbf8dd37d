// The generated files are Kaggle's files byte for byte in format, complete, consistent and
// deterministic.
#include "common/datagen/generator.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <set>

#include "common/csv/csv_writer.h"
#include "common/datagen/calibration_tables.h"
#include "common/hm/records.h"
#include "tests/datagen/dataset.h"

namespace towerstream::datagen {
namespace {

using testing::Column;
using testing::Dataset;
using testing::GenerateAndLoad;
using testing::ReadFile;
using testing::ReadLines;
using testing::TempDir;

GeneratorOptions SmallOptions() { return testing::SizedOptions(3000, 1200, 60000, /*seed=*/7); }

class GeneratedFilesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    Result<std::unique_ptr<Dataset>> data = GenerateAndLoad(SmallOptions());
    ASSERT_TRUE(data.ok()) << data.status().ToString();
    data_ = std::move(*data).release();
  }
  static void TearDownTestSuite() {
    delete data_;
    data_ = nullptr;
  }
  static std::filesystem::path File(std::string_view name) { return data_->dir.path() / name; }

  static Dataset* data_;
};
Dataset* GeneratedFilesTest::data_ = nullptr;

bool IsLowerHex(std::string_view s, size_t size) {
  return s.size() == size && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool IsDigits(std::string_view s, size_t size) {
  return s.size() == size &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

TEST_F(GeneratedFilesTest, HeadersAreByteIdenticalToKaggle) {
  const std::pair<std::string_view, std::string_view> files[] = {
      {kArticlesFile, hm::kArticlesHeader},
      {kCustomersFile, hm::kCustomersHeader},
      {kTransactionsFile, hm::kTransactionsHeader},
  };
  for (const auto& [file, header] : files) {
    const std::string text = ReadFile(File(file));
    EXPECT_EQ(text.substr(0, header.size() + 1), std::string(header) + "\n") << file;
  }
}

TEST_F(GeneratedFilesTest, RowCountsAreExact) {
  EXPECT_EQ(ReadLines(File(kArticlesFile)).size(),
            1 + static_cast<size_t>(SmallOptions().articles));
  EXPECT_EQ(ReadLines(File(kCustomersFile)).size(),
            1 + static_cast<size_t>(SmallOptions().customers));
  EXPECT_EQ(ReadLines(File(kTransactionsFile)).size(),
            1 + static_cast<size_t>(SmallOptions().transactions));
  EXPECT_EQ(data_->summary.transactions.rows, SmallOptions().transactions);
  EXPECT_EQ(data_->summary.transactions.bytes,
            static_cast<int64_t>(std::filesystem::file_size(File(kTransactionsFile))));
}

TEST_F(GeneratedFilesTest, LeavesNoTemporaryFiles) {
  for (const auto& entry : std::filesystem::directory_iterator(data_->dir.path())) {
    EXPECT_NE(entry.path().extension(), ".tmp") << entry.path();
  }
}

TEST_F(GeneratedFilesTest, ArticleIdsAreTenDigitsSortedAndBuiltFromTheProductCode) {
  const std::vector<std::string> lines = ReadLines(File(kArticlesFile));
  int64_t previous = 0;
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view id = std::string_view(lines[i]).substr(0, 10);
    const std::string_view code = std::string_view(lines[i]).substr(11, 7);
    ASSERT_TRUE(IsDigits(id, 10) && lines[i][10] == ',') << lines[i];
    ASSERT_TRUE(IsDigits(code, 7) && lines[i][18] == ',') << lines[i];
    EXPECT_EQ(id.substr(0, 7), code) << lines[i];
    EXPECT_NE(id.substr(7), "000") << lines[i];
    const int64_t value = std::stoll(std::string(id));
    EXPECT_GT(value, previous) << lines[i];
    previous = value;
  }
}

TEST_F(GeneratedFilesTest, ArticleRowsAreRfc4180WithKaggleFieldFormats) {
  const std::vector<std::string> lines = ReadLines(File(kArticlesFile));
  ASSERT_EQ(lines.size(), data_->articles.size() + 1);
  const int colour = Column(hm::kArticlesHeader, "colour_group_code");
  bool saw_quoted = false;
  for (size_t i = 0; i < data_->articles.size(); ++i) {
    const std::vector<std::string>& row = data_->articles[i];
    ASSERT_EQ(row.size(), static_cast<size_t>(hm::kArticleColumns)) << lines[i + 1];
    // Writing the parsed fields back with minimal quoting gives the line: names with commas
    // are quoted, nothing else is.
    std::string again;
    for (size_t f = 0; f < row.size(); ++f) {
      if (f > 0) again.push_back(',');
      csv::AppendField(&again, row[f]);
    }
    EXPECT_EQ(again, lines[i + 1]);
    saw_quoted |= lines[i + 1].find('"') != std::string::npos;
    EXPECT_TRUE(row[colour] == "-1" || IsDigits(row[colour], 2)) << lines[i + 1];
  }
  EXPECT_TRUE(saw_quoted) << "expected some names or descriptions with commas";
}

TEST_F(GeneratedFilesTest, CustomerRowsHaveKaggleValues) {
  const std::set<std::string> flags = {"", "1.0"};
  const std::set<std::string> clubs = {"", "ACTIVE", "PRE-CREATE", "LEFT CLUB"};
  const std::set<std::string> news = {"", "NONE", "None", "Regularly", "Monthly"};
  std::string previous;
  for (const std::vector<std::string>& row : data_->customers) {
    ASSERT_EQ(row.size(), static_cast<size_t>(hm::kCustomerColumns));
    EXPECT_TRUE(IsLowerHex(row[0], 64)) << row[0];
    EXPECT_GT(row[0], previous) << "customers.csv is sorted by customer_id, ids are unique";
    previous = row[0];
    EXPECT_TRUE(flags.count(row[1]) && flags.count(row[2])) << row[0];
    EXPECT_TRUE(clubs.count(row[3])) << row[3];
    EXPECT_TRUE(news.count(row[4])) << row[4];
    if (!row[5].empty()) {
      int age = 0;
      auto [end, ec] = std::from_chars(row[5].data(), row[5].data() + row[5].size(), age);
      EXPECT_TRUE(ec == std::errc() && end == row[5].data() + row[5].size()) << row[5];
      EXPECT_TRUE(age >= 16 && age <= 99) << age;
    }
    EXPECT_TRUE(IsLowerHex(row[6], 64)) << row[6];
  }
}

TEST_F(GeneratedFilesTest, TransactionLinesHaveKaggleFormats) {
  const std::vector<std::string> lines = ReadLines(File(kTransactionsFile));
  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view line = lines[i];
    ASSERT_GT(line.size(), 92u) << line;
    ASSERT_TRUE(Date::Parse(line.substr(0, 10)).ok()) << line;
    ASSERT_EQ(line[10], ',') << line;
    ASSERT_TRUE(IsLowerHex(line.substr(11, 64), 64)) << line;
    ASSERT_EQ(line[75], ',') << line;
    ASSERT_TRUE(IsDigits(line.substr(76, 10), 10)) << line;
    ASSERT_EQ(line[86], ',') << line;
    const size_t comma = line.rfind(',');
    ASSERT_TRUE(line.substr(comma) == ",1" || line.substr(comma) == ",2") << line;
    // Kaggle's prices are k / 59000 printed as the shortest round-trip double.
    const std::string_view price = line.substr(87, comma - 87);
    double value = 0;
    std::from_chars(price.data(), price.data() + price.size(), value);
    const int64_t k = std::llround(value * 59000);
    ASSERT_GT(k, 0) << line;
    char shortest[32];
    auto [end, ec] = std::to_chars(shortest, shortest + sizeof(shortest), k / 59000.0);
    ASSERT_EQ(price, std::string_view(shortest, end - shortest)) << line;
  }
}

TEST_F(GeneratedFilesTest, DatesAreInRangeAndSorted) {
  int32_t previous = 0;
  for (const auto& t : data_->transactions) {
    ASSERT_GE(t.day, previous);
    ASSERT_LT(t.day, SmallOptions().days);
    previous = t.day;
  }
  EXPECT_EQ(data_->transactions.front().day, 0);
  EXPECT_EQ(data_->transactions.back().day, SmallOptions().days - 1);
}

TEST_F(GeneratedFilesTest, WithinADayRowsFollowTheCustomerOrder) {
  for (size_t i = 1; i < data_->transactions.size(); ++i) {
    const auto& a = data_->transactions[i - 1];
    const auto& b = data_->transactions[i];
    if (a.day == b.day) {
      ASSERT_LE(a.customer, b.customer) << "row " << i;
    }
  }
}

TEST_F(GeneratedFilesTest, EveryTransactionRefersToAnExistingArticleAndCustomer) {
  for (size_t i = 0; i < data_->transactions.size(); ++i) {
    ASSERT_GE(data_->transactions[i].article, 0) << "row " << i;
    ASSERT_GE(data_->transactions[i].customer, 0) << "row " << i;
  }
}

TEST(GenerateTest, SameSeedGivesByteIdenticalFiles) {
  TempDir a, b;
  ASSERT_TRUE(Generate(SmallOptions(), a.path()).ok());
  ASSERT_TRUE(Generate(SmallOptions(), b.path()).ok());
  for (std::string_view file : {kArticlesFile, kCustomersFile, kTransactionsFile}) {
    EXPECT_TRUE(ReadFile(a.path() / file) == ReadFile(b.path() / file)) << file;
  }
}

TEST(GenerateTest, DifferentSeedsGiveDifferentFiles) {
  TempDir a, b;
  GeneratorOptions other = SmallOptions();
  other.seed = SmallOptions().seed + 1;
  ASSERT_TRUE(Generate(SmallOptions(), a.path()).ok());
  ASSERT_TRUE(Generate(other, b.path()).ok());
  for (std::string_view file : {kArticlesFile, kCustomersFile, kTransactionsFile}) {
    EXPECT_FALSE(ReadFile(a.path() / file) == ReadFile(b.path() / file)) << file;
  }
}

TEST(GenerateTest, HonoursStartDateAndDays) {
  GeneratorOptions options = SmallOptions();
  options.start_date = Date::FromCivil(2021, 3, 1);
  options.days = 30;
  options.transactions = 5000;
  Result<std::unique_ptr<Dataset>> data = GenerateAndLoad(options);
  ASSERT_TRUE(data.ok()) << data.status().ToString();
  std::set<int32_t> days;
  for (const auto& t : (*data)->transactions) days.insert(t.day);
  EXPECT_EQ(days.size(), 30u);
  EXPECT_EQ(*days.begin(), 0);
  EXPECT_EQ(*days.rbegin(), 29);
}

TEST(GenerateTest, HandlesTinyAndEmptyDatasets) {
  struct Case {
    int64_t customers, articles, transactions;
    int32_t days;
  };
  for (const Case& c :
       {Case{1, 1, 0, 734}, Case{1, 1, 5, 734}, Case{2, 3, 100, 1}, Case{5, 1, 50, 10}}) {
    GeneratorOptions options =
        testing::SizedOptions(c.customers, c.articles, c.transactions, /*seed=*/1);
    options.days = c.days;
    const std::string input = std::to_string(c.customers) + "/" + std::to_string(c.articles) + "/" +
                              std::to_string(c.transactions) + "/" + std::to_string(c.days);
    Result<std::unique_ptr<Dataset>> data = GenerateAndLoad(options);
    ASSERT_TRUE(data.ok()) << input << ": " << data.status().ToString();
    EXPECT_EQ((*data)->customers.size(), static_cast<size_t>(c.customers)) << input;
    EXPECT_EQ((*data)->articles.size(), static_cast<size_t>(c.articles)) << input;
    EXPECT_EQ((*data)->transactions.size(), static_cast<size_t>(c.transactions)) << input;
    for (const auto& t : (*data)->transactions) {
      EXPECT_TRUE(t.article >= 0 && t.customer >= 0 && t.day >= 0 && t.day < c.days) << input;
    }
  }
}

TEST(GenerateTest, FirstDaysWritesExactlyTheFirstRowsOfTheWholeFile) {
  TempDir whole, prefix;
  GeneratorOptions options = SmallOptions();
  ASSERT_TRUE(Generate(options, whole.path()).ok());
  options.first_days = 100;
  Result<GenerateSummary> summary = Generate(options, prefix.path());
  ASSERT_TRUE(summary.ok()) << summary.status().ToString();
  for (std::string_view file : {kArticlesFile, kCustomersFile}) {
    EXPECT_TRUE(ReadFile(whole.path() / file) == ReadFile(prefix.path() / file)) << file;
  }
  const std::string all = ReadFile(whole.path() / kTransactionsFile);
  const std::string first = ReadFile(prefix.path() / kTransactionsFile);
  ASSERT_LT(first.size(), all.size());
  EXPECT_EQ(all.substr(0, first.size()), first);
  // It ends on a day boundary: the next row of the whole file is of day 100.
  const std::vector<int64_t> daily =
      DailyTransactionCounts(options.start_date, options.days, options.transactions);
  int64_t rows = 0;
  for (int day = 0; day < 100; ++day) rows += daily[day];
  EXPECT_EQ(summary->transactions.rows, rows);
  EXPECT_EQ(std::count(first.begin(), first.end(), '\n'), rows + 1);  // and the header
  const std::string next_row = all.substr(first.size(), 10);
  EXPECT_EQ(next_row, (options.start_date + 100).ToString()) << next_row;
}

TEST(GenerateTest, FailsWithAnIoErrorWhenTheOutputIsAFile) {
  TempDir dir;
  const std::filesystem::path file = dir.path() / "not-a-dir";
  std::ofstream(file) << "x";
  Result<GenerateSummary> result = Generate(SmallOptions(), file);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), StatusCode::kIoError);
  EXPECT_NE(result.status().message().find("not-a-dir"), std::string::npos)
      << result.status().message();
}

TEST(GeneratorOptionsTest, RejectsOutOfRangeValues) {
  struct Case {
    const char* field;
    void (*change)(GeneratorOptions*);
  };
  const Case cases[] = {
      {"customers", [](GeneratorOptions* o) { o->customers = 0; }},
      {"customers", [](GeneratorOptions* o) { o->customers = 60'000'000; }},
      {"articles", [](GeneratorOptions* o) { o->articles = 0; }},
      {"articles", [](GeneratorOptions* o) { o->articles = 3'000'000; }},
      {"transactions", [](GeneratorOptions* o) { o->transactions = -1; }},
      {"days", [](GeneratorOptions* o) { o->days = 0; }},
      {"first days", [](GeneratorOptions* o) { o->first_days = 735; }},
      {"start date", [](GeneratorOptions* o) { o->start_date = Date::FromCivil(1850, 1, 1); }},
      {"last day", [](GeneratorOptions* o) { o->start_date = Date::FromCivil(9999, 12, 1); }},
      {"write_buffer_bytes", [](GeneratorOptions* o) { o->write_buffer_bytes = 100; }},
  };
  EXPECT_TRUE(GeneratorOptions{}.Validate().ok());
  for (const Case& c : cases) {
    GeneratorOptions options;
    c.change(&options);
    const Status s = options.Validate();
    EXPECT_EQ(s.code(), StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.message();
  }
}

TEST(GeneratorOptionsTest, FullScaleHasKaggleSizes) {
  const GeneratorOptions full = GeneratorOptions::FullScale();
  EXPECT_EQ(full.customers, 1'371'980);
  EXPECT_EQ(full.articles, 105'542);
  EXPECT_EQ(full.transactions, 31'788'324);
  EXPECT_EQ(full.start_date.ToString(), "2018-09-20");
  EXPECT_EQ((full.start_date + (full.days - 1)).ToString(), "2020-09-22");
  EXPECT_TRUE(full.Validate().ok());
}

TEST(DailyTransactionCountsTest, SumToTheTotalAndFollowTheRealCurve) {
  struct Case {
    const char* start;
    int32_t days;
    int64_t total;
  };
  for (const Case& c : {Case{"2018-09-20", 734, 31'788'324}, Case{"2018-09-20", 734, 1'000},
                        Case{"2019-01-01", 30, 12'345}, Case{"2025-06-01", 2000, 7'000'000},
                        Case{"2018-09-20", 5, 0}}) {
    const Date start = *Date::Parse(c.start);
    const std::vector<int64_t> counts = DailyTransactionCounts(start, c.days, c.total);
    const std::string input =
        std::string(c.start) + " +" + std::to_string(c.days) + " days, " + std::to_string(c.total);
    ASSERT_EQ(counts.size(), static_cast<size_t>(c.days)) << input;
    int64_t sum = 0, real_sum = 0;
    for (int32_t d = 0; d < c.days; ++d) {
      sum += counts[d];
      real_sum += calibration::kDaily[RealDayIndex(start + d)].transactions;
    }
    EXPECT_EQ(sum, c.total) << input;
    for (int32_t d = 0; d < c.days; ++d) {
      const double want =
          static_cast<double>(calibration::kDaily[RealDayIndex(start + d)].transactions) *
          static_cast<double>(c.total) / static_cast<double>(real_sum);
      ASSERT_LE(std::fabs(static_cast<double>(counts[d]) - want), 1.0) << input << ", day " << d;
    }
  }
  // At Kaggle's scale and dates the curve is Kaggle's own.
  const std::vector<int64_t> full =
      DailyTransactionCounts(Date::FromCivil(2018, 9, 20), 734, 31'788'324);
  for (size_t d = 0; d < full.size(); ++d)
    EXPECT_EQ(full[d], calibration::kDaily[d].transactions) << d;
}

TEST(RealDayIndexTest, FollowsTheCalendarAndKeepsWeekdays) {
  const Date first = Date::FromCivil(2018, 9, 20);
  EXPECT_EQ(RealDayIndex(first), 0);
  EXPECT_EQ(RealDayIndex(Date::FromCivil(2020, 9, 22)), 733);
  for (const char* text : {"2017-01-01", "2018-09-19", "2020-09-23", "2023-11-24", "2030-02-28"}) {
    const Date d = *Date::Parse(text);
    const int32_t i = RealDayIndex(d);
    ASSERT_TRUE(i >= 0 && i < 734) << text;
    EXPECT_EQ((first + i).Weekday(), d.Weekday()) << text;
  }
}

}  // namespace
}  // namespace towerstream::datagen
