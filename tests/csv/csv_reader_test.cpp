// Tests of the streaming RFC 4180 reader: quoting, line ends, line numbers, errors, bounds.
#include "common/csv/csv_reader.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "common/csv/csv_writer.h"

namespace towerstream::csv {
namespace {

using Fields = std::vector<std::string>;

struct Row {
  int64_t line;
  Fields fields;
  bool operator==(const Row&) const = default;
};

std::ostream& operator<<(std::ostream& os, const Row& row) {
  os << "{line " << row.line << ":";
  for (const std::string& f : row.fields) os << " [" << f << "]";
  return os << "}";
}

struct Outcome {
  std::vector<Row> rows;
  std::vector<ParseError> errors;
  std::vector<std::string> messages;
};

Outcome ReadAll(std::string data, ReaderOptions options = {}) {
  Outcome out;
  auto reader = Reader::FromString(std::move(data), "in.csv", options);
  EXPECT_TRUE(reader.ok()) << reader.status().ToString();
  if (!reader.ok()) return out;
  for (;;) {
    Result<bool> more = (*reader)->Next();
    if (!more.ok()) {
      EXPECT_EQ(more.status().code(), StatusCode::kInvalidArgument) << more.status().ToString();
      if (more.status().code() != StatusCode::kInvalidArgument) break;
      out.errors.push_back((*reader)->last_error());
      out.messages.push_back(more.status().message());
      continue;
    }
    if (!*more) break;
    Row row{(*reader)->line(), {}};
    for (std::string_view f : (*reader)->fields()) row.fields.emplace_back(f);
    out.rows.push_back(std::move(row));
  }
  return out;
}

ReaderOptions SmallBuffer(size_t buffer_size, size_t max_record_size = 16 << 20) {
  ReaderOptions options;
  options.buffer_size = buffer_size;
  options.max_record_size = max_record_size;
  return options;
}

TEST(CsvReaderTest, SplitsUnquotedFields) {
  Outcome out = ReadAll("a,b,c\n1,2,3\n");
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"a", "b", "c"}}, {2, {"1", "2", "3"}}}));
}

TEST(CsvReaderTest, KeepsQuotedCommas) {
  Outcome out = ReadAll("x,\"Under-, Nightwear\",y\n");
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"x", "Under-, Nightwear", "y"}}}));
}

TEST(CsvReaderTest, UnescapesDoubledQuotes) {
  Outcome out = ReadAll("\"say \"\"hi\"\"\",\"\"\"\"\n");
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"say \"hi\"", "\""}}}));
}

TEST(CsvReaderTest, KeepsQuotedNewlinesAndNumbersLaterLinesPhysically) {
  Outcome out = ReadAll("a,\"one\ntwo\nthree\"\nb,c\r\n\"x\r\ny\",z\nlast,row\n");
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"a", "one\ntwo\nthree"}},
                                        {4, {"b", "c"}},
                                        {5, {"x\r\ny", "z"}},
                                        {7, {"last", "row"}}}));
}

TEST(CsvReaderTest, AcceptsCrlfLineEnds) {
  Outcome out = ReadAll("a,b\r\n\"q\",\r\n1,2\r\n");
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"a", "b"}}, {2, {"q", ""}}, {3, {"1", "2"}}}));
}

TEST(CsvReaderTest, ReadsFinalLineWithoutNewline) {
  EXPECT_EQ(ReadAll("a,b\n1,2").rows, (std::vector<Row>{{1, {"a", "b"}}, {2, {"1", "2"}}}));
  EXPECT_EQ(ReadAll("a,b\r\n1,\"2\"").rows, (std::vector<Row>{{1, {"a", "b"}}, {2, {"1", "2"}}}));
  EXPECT_EQ(ReadAll("a,b\r\n1,2\r").rows, (std::vector<Row>{{1, {"a", "b"}}, {2, {"1", "2"}}}));
}

TEST(CsvReaderTest, SkipsUtf8ByteOrderMark) {
  Outcome out = ReadAll("\xEF\xBB\xBFt_dat,price\n2020-01-01,1\n");
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"t_dat", "price"}}, {2, {"2020-01-01", "1"}}}));
}

