// Tests of transaction event ids: fixed, directory-independent and distinct per row.
#include "common/events/event_id.h"

#include <gtest/gtest.h>

#include <string>
#include <unordered_set>

namespace towerstream::events {
namespace {

TEST(EventIdTest, FixedInputGivesFixedId) {
  // XXH3-128 of "transactions_train.csv\0" "2", high 64 bits first, computed with libxxhash
  // when this test was written: a change here changes every id already in Kafka.
  EXPECT_EQ(MakeTransactionEventId("transactions_train.csv", 2),
            "c7e78ce3f7f6a8adee7a2bdc3f2c884c");
}

TEST(EventIdTest, IsThirtyTwoLowercaseHexCharacters) {
  const std::string id = MakeTransactionEventId("t.csv", 1);
  ASSERT_EQ(id.size(), 32u);
  for (char c : id) EXPECT_TRUE((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')) << id;
}

TEST(EventIdTest, IgnoresTheDirectory) {
  EXPECT_EQ(MakeTransactionEventId("/data/hm/transactions_train.csv", 2),
            MakeTransactionEventId("transactions_train.csv", 2));
  EXPECT_EQ(MakeTransactionEventId("../other/transactions_train.csv", 2),
            MakeTransactionEventId("transactions_train.csv", 2));
}

TEST(EventIdTest, DistinctForDistinctLines) {
  std::unordered_set<std::string> ids;
  constexpr int64_t kLines = 100'000;
  for (int64_t line = 1; line <= kLines; ++line) {
    ids.insert(MakeTransactionEventId("transactions_train.csv", line));
  }
  EXPECT_EQ(ids.size(), static_cast<size_t>(kLines));
}

TEST(EventIdTest, DistinctForDistinctFiles) {
  EXPECT_NE(MakeTransactionEventId("a.csv", 1), MakeTransactionEventId("b.csv", 1));
  // Name and line are separated, so moving a digit between them changes the input.
  EXPECT_NE(MakeTransactionEventId("a1", 2), MakeTransactionEventId("a", 12));
}

}  // namespace
}  // namespace towerstream::events
