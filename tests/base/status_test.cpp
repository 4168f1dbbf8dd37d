#include "common/base/status.h"

#include <gtest/gtest.h>

#include <memory>

namespace towerstream {
namespace {

Result<int> ParsePositive(int v) {
  if (v <= 0) return Status::InvalidArgument("value " + std::to_string(v) + " is not positive");
  return v;
}

Status AddOne(int v, int* out) {
  TS_ASSIGN_OR_RETURN(int parsed, ParsePositive(v));
  *out = parsed + 1;
  return Status::Ok();
}

Status Chain(int v) {
  int unused = 0;
  TS_RETURN_IF_ERROR(AddOne(v, &unused));
  return Status::Ok();
}

TEST(StatusTest, DefaultIsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.ToString(), "OK");
}

TEST(StatusTest, ToStringNamesCodeAndMessage) {
  EXPECT_EQ(Status::NotFound("articles.csv").ToString(), "NotFound: articles.csv");
}

TEST(StatusTest, WithContextPrefixesMessageAndKeepsCode) {
  Status s = Status::InvalidArgument("bad price").WithContext("tx.csv:3");
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "tx.csv:3: bad price");
  EXPECT_TRUE(Status::Ok().WithContext("x").ok());
}

TEST(ResultTest, HoldsValueOrError) {
  Result<int> good = ParsePositive(3);
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 3);
  Result<int> bad = ParsePositive(-1);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(), "value -1 is not positive");
}

TEST(ResultTest, HoldsMoveOnlyValues) {
  Result<std::unique_ptr<int>> r = std::make_unique<int>(7);
  ASSERT_TRUE(r.ok());
  std::unique_ptr<int> p = std::move(r).value();
  EXPECT_EQ(*p, 7);
}

TEST(ResultTest, MacrosPropagateErrors) {
  int out = 0;
  EXPECT_TRUE(AddOne(4, &out).ok());
  EXPECT_EQ(out, 5);
  EXPECT_EQ(AddOne(0, &out).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(Chain(-2).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(Chain(2).ok());
}

}  // namespace
}  // namespace towerstream
