// Tests of the event codecs: round trips, the documented encoding, and rejection of bad events.
#include "common/events/events.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/events/dead_letter.h"
#include "tests/events/sample_events.h"

namespace towerstream::events {
namespace {

using nlohmann::json;
using testing::SampleArticle;
using testing::SampleColdExampleEvent;
using testing::SampleCustomer;
using testing::SampleCustomerWithNulls;
using testing::SampleExampleEvent;
using testing::SampleTransactionEvent;

// `event_json` with `field` set to the JSON text `value`.
std::string WithField(const std::string& event_json, const std::string& field,
                      const std::string& value) {
  json doc = json::parse(event_json);
  doc[field] = json::parse(value);
  return doc.dump();
}

std::string WithoutField(const std::string& event_json, const std::string& field) {
  json doc = json::parse(event_json);
  doc.erase(field);
  return doc.dump();
}

// `text` with its first `from` replaced by `to`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::invalid_argument(from + " not in " + text);
  return text.replace(at, from.size(), to);
}

// --- Round trips.

// Encodes `event`, decodes the text, and expects the same event back.
template <typename Event>
void ExpectRoundTrip(const Event& event, std::string (*encode)(const Event&),
                     Result<Event> (*decode)(std::string_view, const DecodeOptions&)) {
  const std::string encoded = encode(event);
  Result<Event> decoded = decode(encoded, DecodeOptions{});
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString() << "\n" << encoded;
  EXPECT_EQ(*decoded, event) << encoded;
}

TEST(EventsTest, TransactionRoundTrips) {
  ExpectRoundTrip(SampleTransactionEvent(), EncodeTransactionEvent, DecodeTransactionEvent);
}

TEST(EventsTest, ArticleRoundTrips) {
  ExpectRoundTrip(ArticleEvent{.article = SampleArticle()}, EncodeArticleEvent, DecodeArticleEvent);
}

TEST(EventsTest, ArticleWithEmptyDescriptionAndUnknownCodesRoundTrips) {
  ArticleEvent event{.article = SampleArticle()};
  event.article.detail_desc.clear();
  event.article.product_type_no = -1;  // Kaggle's "Unknown"
  event.article.colour_group_code = -1;
  ExpectRoundTrip(event, EncodeArticleEvent, DecodeArticleEvent);
}

TEST(EventsTest, CustomerRoundTrips) {
  ExpectRoundTrip(CustomerEvent{.customer = SampleCustomer()}, EncodeCustomerEvent,
                  DecodeCustomerEvent);
}

TEST(EventsTest, CustomerWithNullOptionalsRoundTrips) {
  ExpectRoundTrip(CustomerEvent{.customer = SampleCustomerWithNulls()}, EncodeCustomerEvent,
                  DecodeCustomerEvent);
}

TEST(EventsTest, ExampleRoundTrips) {
  ExpectRoundTrip(SampleExampleEvent(), EncodeExampleEvent, DecodeExampleEvent);
}

TEST(EventsTest, ExampleOfUnknownCustomerAndArticleRoundTrips) {
  ExpectRoundTrip(SampleColdExampleEvent(), EncodeExampleEvent, DecodeExampleEvent);
}

TEST(EventsTest, ExampleKeepsRecentArticlesInOrderWithRepeats) {
  ExampleEvent event = SampleExampleEvent();
  event.recent_article_ids = {3, 1, 3, 2};
  Result<ExampleEvent> decoded = DecodeExampleEvent(EncodeExampleEvent(event));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->recent_article_ids, (std::vector<hm::ArticleId>{3, 1, 3, 2}));
}

// --- The documented encoding.

TEST(EventsTest, EncodesTransactionAsCompactJson) {
  EXPECT_EQ(EncodeTransactionEvent(SampleTransactionEvent()),
            R"({"schema_version":1,"event_id":"0123456789abcdef0123456789abcdef",)"
            R"("t_dat":"2018-09-20",)"
            R"("customer_id":"000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318",)"
            R"("article_id":"0663713001","price":0.050830508474576264,"sales_channel_id":2})");
}