TEST(CsvReaderTest, KeepsEmptyFields) {
  Outcome out = ReadAll(",,\n\"\",x,\n");
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"", "", ""}}, {2, {"", "x", ""}}}));
}

TEST(CsvReaderTest, SkipsBlankLinesButCountsThem) {
  Outcome out = ReadAll("a\n\n\r\nb\n");
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"a"}}, {4, {"b"}}}));
}

TEST(CsvReaderTest, YieldsBlankLinesWhenAsked) {
  ReaderOptions options;
  options.skip_blank_lines = false;
  Outcome out = ReadAll("a\n\nb\n", options);
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"a"}}, {2, {""}}, {3, {"b"}}}));
}

TEST(CsvReaderTest, KeepsBareQuoteInsideUnquotedField) {
  Outcome out = ReadAll("12\" pipe,x\n");
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"12\" pipe", "x"}}}));
}

TEST(CsvReaderTest, ReportsUnterminatedQuoteAtTheLineWhereItOpened) {
  Outcome out = ReadAll("a,b\nc,\"never closed\nd,e\n");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 2);
  EXPECT_EQ(out.errors[0].field, 1);
  EXPECT_EQ(out.errors[0].reason, "unterminated quoted field");
  EXPECT_EQ(out.messages[0].rfind("in.csv:2: field 2: ", 0), 0u) << out.messages[0];
}

TEST(CsvReaderTest, ReportsCharactersAfterClosingQuote) {
  Outcome out = ReadAll("a,\"b\"x,c\n");
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 1);
  EXPECT_EQ(out.errors[0].field, 1);
  EXPECT_EQ(out.errors[0].value, "x,c");
  EXPECT_EQ(out.errors[0].reason, "characters after the closing quote");
  EXPECT_EQ(out.messages[0], "in.csv:1: field 2: value 'x,c': characters after the closing quote");
}

TEST(CsvReaderTest, ResynchronisesOnTheNextLineAfterABadRecord) {
  Outcome out = ReadAll("h1,h2\n\"bad\"x,1\ngood,2\nc,\"open\nmore,3\n");
  ASSERT_EQ(out.errors.size(), 2u);
  EXPECT_EQ(out.errors[0].line, 2);
  EXPECT_EQ(out.errors[1].line, 4);
  // After the unterminated quote on line 4 the reader restarts on line 5.
  EXPECT_EQ(out.rows,
            (std::vector<Row>{{1, {"h1", "h2"}}, {3, {"good", "2"}}, {5, {"more", "3"}}}));
}

TEST(CsvReaderTest, ReadsRowsLongerThanTheBuffer) {
  const std::string long_field(1000, 'x');
  const std::string quoted_long = "\"" + std::string(500, ',') + "\"";
  Outcome out =
      ReadAll("a," + long_field + "\n" + quoted_long + ",b\nc,d\n", SmallBuffer(16, 4096));
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.rows,
            (std::vector<Row>{
                {1, {"a", long_field}}, {2, {std::string(500, ','), "b"}}, {3, {"c", "d"}}}));
}

TEST(CsvReaderTest, RejectsRowOverTheMaximumSizeAndGoesOn) {
  Outcome out = ReadAll("a,b\n" + std::string(300, 'x') + "\nc,d\n", SmallBuffer(16, 64));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 2);
  EXPECT_NE(out.errors[0].reason.find("longer than the limit"), std::string::npos)
      << out.errors[0].reason;
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {"a", "b"}}, {3, {"c", "d"}}}));
}

TEST(CsvReaderTest, RejectsQuoteNotClosedWithinTheMaximumSize) {
  std::string data = "a,\"open\n";
  for (int i = 0; i < 100; ++i) data += "row,1\n";
  Outcome out = ReadAll(data, SmallBuffer(16, 64));
  ASSERT_EQ(out.errors.size(), 1u);
  EXPECT_EQ(out.errors[0].line, 1);
  EXPECT_NE(out.errors[0].reason.find("unterminated quoted field"), std::string::npos)
      << out.errors[0].reason;
  ASSERT_EQ(out.rows.size(), 100u);
  EXPECT_EQ(out.rows.front(), (Row{2, {"row", "1"}}));
}

