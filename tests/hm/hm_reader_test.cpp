// Tests of the typed H&M readers: normalisation, validation, error reports, strict mode.
#include "common/hm/hm_reader.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace towerstream::hm {
namespace {

const std::string kCid1 = "000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318";
const std::string kCid2 = "00007d2de826758b65a93dd24ce629ed66842531df6699338c5570910a014cc2";
const std::string kPostal = "52043ee2162cf5aa7ee79974281641c6f11a68d276429a91f8ca0d4b6efa8100";

template <typename Record>
struct Loaded {
  std::vector<Record> records;
  std::vector<int64_t> lines;
  LoadStats stats;
  Status status;  // the first error Next() returned, if any
};

// Reads `data` (header included) as a file called `name`, stopping at the first error.
template <typename Record>
Loaded<Record> Load(std::string data, const ReaderOptions& options = {},
                    std::string name = "tx.csv") {
  Loaded<Record> out;
  auto csv = csv::Reader::FromString(std::move(data), std::move(name), options.csv);
  EXPECT_TRUE(csv.ok()) << csv.status().ToString();
  auto reader = RecordReader<Record>::FromCsv(std::move(*csv), options);
  if (!reader.ok()) {
    out.status = reader.status();
    return out;
  }
  Record record;
  for (;;) {
    Result<bool> more = (*reader)->Next(&record);
    if (!more.ok()) {
      out.status = more.status();
      break;
    }
    if (!*more) break;
    out.records.push_back(record);
    out.lines.push_back((*reader)->line());
  }
  out.stats = (*reader)->stats();
  return out;
}

std::string TransactionsFile(const std::vector<std::string>& rows) {
  std::string data(kTransactionsHeader);
  data += '\n';
  for (const std::string& row : rows) data += row + '\n';
  return data;
}

std::string CustomersFile(const std::vector<std::string>& rows) {
  std::string data(kCustomersHeader);
  data += '\n';
  for (const std::string& row : rows) data += row + '\n';
  return data;
}

const std::string kGoodTransaction1 = "2018-09-20," + kCid1 + ",0663713001,0.0508305084745762,2";
const std::string kGoodTransaction2 = "2018-09-21," + kCid2 + ",541518023,0.03,1";

const std::string kArticleRowTail =
    ",108775,Strap top,253,Vest top,Garment Upper body,1010016,Solid,9,Black,4,Dark,5,Black,"
    "1676,Jersey Basic,A,Ladieswear,1,Ladieswear,16,Womens Everyday Basics,1002,Jersey Basic,"
    "\"Jersey top, with \"\"narrow\"\" straps.\"";

TEST(TransactionReaderTest, NormalisesArticleIdsToTheSameInteger) {
  struct Case {
    std::string text;
    ArticleId expected;
  };
  const std::vector<Case> cases = {
      {"0108775015", 108775015},
      {"108775015", 108775015},
      {"\"0108775015\"", 108775015},
      {"0000000001", 1},
      {"1", 1},
  };
  for (const Case& c : cases) {
    auto loaded =
        Load<Transaction>(TransactionsFile({"2018-09-20," + kCid1 + "," + c.text + ",0.05,2"}));
    ASSERT_EQ(loaded.records.size(), 1u) << c.text << ": " << loaded.status.ToString();
    EXPECT_EQ(loaded.records[0].article_id, c.expected) << c.text;
    EXPECT_EQ(FormatArticleId(loaded.records[0].article_id).size(), 10u) << c.text;
  }
}

TEST(TransactionReaderTest, ReadsEveryColumn) {
  auto loaded = Load<Transaction>(TransactionsFile({kGoodTransaction1}));
  ASSERT_EQ(loaded.records.size(), 1u) << loaded.status.ToString();
  const Transaction& t = loaded.records[0];
  EXPECT_EQ(t.t_dat, Date::FromCivil(2018, 9, 20));
  EXPECT_EQ(t.customer_id, kCid1);
  EXPECT_EQ(t.article_id, 663713001);
  EXPECT_EQ(t.price, 0.0508305084745762);
  EXPECT_EQ(t.sales_channel_id, 2);
  EXPECT_EQ(loaded.lines, std::vector<int64_t>{2});
}

TEST(CustomerReaderTest, NormalisesNullsAgesAndNewsFrequency) {
  struct Case {
    std::string fields;  // FN,Active,club_member_status,fashion_news_frequency,age
    std::optional<float> fn;
    std::optional<float> active;
    std::optional<std::string> club;
    std::optional<FashionNews> news;
    std::optional<int32_t> age;
  };
  const std::vector<Case> cases = {
      {",,ACTIVE,NONE,49", {}, {}, "ACTIVE", FashionNews::kNone, 49},
      {"1.0,1.0,PRE-CREATE,Regularly,49.0", 1.0f, 1.0f, "PRE-CREATE", FashionNews::kRegularly, 49},
      {"1,,LEFT CLUB,None,", 1.0f, {}, "LEFT CLUB", FashionNews::kNone, {}},
      {",,,,25.00", {}, {}, {}, {}, 25},
      {"\"\",\"1.0\",\"ACTIVE\",\"Monthly\",\"33\"", {}, 1.0f, "ACTIVE", FashionNews::kMonthly, 33},
  };
  for (const Case& c : cases) {
    auto loaded = Load<Customer>(CustomersFile({kCid1 + "," + c.fields + "," + kPostal}));
    ASSERT_EQ(loaded.records.size(), 1u) << c.fields << ": " << loaded.status.ToString();
    const Customer& got = loaded.records[0];
    EXPECT_EQ(got.customer_id, kCid1) << c.fields;
    EXPECT_EQ(got.fn, c.fn) << c.fields;
    EXPECT_EQ(got.active, c.active) << c.fields;
    EXPECT_EQ(got.club_member_status, c.club) << c.fields;
    EXPECT_EQ(got.fashion_news_frequency, c.news) << c.fields;
    EXPECT_EQ(got.age, c.age) << c.fields;
    EXPECT_EQ(got.postal_code, kPostal) << c.fields;
  }
}

TEST(CustomerReaderTest, ClearsNullableFieldsWhenTheNextRowLacksThem) {
  // The reader reuses one record: a value of an earlier row must not leak into a later one.
  auto loaded = Load<Customer>(CustomersFile(
      {kCid1 + ",1.0,1.0,ACTIVE,Regularly,30," + kPostal, kCid2 + ",,,,,," + kPostal}));
  ASSERT_EQ(loaded.records.size(), 2u) << loaded.status.ToString();
  const Customer& second = loaded.records[1];
  EXPECT_FALSE(second.fn.has_value());
  EXPECT_FALSE(second.active.has_value());
  EXPECT_FALSE(second.club_member_status.has_value());
  EXPECT_FALSE(second.fashion_news_frequency.has_value());
  EXPECT_FALSE(second.age.has_value());
}

TEST(ArticleReaderTest, SkipsTheUnnamedIndexColumnAndAcceptsIntegralFloatCodes) {
  for (const std::string index_name : {"", "Unnamed: 0", "\"\""}) {
    const std::string data = index_name + "," + std::string(kArticlesHeader) + "\n" +
                             "17,108775015" +
                             ",108775.0,Strap top,253.0,Vest top,Garment Upper body,1010016,Solid,"
                             "-1,Black,4,Dark,5,Black,1676,Jersey Basic,A,Ladieswear,1,Ladieswear,"
                             "16,Womens Everyday Basics,1002,Jersey Basic,\n";
    auto loaded = Load<Article>(data);
    ASSERT_EQ(loaded.records.size(), 1u) << index_name << ": " << loaded.status.ToString();
    const Article& a = loaded.records[0];
    EXPECT_EQ(a.article_id, 108775015) << index_name;
    EXPECT_EQ(a.product_code, 108775) << index_name;
    EXPECT_EQ(a.prod_name, "Strap top") << index_name;
    EXPECT_EQ(a.product_type_no, 253) << index_name;
    EXPECT_EQ(a.colour_group_code, -1) << index_name;
    EXPECT_EQ(a.garment_group_name, "Jersey Basic") << index_name;
    EXPECT_EQ(a.detail_desc, "") << index_name;
  }
}

TEST(ArticleReaderTest, ReadsQuotedNamesWithCommasAndQuotes) {
  auto loaded =
      Load<Article>(std::string(kArticlesHeader) + "\r\n0108775015" + kArticleRowTail + "\r\n");
  ASSERT_EQ(loaded.records.size(), 1u) << loaded.status.ToString();
  EXPECT_EQ(loaded.records[0].detail_desc, "Jersey top, with \"narrow\" straps.");
  EXPECT_EQ(loaded.records[0].index_code, "A");
}

TEST(HmReaderTest, AcceptsAQuotedHeader) {
  auto loaded = Load<Transaction>(
      "\"t_dat\",\"customer_id\",\"article_id\",\"price\",\"sales_channel_id\"\n" +
      kGoodTransaction1 + "\n");
  EXPECT_TRUE(loaded.status.ok()) << loaded.status.ToString();
  EXPECT_EQ(loaded.records.size(), 1u);
}

TEST(HmReaderTest, RejectsTheHeaderOfAnotherFile) {
  auto loaded = Load<Transaction>(CustomersFile({}));
  ASSERT_FALSE(loaded.status.ok());
  EXPECT_EQ(loaded.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded.status.message().rfind("tx.csv:1: header", 0), 0u) << loaded.status.message();
}

TEST(HmReaderTest, RejectsAnEmptyFile) {
  auto loaded = Load<Transaction>("");
  ASSERT_FALSE(loaded.status.ok());
  EXPECT_NE(loaded.status.message().find("empty file"), std::string::npos)
      << loaded.status.message();
}

// One bad row (line 3) between two good ones: it is reported with file:line, column and
// reason and counted, and both good rows are still read.
struct MalformedCase {
  std::string name;
  std::string file;  // the whole file, header included
  std::string column;
  std::string reason;
};

template <typename Record>
void ExpectOneRejectedRowOnLine3(const MalformedCase& c) {
  SCOPED_TRACE(c.name + ":\n" + c.file);
  auto loaded = Load<Record>(c.file);
  EXPECT_TRUE(loaded.status.ok()) << loaded.status.ToString();
  EXPECT_EQ(loaded.lines, (std::vector<int64_t>{2, 4}));
  EXPECT_EQ(loaded.stats.rows_read, 3);
  EXPECT_EQ(loaded.stats.rows_ok, 2);
  EXPECT_EQ(loaded.stats.rows_rejected, 1);
  ASSERT_EQ(loaded.stats.errors.size(), 1u);
  const RowError& error = loaded.stats.errors[0];
  EXPECT_EQ(error.file, "tx.csv");
  EXPECT_EQ(error.line, 3);
  EXPECT_EQ(error.column, c.column);
  EXPECT_NE(error.reason.find(c.reason), std::string::npos) << error.reason;
  EXPECT_EQ(error.ToString().rfind("tx.csv:3: ", 0), 0u) << error.ToString();
}

TEST(TransactionReaderTest, RejectsEachMalformedRowAndReadsTheRowsAroundIt) {
  auto file = [](const std::string& bad) {
    return TransactionsFile({kGoodTransaction1, bad, kGoodTransaction2});
  };
  const std::vector<MalformedCase> cases = {
      {"unterminated quote", file("2018-09-20,\"" + kCid1 + ",0663713001,0.05,2"), "customer_id",
       "unterminated quoted field"},
      {"garbage after quote", file("\"2018-09-20\"x," + kCid1 + ",0663713001,0.05,2"), "t_dat",
       "characters after the closing quote"},
      {"too few columns", file("2018-09-20," + kCid1 + ",0663713001,0.05"), "",
       "expected 5 columns, found 4"},
      {"too many columns", file(kGoodTransaction1 + ",9"), "", "expected 5 columns, found 6"},
      {"bad date", file("2018-02-30," + kCid1 + ",0663713001,0.05,2"), "t_dat", "not a date"},
      {"non-numeric price", file("2018-09-20," + kCid1 + ",0663713001,abc,2"), "price",
       "not a number"},
      {"nan price", file("2018-09-20," + kCid1 + ",0663713001,nan,2"), "price", "not a number"},
      {"negative price", file("2018-09-20," + kCid1 + ",0663713001,-0.05,2"), "price",
       "not a price > 0"},
      {"zero price", file("2018-09-20," + kCid1 + ",0663713001,0,2"), "price", "not a price > 0"},
      {"empty customer id", file("2018-09-20,,0663713001,0.05,2"), "customer_id",
       "empty customer_id"},
      {"short customer id", file("2018-09-20,abc123,0663713001,0.05,2"), "customer_id",
       "64 lowercase hex"},
      {"bad sales channel", file("2018-09-20," + kCid1 + ",0663713001,0.05,3"), "sales_channel_id",
       "1 or 2"},
      {"long article id", file("2018-09-20," + kCid1 + ",12345678901,0.05,2"), "article_id",
       "1 to 10 digits"},
  };
  for (const MalformedCase& c : cases) ExpectOneRejectedRowOnLine3<Transaction>(c);
}

TEST(CustomerReaderTest, RejectsEachMalformedRowAndReadsTheRowsAroundIt) {
  auto file = [](const std::string& bad_fields) {
    return CustomersFile({kCid1 + ",,,ACTIVE,NONE,49," + kPostal,
                          kCid1 + "," + bad_fields + "," + kPostal,
                          kCid2 + ",1.0,1.0,ACTIVE,Regularly,25.0," + kPostal});
  };
  const std::vector<MalformedCase> cases = {
      {"age not a number", file(",,ACTIVE,NONE,abc"), "age", "not a whole number"},
      {"fractional age", file(",,ACTIVE,NONE,49.5"), "age", "not a whole number"},
      {"negative age", file(",,ACTIVE,NONE,-1"), "age", "not an age"},
      {"huge age", file(",,ACTIVE,NONE,1000"), "age", "not an age"},
      {"FN not a number", file("yes,,ACTIVE,NONE,49"), "FN", "not a number"},
      {"unknown news frequency", file(",,ACTIVE,Weekly,49"), "fashion_news_frequency",
       "not one of"},
  };
  for (const MalformedCase& c : cases) ExpectOneRejectedRowOnLine3<Customer>(c);
}

TEST(ArticleReaderTest, RejectsNonIntegerCodes) {
  const std::string header = std::string(kArticlesHeader) + "\n";
  auto file = [&](const std::string& code) {
    return header + "108775015" + kArticleRowTail + "\n108775016,108775," + "Strap top," + code +
           kArticleRowTail.substr(kArticleRowTail.find(",Vest top")) + "\n108775017" +
           kArticleRowTail + "\n";
  };
  ExpectOneRejectedRowOnLine3<Article>({"text code", file("abc"), "product_type_no", "integer"});
  ExpectOneRejectedRowOnLine3<Article>(
      {"fractional code", file("253.5"), "product_type_no", "integer"});
}

TEST(HmReaderTest, FormatsRowErrorsWithFileLineColumnValueAndReason) {
  auto loaded = Load<Transaction>(TransactionsFile({"2018-09-20," + kCid1 + ",0663713001,abc,2"}));
  ASSERT_EQ(loaded.stats.errors.size(), 1u);
  EXPECT_EQ(loaded.stats.errors[0].ToString(),
            "tx.csv:2: column 'price': value 'abc': not a number");
  EXPECT_EQ(loaded.stats.errors[0].ToStatus().code(), StatusCode::kInvalidArgument);
}

TEST(HmReaderTest, EscapesNulAndInvalidUtf8InRowErrors) {
  // Before, the NUL cut every printed message short after "value '0.0" and the Latin-1 byte
  // went out raw.
  auto loaded =
      Load<Transaction>(TransactionsFile({"2018-09-20," + kCid1 + ",0663713001," +
                                              std::string("0.0\0"
                                                          "5",
                                                          5) +
                                              ",2",
                                          "2018-09-20," + kCid1 + ",0663713001,\xE9t\xE9,2"}));
  ASSERT_EQ(loaded.stats.errors.size(), 2u);
  EXPECT_EQ(loaded.stats.errors[0].ToString(),
            "tx.csv:2: column 'price': value '0.0\\x005': not a number");
  EXPECT_EQ(loaded.stats.errors[1].ToString(),
            "tx.csv:3: column 'price': value '\\xE9t\\xE9': not a number");
}

TEST(HmReaderTest, CutsLongValuesInErrors) {
  auto loaded = Load<Transaction>(
      TransactionsFile({"2018-09-20," + std::string(500, 'z') + ",0663713001,0.05,2"}));
  ASSERT_EQ(loaded.stats.errors.size(), 1u);
  EXPECT_EQ(loaded.stats.errors[0].value, std::string(80, 'z') + "...");
}

TEST(HmReaderTest, StrictModeStopsAtTheFirstBadRow) {
  ReaderOptions options;
  options.strict = true;
  auto loaded = Load<Transaction>(
      TransactionsFile({kGoodTransaction1, "2018-09-20,,0663713001,0.05,2",
                        "2018-09-20," + kCid1 + ",0663713001,abc,2", kGoodTransaction2}),
      options);
  ASSERT_FALSE(loaded.status.ok());
  EXPECT_EQ(loaded.status.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(loaded.status.message(), "tx.csv:3: column 'customer_id': value '': empty customer_id");
  EXPECT_EQ(loaded.records.size(), 1u);
}

TEST(HmReaderTest, KeepsTheFirstErrorsAndCountsTheRest) {
  ReaderOptions options;
  options.max_errors_kept = 3;
  std::vector<std::string> rows;
  for (int i = 0; i < 12; ++i) rows.push_back("2018-09-20,,1,0.05,2");
  rows.push_back(kGoodTransaction1);
  auto loaded = Load<Transaction>(TransactionsFile(rows), options);
  EXPECT_EQ(loaded.stats.rows_read, 13);
  EXPECT_EQ(loaded.stats.rows_rejected, 12);
  EXPECT_EQ(loaded.stats.rows_ok, 1);
  ASSERT_EQ(loaded.stats.errors.size(), 3u);
  EXPECT_EQ(loaded.stats.errors[2].line, 4);
}

class HmFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ =
        std::filesystem::temp_directory_path() / ("hm_reader_test_" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  std::string Write(const std::string& name, const std::string& data) {
    const std::filesystem::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << data;
    return path.string();
  }

  std::filesystem::path dir_;
};

TEST_F(HmFileTest, DetectsTheKindOfFileFromItsHeader) {
  EXPECT_EQ(*DetectFileKind(Write("t.csv", TransactionsFile({}))), FileKind::kTransactions);
  EXPECT_EQ(*DetectFileKind(Write("c.csv", CustomersFile({}))), FileKind::kCustomers);
  EXPECT_EQ(*DetectFileKind(Write("a.csv", "," + std::string(kArticlesHeader) + "\n")),
            FileKind::kArticles);
  Result<FileKind> other = DetectFileKind(Write("o.csv", "a,b,c\n"));
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.status().message().find("o.csv:1:"), std::string::npos)
      << other.status().message();
}

TEST_F(HmFileTest, ReadAllReturnsTheRecordsAndStatsOfAFile) {
  LoadStats stats;
  auto records = ReadAll<Transaction>(
      Write("t.csv", TransactionsFile({kGoodTransaction1, "bad", kGoodTransaction2})), {}, &stats);
  ASSERT_TRUE(records.ok()) << records.status().ToString();
  EXPECT_EQ(records->size(), 2u);
  EXPECT_EQ(stats.rows_read, 3);
  EXPECT_EQ(stats.rows_rejected, 1);
}

TEST_F(HmFileTest, OpeningAMissingFileFailsWithItsPath) {
  auto reader = TransactionReader::Open((dir_ / "missing.csv").string());
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("missing.csv"), std::string::npos);
}

}  // namespace
}  // namespace towerstream::hm