TEST(EventsTest, EncodesMissingCustomerFieldsAsNull) {
  const json doc =
      json::parse(EncodeCustomerEvent(CustomerEvent{.customer = SampleCustomerWithNulls()}));
  for (const char* field :
       {"FN", "Active", "club_member_status", "fashion_news_frequency", "age"}) {
    ASSERT_TRUE(doc.contains(field)) << field;
    EXPECT_TRUE(doc[field].is_null()) << field;
  }
}

TEST(EventsTest, EncodesRecentArticleIdsAsPaddedStrings) {
  ExampleEvent event = SampleExampleEvent();
  event.recent_article_ids = {108775015, 7};
  const json doc = json::parse(EncodeExampleEvent(event));
  EXPECT_EQ(doc["recent_article_ids"], json::parse(R"(["0108775015","0000000007"])"));
}

TEST(EventsTest, EncodingReplacesInvalidUtf8InsteadOfFailing) {
  ArticleEvent event{.article = SampleArticle()};
  event.article.detail_desc = "bad \xC3\x28 byte";
  Result<ArticleEvent> decoded = DecodeArticleEvent(EncodeArticleEvent(event));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->article.detail_desc, "bad \xEF\xBF\xBD( byte");  // U+FFFD
}

TEST(EventsTest, KeysAreCustomerIdOrPaddedArticleId) {
  EXPECT_EQ(EventKey(SampleTransactionEvent()), testing::kSampleCustomerId);
  EXPECT_EQ(EventKey(SampleExampleEvent()), testing::kSampleCustomerId);
  EXPECT_EQ(EventKey(CustomerEvent{.customer = SampleCustomer()}), testing::kSampleCustomerId);
  EXPECT_EQ(EventKey(ArticleEvent{.article = SampleArticle()}), "0108775015");
}

// --- What decoders accept beyond what encoders write.

TEST(EventsTest, DecoderAcceptsArticleIdInEveryDocumentedForm) {
  const std::string base = EncodeTransactionEvent(SampleTransactionEvent());
  for (const char* form : {R"("0663713001")", R"("663713001")", "663713001", "663713001.0"}) {
    Result<TransactionEvent> decoded = DecodeTransactionEvent(WithField(base, "article_id", form));
    ASSERT_TRUE(decoded.ok()) << form << ": " << decoded.status().ToString();
    EXPECT_EQ(decoded->transaction.article_id, 663713001) << form;
  }
}

TEST(EventsTest, DecoderIgnoresUnknownFields) {
  const std::string payload = WithField(EncodeTransactionEvent(SampleTransactionEvent()),
                                        "added_in_a_later_version", R"({"x":[1,2]})");
  Result<TransactionEvent> decoded = DecodeTransactionEvent(payload);
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(*decoded, SampleTransactionEvent());
}

TEST(EventsTest, DecoderNormalisesFashionNewsSpelling) {
  const std::string base = EncodeCustomerEvent(CustomerEvent{.customer = SampleCustomer()});
  Result<CustomerEvent> decoded =
      DecodeCustomerEvent(WithField(base, "fashion_news_frequency", R"("None")"));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->customer.fashion_news_frequency, hm::FashionNews::kNone);
}

TEST(EventsTest, DecoderAcceptsWholeFloatAsInteger) {
  const std::string base = EncodeCustomerEvent(CustomerEvent{.customer = SampleCustomer()});
  Result<CustomerEvent> decoded = DecodeCustomerEvent(WithField(base, "age", "49.0"));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_EQ(decoded->customer.age, 49);
}

TEST(EventsTest, DecoderAcceptsPayloadAtTheSizeLimit) {
  const std::string payload = EncodeTransactionEvent(SampleTransactionEvent());
  const DecodeOptions options{.max_payload_bytes = payload.size()};
  EXPECT_TRUE(DecodeTransactionEvent(payload, options).ok());
}

TEST(EventsTest, DecoderHonoursConfiguredRecentArticleLimit) {
  const std::string payload = EncodeExampleEvent(SampleExampleEvent());  // 20 articles
  EXPECT_TRUE(DecodeExampleEvent(payload, DecodeOptions{.max_recent_articles = 20}).ok());
  EXPECT_FALSE(DecodeExampleEvent(payload, DecodeOptions{.max_recent_articles = 19}).ok());
}