TEST(CsvReaderTest, AcceptsRowExactlyAtTheMaximumSize) {
  // 63 characters and LF: 64 bytes.
  const std::string row = std::string(61, 'x') + ",y";
  Outcome out = ReadAll(row + "\n", SmallBuffer(16, 64));
  EXPECT_TRUE(out.errors.empty());
  EXPECT_EQ(out.rows, (std::vector<Row>{{1, {std::string(61, 'x'), "y"}}}));
}

TEST(CsvReaderTest, StreamsALargeInputThroughAFixedBuffer) {
  std::string data;
  for (int i = 0; i < 100000; ++i) data += "2018-09-20," + std::to_string(i) + ",0.05\n";
  auto reader = Reader::FromString(data, "big.csv", SmallBuffer(4096, 4096));
  ASSERT_TRUE(reader.ok());
  int64_t rows = 0;
  for (;;) {
    Result<bool> more = (*reader)->Next();
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    ++rows;
  }
  EXPECT_EQ(rows, 100000);
  EXPECT_GT(data.size(), 100u * 4096);
  EXPECT_EQ((*reader)->buffer_capacity(), 4096u);
}

TEST(CsvReaderTest, GrowsTheBufferForALongRecordOnlyUpToTheMaximum) {
  auto reader = Reader::FromString("a," + std::string(1000, 'x') + "\n" + std::string(5000, 'y'),
                                   "long.csv", SmallBuffer(64, 2048));
  ASSERT_TRUE(reader.ok());
  ASSERT_TRUE(*(*reader)->Next());
  EXPECT_GE((*reader)->buffer_capacity(), 1002u);
  Result<bool> too_long = (*reader)->Next();
  ASSERT_FALSE(too_long.ok());
  EXPECT_EQ((*reader)->buffer_capacity(), 2048u);
}

// Every buffer size puts the refill boundary somewhere else: inside a quote pair, between
// CR and LF, just after a closing quote. The records must not depend on it.
TEST(CsvReaderTest, SameRecordsForEveryBufferSize) {
  const std::string data =
      "\xEF\xBB\xBFid,name,desc\r\n"
      "1,\"A \"\"quoted\"\" name\",\"multi\r\nline, with comma\"\r\n"
      "2,,\"\"\r\n"
      "\r\n"
      "3,\"x\"\"\",plain\r\n"
      "4,\"tail\"";
  const Outcome expected = ReadAll(data);
  ASSERT_TRUE(expected.errors.empty());
  ASSERT_EQ(expected.rows.size(), 5u);
  EXPECT_EQ(expected.rows[1], (Row{2, {"1", "A \"quoted\" name", "multi\r\nline, with comma"}}));
  EXPECT_EQ(expected.rows[4], (Row{7, {"4", "tail"}}));
  for (size_t size = 16; size <= 80; ++size) {
    Outcome got = ReadAll(data, SmallBuffer(size, 4096));
    EXPECT_TRUE(got.errors.empty()) << "buffer_size " << size;
    EXPECT_EQ(got.rows, expected.rows) << "buffer_size " << size;
  }
}

TEST(CsvReaderTest, ReadsBackWhatTheWriterQuoted) {
  std::mt19937 rng(42);
  const std::string alphabet = "ab ,\"\r\n\xC3\xA9";
  std::vector<Fields> written;
  std::string data;
  for (int r = 0; r < 300; ++r) {
    Fields row(2 + rng() % 4);
    for (std::string& field : row) {
      const size_t length = rng() % 12;
      for (size_t i = 0; i < length; ++i) field += alphabet[rng() % alphabet.size()];
    }
    for (size_t i = 0; i < row.size(); ++i) {
      if (i > 0) data += ',';
      AppendField(&data, row[i]);
    }
    data += r % 2 == 0 ? "\n" : "\r\n";
    written.push_back(std::move(row));
  }
  for (size_t size : {16, 37, 1 << 20}) {
    Outcome got = ReadAll(data, SmallBuffer(size, 4096));
    EXPECT_TRUE(got.errors.empty()) << "buffer_size " << size;
    ASSERT_EQ(got.rows.size(), written.size()) << "buffer_size " << size;
    for (size_t r = 0; r < written.size(); ++r) {
      EXPECT_EQ(got.rows[r].fields, written[r]) << "row " << r << " buffer_size " << size;
    }
  }
}

