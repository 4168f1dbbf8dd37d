#include "common/base/date.h"

#include <gtest/gtest.h>

namespace towerstream {
namespace {

TEST(DateTest, ParsesAndFormatsRoundTrip) {
  for (const char* text : {"1970-01-01", "2018-09-20", "2020-02-29", "2020-09-22", "1999-12-31",
                           "2000-03-01", "1969-12-31"}) {
    Result<Date> d = Date::Parse(text);
    ASSERT_TRUE(d.ok()) << text << ": " << d.status().ToString();
    EXPECT_EQ(d->ToString(), text);
  }
}

TEST(DateTest, KnowsTheEpochAndKaggleRange) {
  EXPECT_EQ(Date::Parse("1970-01-01")->days_since_epoch(), 0);
  // The Kaggle training data spans 734 days.
  EXPECT_EQ(*Date::Parse("2020-09-22") - *Date::Parse("2018-09-20"), 733);
}

TEST(DateTest, RejectsMalformedDates) {
  for (const char* text : {"", "2020-9-01", "2020/09/01", "2020-02-30", "2019-02-29", "2020-13-01",
                           "2020-00-10", "2020-01-00", "20a0-01-01", "2020-01-011"}) {
    Result<Date> d = Date::Parse(text);
    EXPECT_FALSE(d.ok()) << text;
    if (!d.ok()) {
      EXPECT_NE(d.status().message().find(text), std::string::npos) << d.status().message();
    }
  }
}

TEST(DateTest, WeekdayAndMonth) {
  Date d = *Date::Parse("2018-09-20");  // a Thursday
  EXPECT_EQ(d.Weekday(), 3);
  EXPECT_EQ((d + 4).Weekday(), 0);
  EXPECT_EQ(d.Month(), 9u);
}

}  // namespace
}  // namespace towerstream