TEST(EventsTest, DecodeOptionsValidateRejectsNonsense) {
  EXPECT_TRUE(DecodeOptions{}.Validate().ok());
  EXPECT_FALSE(DecodeOptions{.max_payload_bytes = 0}.Validate().ok());
  EXPECT_FALSE(DecodeOptions{.max_recent_articles = -1}.Validate().ok());
}

// --- Bad events: each error names the field and the problem, and maps to a DLQ reason.

enum class Kind { kTransaction, kArticle, kCustomer, kExample };

struct BadEventCase {
  std::string name;
  Kind kind;
  std::string payload;
  std::string message;  // the whole expected message
  DlqReason reason;
};

Status DecodeAs(Kind kind, std::string_view payload) {
  switch (kind) {
    case Kind::kTransaction:
      return DecodeTransactionEvent(payload).status();
    case Kind::kArticle:
      return DecodeArticleEvent(payload).status();
    case Kind::kCustomer:
      return DecodeCustomerEvent(payload).status();
    case Kind::kExample:
      return DecodeExampleEvent(payload).status();
  }
  return Status::Internal("unreachable");
}

std::vector<BadEventCase> BadEventCases() {
  const std::string tx = EncodeTransactionEvent(SampleTransactionEvent());
  const std::string article = EncodeArticleEvent(ArticleEvent{.article = SampleArticle()});
  const std::string customer = EncodeCustomerEvent(CustomerEvent{.customer = SampleCustomer()});
  const std::string example = EncodeExampleEvent(SampleExampleEvent());
  const std::string big_padding(70'000, 'x');
  const std::string too_many_recent = [] {
    json ids = json::array();
    for (int i = 0; i <= kDefaultRecentArticles; ++i) ids.push_back(i + 1);
    return ids.dump();
  }();
  // "\xC3\x28" opens a two-byte sequence with a byte that cannot continue it.
  const std::string string_start = R"("event_id":")";
  const size_t bad_utf8_at = tx.find(string_start) + string_start.size();
  const std::string bad_utf8 = std::string(tx).insert(bad_utf8_at, "\xC3\x28");
  using enum Kind;
  using R = DlqReason;
  return {
      // Envelope.
      {"not json", kTransaction, R"({"schema_version":1,"event_id")",
       "not JSON: syntax error at byte 31 (unexpected end of input; expected ':')", R::kNotJson},
      {"empty payload", kTransaction, "",
       "not JSON: syntax error at byte 1 (unexpected end of input; expected '[', '{', or a "
       "literal)",
       R::kNotJson},
      {"trailing garbage", kTransaction, tx + "x",
       "not JSON: syntax error at byte " + std::to_string(tx.size() + 1) + " (invalid literal)",
       R::kNotJson},
      {"number beyond double", kTransaction, Replace(tx, "0.050830508474576264", "1e999"),
       "not JSON: number overflow parsing '1e999'", R::kNotJson},
      {"not an object", kTransaction, "[1,2]", "not a JSON object: got array", R::kNotJson},
      {"invalid utf-8 in a string", kTransaction, bad_utf8,
       "not valid UTF-8: ill-formed byte sequence in a string at byte " +
           std::to_string(bad_utf8_at + 2),
       R::kInvalidUtf8},
      {"over the size limit", kTransaction, WithField(tx, "padding", json(big_padding).dump()),
       "payload is " + std::to_string(WithField(tx, "padding", json(big_padding).dump()).size()) +
           " bytes, over the limit of 65536",
       R::kTooLarge},
      {"unknown schema version", kTransaction, WithField(tx, "schema_version", "7"),
       "field 'schema_version': unsupported version 7 (supported: 1)", R::kUnsupportedVersion},
      {"missing schema version", kArticle, WithoutField(article, "schema_version"),
       "field 'schema_version': missing", R::kMissingField},
      {"schema version as string", kCustomer, WithField(customer, "schema_version", R"("1")"),
       "field 'schema_version': expected integer, got string", R::kInvalidField},
      // Transaction fields.
      {"missing article id", kTransaction, WithoutField(tx, "article_id"),
       "field 'article_id': missing", R::kMissingField},
      {"missing event id", kTransaction, WithoutField(tx, "event_id"), "field 'event_id': missing",
       R::kMissingField},
      {"empty event id", kTransaction, WithField(tx, "event_id", R"("")"),
       "field 'event_id': empty", R::kInvalidField},
      {"price as string", kTransaction, WithField(tx, "price", R"("abc")"),
       "field 'price': expected number, got string", R::kInvalidField},
      {"negative price", kTransaction, WithField(tx, "price", "-1.5"),
       "field 'price': -1.5 is not > 0", R::kInvalidField},
      {"zero price", kTransaction, WithField(tx, "price", "0"), "field 'price': 0 is not > 0",
       R::kInvalidField},
      {"impossible date", kTransaction, WithField(tx, "t_dat", R"("2020-02-30")"),
       "field 't_dat': '2020-02-30' is not a date of the form YYYY-MM-DD", R::kInvalidField},
      {"unpadded date", kTransaction, WithField(tx, "t_dat", R"("2020-9-1")"),
       "field 't_dat': \"2020-9-1\" is not a date of the form YYYY-MM-DD", R::kInvalidField},
      {"date as number", kTransaction, WithField(tx, "t_dat", "20200901"),
       "field 't_dat': expected string, got number", R::kInvalidField},
      {"sales channel 3", kTransaction, WithField(tx, "sales_channel_id", "3"),
       "field 'sales_channel_id': 3 is not 1 or 2", R::kInvalidField},
      {"sales channel as string", kTransaction, WithField(tx, "sales_channel_id", R"("1")"),
       "field 'sales_channel_id': expected integer, got string", R::kInvalidField},
      {"fractional sales channel", kTransaction, WithField(tx, "sales_channel_id", "1.5"),
       "field 'sales_channel_id': 1.5 is not an integer", R::kInvalidField},
      {"customer id too short", kTransaction, WithField(tx, "customer_id", R"("abc")"),
       "field 'customer_id': \"abc\" is not 64 lowercase hex characters", R::kInvalidField},
      {"customer id not hex", kTransaction,
       WithField(tx, "customer_id", json(std::string(64, 'g')).dump()),
       "field 'customer_id': \"" + std::string(64, 'g') + "\" is not 64 lowercase hex characters",
       R::kInvalidField},
      {"customer id upper case", kTransaction,
       WithField(tx, "customer_id", json(std::string(64, 'A')).dump()),
       "field 'customer_id': \"" + std::string(64, 'A') + "\" is not 64 lowercase hex characters",
       R::kInvalidField},
      {"customer id empty", kTransaction, WithField(tx, "customer_id", R"("")"),
       "field 'customer_id': \"\" is not 64 lowercase hex characters", R::kInvalidField},
      {"article id with letters", kTransaction, WithField(tx, "article_id", R"("06637x3001")"),
       "field 'article_id': article_id '06637x3001' has a character that is not a digit",
       R::kInvalidField},
      {"article id of 11 digits", kTransaction, WithField(tx, "article_id", R"("10663713001")"),
       "field 'article_id': \"10663713001\" is not 1 to 10 digits", R::kInvalidField},
      {"negative article id", kTransaction, WithField(tx, "article_id", "-5"),
       "field 'article_id': -5 is out of range [0, 9999999999]", R::kInvalidField},
      {"article id as boolean", kTransaction, WithField(tx, "article_id", "true"),
       "field 'article_id': expected string or integer, got boolean", R::kInvalidField},
      // Article fields.
      {"code out of 32-bit range", kArticle, WithField(article, "product_type_no", "3000000000"),
       "field 'product_type_no': 3000000000 is out of range [-2147483648, 2147483647]",
       R::kInvalidField},
      {"negative product code", kArticle, WithField(article, "product_code", "-1"),
       "field 'product_code': -1 is out of range [0, 9223372036854775807]", R::kInvalidField},
      {"index code of two letters", kArticle, WithField(article, "index_code", R"("AB")"),
       "field 'index_code': \"AB\" is not one letter A-Z", R::kInvalidField},
      {"empty index code", kArticle, WithField(article, "index_code", R"("")"),
       "field 'index_code': \"\" is not one letter A-Z", R::kInvalidField},
      {"name as null", kArticle, WithField(article, "prod_name", "null"),
       "field 'prod_name': expected string, got null", R::kInvalidField},
      {"missing description", kArticle, WithoutField(article, "detail_desc"),
       "field 'detail_desc': missing", R::kMissingField},
      // Customer fields.
      {"FN of 2", kCustomer, WithField(customer, "FN", "2"), "field 'FN': 2 is not 0, 1 or null",
       R::kInvalidField},
      {"Active as string", kCustomer, WithField(customer, "Active", R"("1")"),
       "field 'Active': expected number, got string", R::kInvalidField},
      {"age of 200", kCustomer, WithField(customer, "age", "200"),
       "field 'age': 200 is out of range [0, 150]", R::kInvalidField},
      {"fractional age", kCustomer, WithField(customer, "age", "49.5"),
       "field 'age': 49.5 is not an integer", R::kInvalidField},
      {"missing nullable age", kCustomer, WithoutField(customer, "age"), "field 'age': missing",
       R::kMissingField},
      {"unknown fashion news", kCustomer,
       WithField(customer, "fashion_news_frequency", R"("Weekly")"),
       "field 'fashion_news_frequency': fashion_news_frequency 'Weekly' is not one of NONE, "
       "None, Regularly, Monthly",
       R::kInvalidField},
      {"empty club status", kCustomer, WithField(customer, "club_member_status", R"("")"),
       "field 'club_member_status': empty (use null when unknown)", R::kInvalidField},
      {"customer id of customer event", kCustomer, WithField(customer, "customer_id", "1"),
       "field 'customer_id': expected string, got number", R::kInvalidField},
      // Example fields.
      {"missing customer_known", kExample, WithoutField(example, "customer_known"),
       "field 'customer_known': missing", R::kMissingField},
      {"article_known as number", kExample, WithField(example, "article_known", "1"),
       "field 'article_known': expected boolean, got number", R::kInvalidField},
      {"recent articles not an array", kExample,
       WithField(example, "recent_article_ids", R"("0108775015")"),
       "field 'recent_article_ids': expected array, got string", R::kInvalidField},
      {"bad recent article", kExample,
       WithField(example, "recent_article_ids", R"(["0108775015", null])"),
       "field 'recent_article_ids[1]': expected string or integer, got null", R::kInvalidField},
      {"too many recent articles", kExample,
       WithField(example, "recent_article_ids", too_many_recent),
       "field 'recent_article_ids': 21 articles, over the limit of 20", R::kInvalidField},
      {"example index code of two letters", kExample, WithField(example, "index_code", R"("AB")"),
       "field 'index_code': \"AB\" is not one letter A-Z", R::kInvalidField},
      {"example price zero", kExample, WithField(example, "price", "0"),
       "field 'price': 0 is not > 0", R::kInvalidField},
  };
}

