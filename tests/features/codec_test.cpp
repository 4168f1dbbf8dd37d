// Tests of the feature store's key layouts and binary value formats.
#include "common/features/codec.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace towerstream::features {
namespace {

constexpr char kCustomerId[] = "00000dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657";

TEST(CodecTest, CustomerKeyRoundTrips) {
  Result<CustomerKey> key = CustomerKeyFromId(kCustomerId);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ((*key)[2], 0x0d);
  EXPECT_EQ(CustomerIdFromKey(*key), kCustomerId);
}

TEST(CodecTest, CustomerKeyRejectsWhatIsNotLowercaseHex) {
  const std::string good = kCustomerId;
  for (const std::string& bad : {std::string("abc"), good + "0", "X" + good.substr(1),
                                 "A" + good.substr(1), std::string(64, 'g')}) {
    EXPECT_EQ(CustomerKeyFromId(bad).status().code(), StatusCode::kInvalidArgument) << bad;
  }
}

TEST(CodecTest, HistoryKeysSortInStreamOrder) {
  const CustomerKey c = *CustomerKeyFromId(kCustomerId);
  const std::vector<StreamPosition> ordered = {
      {0, 0}, {0, 1}, {0, 255}, {0, 256}, {0, int64_t{1} << 40}, {1, 0}, {300, 5}};
  for (size_t i = 1; i < ordered.size(); ++i) {
    EXPECT_LT(HistoryKey(c, ordered[i - 1]), HistoryKey(c, ordered[i]))
        << ordered[i - 1].partition << ":" << ordered[i - 1].offset << " vs "
        << ordered[i].partition << ":" << ordered[i].offset;
    EXPECT_LT(HistoryKey(c, ordered[i]), HistoryKeyUpperBound(c));
  }
}

TEST(CodecTest, HistoryKeyParsesBack) {
  const CustomerKey c = *CustomerKeyFromId(kCustomerId);
  CustomerKey parsed{};
  StreamPosition position;
  ASSERT_TRUE(ParseHistoryKey(HistoryKey(c, {5, 123456789}), &parsed, &position).ok());
  EXPECT_EQ(parsed, c);
  EXPECT_EQ(position, (StreamPosition{5, 123456789}));
  EXPECT_EQ(ParseHistoryKey("short", &parsed, &position).code(), StatusCode::kCorruption);
}

events::ArticleFeatures SampleArticle() {
  events::ArticleFeatures a;
  a.known = true;
  a.product_code = 108775;
  a.product_type_no = 253;
  a.product_group_name = "Garment Upper body";
  a.graphical_appearance_no = 1010016;
  a.colour_group_code = -1;
  a.perceived_colour_value_id = 1;
  a.perceived_colour_master_id = 9;
  a.department_no = 1676;
  a.index_code = "A";
  a.index_group_no = 1;
  a.section_no = 16;
  a.garment_group_no = 1002;
  return a;
}

TEST(CodecTest, ArticleFeaturesRoundTrip) {
  const events::ArticleFeatures a = SampleArticle();
  Result<events::ArticleFeatures> back = DecodeArticleFeatures(EncodeArticleFeatures(a));
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(*back, a);
}

TEST(CodecTest, CustomerFeaturesRoundTripWithAndWithoutNulls) {
  events::CustomerFeatures full;
  full.known = true;
  full.fn = 1.0f;
  full.active = 0.0f;
  full.club_member_status = "PRE-CREATE";
  full.fashion_news_frequency = hm::FashionNews::kMonthly;
  full.age = 23;
  full.postal_code = "2c29ae653a9282cce4151bd87643c907644e09541abc28ae87dea0d1f6603b1c";
  events::CustomerFeatures empty;
  empty.known = true;
  for (const events::CustomerFeatures& c : {full, empty}) {
    Result<events::CustomerFeatures> back = DecodeCustomerFeatures(EncodeCustomerFeatures(c));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, c) << "postal '" << c.postal_code << "'";
  }
}

TEST(CodecTest, DecodersRejectDamagedValues) {
  const std::string article = EncodeArticleFeatures(SampleArticle());
  struct Case {
    const char* name;
    std::string value;
  };
  for (const Case& k : {Case{"empty", ""}, Case{"version 2", "\x02" + article.substr(1)},
                        Case{"truncated", article.substr(0, article.size() - 3)},
                        Case{"trailing byte", article + "x"}}) {
    EXPECT_EQ(DecodeArticleFeatures(k.value).status().code(), StatusCode::kCorruption) << k.name;
  }
}

TEST(CodecTest, VarintRoundTrips) {
  for (uint64_t v :
       {uint64_t{0}, uint64_t{127}, uint64_t{128}, uint64_t{108775015}, ~uint64_t{0}}) {
    Result<uint64_t> back = DecodeVarint(EncodeVarint(v));
    ASSERT_TRUE(back.ok()) << v;
    EXPECT_EQ(*back, v);
  }
}

}  // namespace
}  // namespace towerstream::features
