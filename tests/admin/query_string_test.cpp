// Query strings: what the servers parse and what the MLflow client sends.
#include "common/admin/query_string.h"

#include <gtest/gtest.h>

namespace towerstream::admin {
namespace {

TEST(QueryStringTest, EncodesQueryValues) {
  EXPECT_EQ(EncodeQueryValue("towerstream"), "towerstream");
  EXPECT_EQ(EncodeQueryValue("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
}

TEST(QueryStringTest, ParsesPairsPlusesAndEscapes) {
  const Result<std::map<std::string, std::string>> q =
      ParseQuery("customer_id=abc&k=12&&note=a+b%2Fc&flag&k=5");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(*q, (std::map<std::string, std::string>{
                    {"customer_id", "abc"}, {"k", "5"}, {"note", "a b/c"}, {"flag", ""}}));
}

TEST(QueryStringTest, WhatIsEncodedParsesBack) {
  const std::string value = "a b&c=d/é+%~";
  const Result<std::map<std::string, std::string>> q = ParseQuery("v=" + EncodeQueryValue(value));
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  EXPECT_EQ(q->at("v"), value);
}

TEST(QueryStringTest, MalformedEscapesAreRefused) {
  for (const char* bad : {"k=%", "k=%4", "k=%zz", "%g1=2"}) {
    const Result<std::map<std::string, std::string>> q = ParseQuery(bad);
    ASSERT_FALSE(q.ok()) << bad;
    EXPECT_EQ(q.status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

}  // namespace
}  // namespace towerstream::admin