TEST(CsvReaderTest, ReadsAFileAndCountsItsBytes) {
  const std::filesystem::path path =
      std::filesystem::temp_directory_path() /
      ("csv_reader_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
       ".csv");
  const std::string data = "a,b\n\"1\",2\n";
  std::ofstream(path, std::ios::binary) << data;
  auto reader = Reader::Open(path.string());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  int rows = 0;
  while (true) {
    Result<bool> more = (*reader)->Next();
    ASSERT_TRUE(more.ok()) << more.status().ToString();
    if (!*more) break;
    ++rows;
  }
  EXPECT_EQ(rows, 2);
  EXPECT_EQ((*reader)->bytes_read(), data.size());
  EXPECT_EQ((*reader)->name(), path.string());
  std::filesystem::remove(path);
}

TEST(CsvReaderTest, OpeningAMissingFileIsNotFound) {
  auto reader = Reader::Open("/nonexistent/towerstream/missing.csv");
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kNotFound);
  EXPECT_NE(reader.status().message().find("missing.csv"), std::string::npos);
}

TEST(CsvReaderTest, ReadingADirectoryIsAFinalIoError) {
  auto reader = Reader::Open(std::filesystem::temp_directory_path().string());
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  Result<bool> first = (*reader)->Next();
  ASSERT_FALSE(first.ok());
  EXPECT_EQ(first.status().code(), StatusCode::kIoError);
  Result<bool> second = (*reader)->Next();
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kIoError);
}

TEST(CsvReaderTest, RejectsATinyBuffer) {
  auto reader = Reader::FromString("a", "x", SmallBuffer(4));
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(reader.status().code(), StatusCode::kInvalidArgument);
}

TEST(CsvExcerptTest, CutsOnACharacterBoundaryAndEscapesLineEnds) {
  struct Case {
    std::string text;
    size_t max;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {"short", 80, "short"},
      {"a\r\nb", 80, "a\\r\\nb"},
      {"abcdef", 3, "abc..."},
      {"ab\xC3\xA9z", 3, "ab..."},  // 'é' is two bytes: not cut in half
      {"", 80, ""},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Excerpt(c.text, c.max), c.expected) << "text '" << c.text << "' max " << c.max;
  }
}

TEST(CsvPrintableTest, EscapesNulControlCharactersAndInvalidUtf8) {
  struct Case {
    std::string text;
    std::string expected;
  };
  const std::vector<Case> cases = {
      {std::string("a\0b", 3), "a\\x00b"},  // a NUL no longer cuts the message short
      {"tab\there", "tab\\there"},
      {"bell\x07", "bell\\x07"},
      {"del\x7F", "del\\x7F"},
      {"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x91\x97", "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x91\x97"},
      {"latin1 \xE9t\xE9", "latin1 \\xE9t\\xE9"},  // ISO-8859-1, not UTF-8
      {"stray \x80", "stray \\x80"},
      {"cut \xE2\x82", "cut \\xE2\\x82"},  // a truncated sequence
      {"overlong \xC0\xAF", "overlong \\xC0\\xAF"},
      {"surrogate \xED\xA0\x80", "surrogate \\xED\\xA0\\x80"},
      {"already \\n escaped", "already \\n escaped"},  // idempotent on escaped text
  };
  for (const Case& c : cases) {
    EXPECT_EQ(Printable(c.text), c.expected) << Printable(c.text);
  }
  EXPECT_EQ(Excerpt(std::string("x\0y", 3)), "x\\x00y");
}

}  // namespace
}  // namespace towerstream::csv