TEST(EventsTest, DecoderRejectsBadEventsNamingFieldAndProblem) {
  for (const BadEventCase& c : BadEventCases()) {
    const Status status = DecodeAs(c.kind, c.payload);
    ASSERT_FALSE(status.ok()) << c.name << ": accepted " << c.payload;
    EXPECT_EQ(status.code(), StatusCode::kInvalidArgument) << c.name;
    EXPECT_EQ(status.message(), c.message) << c.name << ": " << c.payload.substr(0, 300);
    EXPECT_EQ(DecodeErrorReason(status), c.reason)
        << c.name << ": " << status.message() << " classified as "
        << DlqReasonName(DecodeErrorReason(status));
  }
}

TEST(EventsTest, DecoderShortensLongValuesInMessages) {
  const std::string long_id(10'000, 'f');
  const Status status =
      DecodeTransactionEvent(WithField(EncodeTransactionEvent(SampleTransactionEvent()),
                                       "customer_id", json(long_id).dump()))
          .status();
  ASSERT_FALSE(status.ok());
  EXPECT_LT(status.message().size(), 200u) << status.message();
  EXPECT_NE(status.message().find("field 'customer_id': \"ffff"), std::string::npos)
      << status.message();
}

TEST(EventsTest, DecoderSurvivesDeeplyNestedPayload) {
  const std::string nested =
      "{\"schema_version\":1,\"x\":" + std::string(30'000, '[') + std::string(30'000, ']') + "}";
  const Status status = DecodeTransactionEvent(nested).status();
  EXPECT_EQ(status.message(), "field 'event_id': missing");
}

}  // namespace
}  // namespace towerstream::events
