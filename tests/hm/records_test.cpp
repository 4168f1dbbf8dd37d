// Tests of the H&M id and code helpers in records.h.
#include "common/hm/records.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace towerstream::hm {
namespace {

TEST(ArticleIdTest, ParsesPaddedAndUnpaddedIdsAlike) {
  struct Case {
    std::string text;
    ArticleId expected;
  };
  const std::vector<Case> cases = {
      {"0108775015", 108775015}, {"108775015", 108775015},   {"1", 1},
      {"0000000001", 1},         {"9999999999", 9999999999}, {"0", 0},
  };
  for (const Case& c : cases) {
    Result<ArticleId> id = ParseArticleId(c.text);
    ASSERT_TRUE(id.ok()) << c.text << ": " << id.status().ToString();
    EXPECT_EQ(*id, c.expected) << c.text;
  }
}

TEST(ArticleIdTest, RejectsAnythingButOneToTenDigits) {
  for (const std::string text :
       {"", "12345678901", "10877501x", "-108775015", "108775015.0", " 108775015", "1e5"}) {
    Result<ArticleId> id = ParseArticleId(text);
    ASSERT_FALSE(id.ok()) << "'" << text << "'";
    EXPECT_NE(id.status().message().find(text), std::string::npos) << text;
  }
}

TEST(ArticleIdTest, FormatsTenDigits) {
  EXPECT_EQ(FormatArticleId(108775015), "0108775015");
  EXPECT_EQ(FormatArticleId(1), "0000000001");
  EXPECT_EQ(FormatArticleId(9999999999), "9999999999");
  char out[kArticleIdDigits];
  FormatArticleId(663713001, out);
  EXPECT_EQ(std::string(out, kArticleIdDigits), "0663713001");
}

TEST(CustomerIdTest, AcceptsOnlySixtyFourLowercaseHexCharacters) {
  const std::string valid(64, 'a');
  struct Case {
    std::string text;
    bool valid;
  };
  const std::vector<Case> cases = {
      {"00000dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657", true},
      {valid, true},
      {std::string(63, 'a'), false},
      {std::string(65, 'a'), false},
      {std::string(64, 'A'), false},
      {std::string(63, 'a') + "g", false},
      {"", false},
  };
  for (const Case& c : cases) EXPECT_EQ(IsValidCustomerId(c.text), c.valid) << c.text;
}

TEST(FashionNewsTest, NormalisesNoneSpellings) {
  struct Case {
    std::string text;
    FashionNews expected;
  };
  const std::vector<Case> cases = {
      {"NONE", FashionNews::kNone},       {"None", FashionNews::kNone},
      {"none", FashionNews::kNone},       {"Regularly", FashionNews::kRegularly},
      {"Monthly", FashionNews::kMonthly},
  };
  for (const Case& c : cases) {
    Result<FashionNews> f = ParseFashionNews(c.text);
    ASSERT_TRUE(f.ok()) << c.text;
    EXPECT_EQ(*f, c.expected) << c.text;
  }
  EXPECT_EQ(FashionNewsName(FashionNews::kNone), "NONE");
  EXPECT_EQ(FashionNewsName(FashionNews::kRegularly), "Regularly");
  EXPECT_EQ(FashionNewsName(FashionNews::kMonthly), "Monthly");
}

TEST(FashionNewsTest, RejectsUnknownValues) {
  for (const std::string text : {"", "Weekly", "REGULARLY", "NaN"}) {
    EXPECT_FALSE(ParseFashionNews(text).ok()) << "'" << text << "'";
  }
}

}  // namespace
}  // namespace towerstream::hm
