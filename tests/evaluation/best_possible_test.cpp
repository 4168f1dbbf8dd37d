// best_possible.json: figures by segment, written and read back, and clear errors for bad files.
#include "common/evaluation/best_possible.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace towerstream::evaluation {
namespace {

using Articles = std::vector<hm::ArticleId>;

// A fresh directory, removed on destruction.
class TempDir {
 public:
  TempDir() {
    path_ =
        std::filesystem::temp_directory_path() /
        ("best_possible_test_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "_" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

BestPossible Sample() {
  BestPossibleAccumulator acc;
  acc.Add(Articles{1, 2}, Articles{2}, Articles{1, 3, 2}, /*bought_before=*/true);
  acc.Add(Articles{5}, Articles{}, Articles{4, 5}, /*bought_before=*/false);
  acc.Add(Articles{7}, Articles{}, Articles{8}, /*bought_before=*/true);
  BestPossible b = acc.Finish(/*catalogue_size=*/10);
  b.test_start = Date::FromCivil(2020, 9, 16);
  b.test_end = Date::FromCivil(2020, 9, 23);
  b.purchases = 5;
  b.method = "test";
  return b;
}

void Write(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST(BestPossibleAccumulatorTest, SplitsLikeEvaluate) {
  const BestPossible b = Sample();
  EXPECT_EQ(b.customers, 3);
  EXPECT_EQ(b.catalogue_size, 10);
  // AP@12: (1/1 + 2/3) / 2, 1/2, 0.
  EXPECT_DOUBLE_EQ(b.metrics.map_at_12, ((1 + 2.0 / 3) / 2 + 0.5 + 0) / 3);
  ASSERT_EQ(b.segments.size(), 3u);
  EXPECT_EQ(b.segments[0].name, "returning_customers");
  EXPECT_EQ(b.segments[0].metrics.customers, 2);
  EXPECT_EQ(b.segments[1].name, "new_customers");
  EXPECT_EQ(b.segments[1].metrics.customers, 1);
  EXPECT_DOUBLE_EQ(b.segments[1].metrics.map_at_12, 0.5);
  EXPECT_EQ(b.segments[2].name, "new_articles");
  EXPECT_EQ(b.segments[2].metrics.customers, 1);
  EXPECT_DOUBLE_EQ(b.segments[2].metrics.recall_at_12, 1.0);
  EXPECT_EQ(b.metrics.recall_curve.size(), static_cast<size_t>(kRecallCurveLength));
}

TEST(BestPossibleTest, RoundTripsFromTheDataDirItsFolderOrTheFile) {
  TempDir dir;
  const BestPossible b = Sample();
  Result<std::filesystem::path> written = WriteBestPossible(b, dir.path());
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, dir.path() / "ground-truth" / "best_possible.json");
  for (const std::filesystem::path& p : {dir.path(), dir.path() / "ground-truth", *written}) {
    Result<BestPossible> loaded = LoadBestPossible(p);
    ASSERT_TRUE(loaded.ok()) << p << ": " << loaded.status().ToString();
    EXPECT_EQ(loaded->test_start, b.test_start) << p;
    EXPECT_EQ(loaded->test_end, b.test_end) << p;
    EXPECT_EQ(loaded->customers, b.customers) << p;
    EXPECT_EQ(loaded->purchases, b.purchases) << p;
    EXPECT_EQ(loaded->catalogue_size, b.catalogue_size) << p;
    EXPECT_EQ(loaded->method, b.method) << p;
    EXPECT_EQ(loaded->metrics.map_at_12, b.metrics.map_at_12) << p;
    EXPECT_EQ(loaded->metrics.recall_at_12, b.metrics.recall_at_12) << p;
    EXPECT_EQ(loaded->metrics.recall_at_100, b.metrics.recall_at_100) << p;
    EXPECT_EQ(loaded->metrics.coverage, b.metrics.coverage) << p;
    EXPECT_EQ(loaded->metrics.recall_curve, b.metrics.recall_curve) << p;
    ASSERT_EQ(loaded->segments.size(), b.segments.size()) << p;
    for (size_t i = 0; i < b.segments.size(); ++i) {
      EXPECT_EQ(loaded->segments[i].name, b.segments[i].name) << p;
      EXPECT_EQ(loaded->segments[i].metrics.customers, b.segments[i].metrics.customers) << p;
      EXPECT_EQ(loaded->segments[i].metrics.map_at_12, b.segments[i].metrics.map_at_12) << p;
    }
  }
}

TEST(BestPossibleTest, MissingFileIsNotFoundNamingIt) {
  TempDir dir;
  Result<BestPossible> loaded = LoadBestPossible(dir.path());
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().code(), StatusCode::kNotFound);
  EXPECT_NE(loaded.status().message().find("ground-truth/best_possible.json"), std::string::npos)
      << loaded.status().message();
}

TEST(BestPossibleTest, RejectsMalformedFilesNamingFileAndReason) {
  TempDir dir;
  ASSERT_TRUE(WriteBestPossible(Sample(), dir.path()).ok());
  const std::filesystem::path file = dir.path() / "ground-truth" / "best_possible.json";
  std::ifstream in(file);
  const std::string good((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const size_t at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? s : s.replace(at, from.size(), to);
  };
  struct Case {
    std::string text;
    std::string reason;
  };
  const Case cases[] = {
      {"{\"map_at_12\": 0.1", "not valid JSON"},
      {"[1, 2]", "not a JSON object"},
      {replaced("\"map_at_12\"", "\"map_at_13\""), "missing field 'map_at_12'"},
      {replaced("\"test_start\": \"2020-09-16\"", "\"test_start\": \"2020-13-16\""),
       "field 'test_start'"},
      {replaced("\"purchases\": 5", "\"purchases\": -5"), "field 'purchases' must be a count"},
      {replaced("\"test_end\": \"2020-09-23\"", "\"test_end\": \"2020-09-01\""),
       "is not after test_start"},
      {replaced("\"recall_at_100\": ", "\"recall_at_100\": 1"),  // e.g. 10.5: out of range
       "field 'recall_at_100' must be in [0, 1]"},
      {replaced("\"returning_customers\": {", "\"returning_customers\": {\"x\": 1, \"y\": {}, "),
       ""},  // extra fields are fine
      {replaced("\"new_customers\": {\n      \"customers\": 1",
                "\"new_customers\": {\n      \"customers\": \"one\""),
       "field 'segments.new_customers.customers' must be a count"},
  };
  for (const Case& c : cases) {
    Write(file, c.text);
    Result<BestPossible> loaded = LoadBestPossible(file);
    if (c.reason.empty()) {
      EXPECT_TRUE(loaded.ok()) << c.text << "\n" << loaded.status().ToString();
      continue;
    }
    ASSERT_FALSE(loaded.ok()) << c.text;
    EXPECT_EQ(loaded.status().code(), StatusCode::kCorruption) << c.text;
    const std::string message = loaded.status().message();
    EXPECT_NE(message.find(file.string()), std::string::npos) << message;
    EXPECT_NE(message.find(c.reason), std::string::npos) << c.text << "\n" << message;
  }
}

}  // namespace
}  // namespace towerstream::evaluation
