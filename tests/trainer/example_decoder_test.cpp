// Tests that DecodeExample decodes exactly like events::DecodeExampleEvent + ExampleFromEvent
// (same Example and event_id, or the same error), and takes its fast path on encoder output.
#include "common/trainer/example_decoder.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/events/dead_letter.h"
#include "tests/events/sample_events.h"

namespace towerstream::trainer {
namespace {

using events::DecodeOptions;
using events::ExampleEvent;
using events::testing::SampleColdExampleEvent;
using events::testing::SampleExampleEvent;

// What DecodeExample must leave alone when it fails.
model::Example Untouched() {
  model::Example e;
  e.article_id = -7;
  e.customer_key = -7;
  e.recent_article_ids = {7, 7, 7};
  return e;
}
constexpr std::string_view kUntouchedId = "untouched";

// Payloads may hold any bytes: show them escaped and shortened in failure messages.
std::string Printable(std::string_view payload) {
  std::string out;
  for (const char c : payload.substr(0, 400)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      out += c;
    } else {
      constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 0xF];
    }
  }
  if (payload.size() > 400) out += "... (" + std::to_string(payload.size()) + " bytes)";
  return out;
}

// DecodeExample agrees with the library on `payload`: the same Example and event_id, or the
// same error code and message with its outputs left untouched.
::testing::AssertionResult SameAsLibrary(std::string_view payload,
                                         const DecodeOptions& options = {}) {
  const Result<ExampleEvent> library = events::DecodeExampleEvent(payload, options);
  model::Example example = Untouched();
  std::string event_id(kUntouchedId);
  const Status status = DecodeExample(payload, options, &example, &event_id);
  if (status.ok() != library.ok()) {
    return ::testing::AssertionFailure()
           << "DecodeExample: " << status.ToString() << "\nlibrary: " << library.status().ToString()
           << "\npayload: " << Printable(payload);
  }
  if (library.ok()) {
    if (example != ExampleFromEvent(*library)) {
      return ::testing::AssertionFailure() << "different Example for " << Printable(payload);
    }
    if (event_id != library->event_id) {
      return ::testing::AssertionFailure()
             << "event_id " << Printable(event_id) << " instead of " << Printable(library->event_id)
             << " for " << Printable(payload);
    }
    return ::testing::AssertionSuccess();
  }
  if (status.code() != library.status().code() || status.message() != library.status().message()) {
    return ::testing::AssertionFailure()
           << "DecodeExample: " << status.ToString() << "\nlibrary: " << library.status().ToString()
           << "\npayload: " << Printable(payload);
  }
  if (example != Untouched() || event_id != kUntouchedId) {
    return ::testing::AssertionFailure() << "outputs changed on error for " << Printable(payload);
  }
  return ::testing::AssertionSuccess();
}

bool TakesFastPath(std::string_view payload, const DecodeOptions& options = {}) {
  model::Example example;
  std::string event_id;
  return DecodeCanonicalExample(payload, options, &example, &event_id);
}

// --- Editing canonical payloads as text, so that the field order (and with it the fast
// path's scan) is kept. Enough for the sample events, whose strings hold no escaped quotes.

// [start, end) of the value of top-level `field` in `json`.
std::pair<size_t, size_t> ValueSpan(const std::string& json, const std::string& field) {
  const std::string key = "\"" + field + "\":";
  const size_t at = json.find(key);
  if (at == std::string::npos) throw std::invalid_argument(field + " not in " + json);
  const size_t start = at + key.size();
  size_t end = start;
  if (json[start] == '"') {
    end = json.find('"', start + 1) + 1;
  } else if (json[start] == '[') {
    end = json.find(']', start) + 1;
  } else {
    end = json.find_first_of(",}", start);
  }
  return {start, end};
}

// `json` with the value of `field` replaced by the JSON text `value`, in place.
std::string WithField(std::string json, const std::string& field, const std::string& value) {
  const auto [start, end] = ValueSpan(json, field);
  return json.replace(start, end - start, value);
}

// `json` without `field` (and its comma).
std::string WithoutField(std::string json, const std::string& field) {
  const size_t key = json.find("\"" + field + "\":");
  const size_t end = ValueSpan(json, field).second;
  if (json[end] == ',') return json.erase(key, end + 1 - key);
  return json.erase(key - 1, end - (key - 1));  // the last field: drop the comma before it
}

// `json` with `field` moved to the end (valid, but not the encoder's order).
std::string WithFieldLast(const std::string& json, const std::string& field) {
  const auto [start, end] = ValueSpan(json, field);
  std::string moved = WithoutField(json, field);
  moved.insert(moved.size() - 1, ",\"" + field + "\":" + json.substr(start, end - start));
  return moved;
}

// `text` with its first `from` replaced by `to`.
std::string Replace(std::string text, const std::string& from, const std::string& to) {
  const size_t at = text.find(from);
  if (at == std::string::npos) throw std::invalid_argument(from + " not in " + text);
  return text.replace(at, from.size(), to);
}

// Every property of the example schema, in the encoder's order.
const std::vector<std::string>& FieldNames() {
  static const std::vector<std::string> names = [] {
    const std::string all =
        "schema_version event_id t_dat customer_id article_id price sales_channel_id "
        "customer_known FN Active club_member_status fashion_news_frequency age postal_code "
        "recent_article_ids article_known product_code product_type_no product_group_name "
        "graphical_appearance_no colour_group_code perceived_colour_value_id "
        "perceived_colour_master_id department_no index_code index_group_no section_no "
        "garment_group_no";
    std::vector<std::string> split;
    for (size_t at = 0; at < all.size();) {
      const size_t space = std::min(all.find(' ', at), all.size());
      split.push_back(all.substr(at, space - at));
      at = space + 1;
    }
    return split;
  }();
  return names;
}

// --- Random valid events.

class RandomEvents {
 public:
  explicit RandomEvents(uint64_t seed) : rng_(seed) {}

  ExampleEvent Next(int max_recent_articles) {
    ExampleEvent e;
    e.event_id = OneIn(10) ? std::string(events::kMaxEventIdBytes, 'e') : Text(1, 32);
    hm::Transaction& t = e.transaction;
    t.t_dat = RandomDate();
    t.customer_id.resize(hm::kCustomerIdChars);
    for (char& c : t.customer_id) c = "0123456789abcdef"[Below(16)];
    t.article_id = RandomArticleId();
    t.price = RandomPrice();
    t.sales_channel_id = OneIn(2) ? 1 : 2;

    const uint64_t customer_kind = Below(20);
    if (customer_kind >= 5 || customer_kind == 0) {
      // Known, or (kind 0) marked unknown while carrying values: another producer's mistake
      // that both paths must map alike.
      e.customer.known = customer_kind != 0;
      e.customer.fn = RandomFlag();
      e.customer.active = RandomFlag();
      if (!OneIn(4)) {
        static const char* const kStatuses[] = {"ACTIVE", "PRE-CREATE", "LEFT CLUB"};
        e.customer.club_member_status = OneIn(4) ? Text(1, 12) : kStatuses[Below(3)];
      }
      if (!OneIn(4)) {
        e.customer.fashion_news_frequency = static_cast<hm::FashionNews>(Below(3));
      }
      if (!OneIn(4)) {
        e.customer.age = OneIn(10) ? (OneIn(2) ? 0 : 150) : 16 + static_cast<int32_t>(Below(80));
      }
      e.customer.postal_code = OneIn(10) ? "" : OneIn(4) ? Text(0, 70) : Hex(64);
    }

    const int recent =
        OneIn(4) ? max_recent_articles
                 : static_cast<int>(Below(static_cast<uint64_t>(max_recent_articles) + 1));
    for (int i = 0; i < recent; ++i) {
      // Repeats happen: people buy the same article twice.
      e.recent_article_ids.push_back(i > 0 && OneIn(8) ? e.recent_article_ids.back()
                                                       : RandomArticleId());
    }

    const uint64_t article_kind = Below(20);
    if (article_kind >= 5 || article_kind == 0) {
      events::ArticleFeatures& a = e.article;
      a.known = article_kind != 0;
      a.product_code =
          OneIn(20) ? std::numeric_limits<int64_t>::max() : static_cast<int64_t>(Below(1'000'000));
      a.product_type_no = Code();
      a.product_group_name = OneIn(3) ? "Garment Upper body" : Text(0, 24);
      a.graphical_appearance_no = Code();
      a.colour_group_code = Code();
      a.perceived_colour_value_id = Code();
      a.perceived_colour_master_id = Code();
      a.department_no = Code();
      a.index_code = OneIn(10) ? "" : std::string(1, static_cast<char>('A' + Below(26)));
      a.index_group_no = Code();
      a.section_no = Code();
      a.garment_group_no = Code();
    }
    return e;
  }

 private:
  uint64_t Below(uint64_t n) { return rng_() % n; }
  bool OneIn(uint64_t n) { return Below(n) == 0; }

  std::string Hex(int n) {
    std::string s;
    for (int i = 0; i < n; ++i) s += "0123456789abcdef"[Below(16)];
    return s;
  }

  // Mostly printable ASCII without quotes and backslashes (what the fast path takes); one
  // string in 16 also holds characters the encoder escapes (quotes, backslashes, control
  // characters), DEL, multi-byte UTF-8, and bytes that are not UTF-8 (written as U+FFFD).
  // At most 4 bytes per character once decoded, so 32 characters fit an event_id.
  std::string Text(int min_chars, int max_chars) {
    const int n =
        min_chars + static_cast<int>(Below(static_cast<uint64_t>(max_chars - min_chars + 1)));
    const bool special = OneIn(16);
    static const char* const kSpecial[] = {"\"",
                                           "\\",
                                           "\n",
                                           "\t",
                                           "\x01",
                                           "\x1f",
                                           "\x7f",
                                           "/",
                                           "\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x98\x80",
                                           "\xff"};
    std::string s;
    for (int i = 0; i < n; ++i) {
      if (special && OneIn(3)) {
        s += kSpecial[Below(std::size(kSpecial))];
      } else {
        char c;
        do {
          c = static_cast<char>(' ' + Below(95));
        } while (c == '"' || c == '\\');
        s += c;
      }
    }
    return s;
  }

  Date RandomDate() {
    if (OneIn(10)) {
      // Anywhere in the years Date formats as four digits, leap days included.
      const int32_t first = Date::FromCivil(1, 1, 1).days_since_epoch();
      const int32_t last = Date::FromCivil(9999, 12, 31).days_since_epoch();
      return Date(first + static_cast<int32_t>(Below(static_cast<uint64_t>(last - first + 1))));
    }
    if (OneIn(20)) return Date::FromCivil(2020, 2, 29);
    return Date::FromCivil(2018, 9, 20) + static_cast<int32_t>(Below(734));
  }

  hm::ArticleId RandomArticleId() {
    if (OneIn(20)) return OneIn(2) ? 0 : 9'999'999'999;
    return static_cast<hm::ArticleId>(Below(10'000'000'000ULL));
  }

  double RandomPrice() {
    switch (Below(8)) {
      case 0:
        return 0.050830508474576264;
      case 1:
        return static_cast<double>(Below(100) + 1);  // written as an integer
      case 2: {
        static const double kOdd[] = {1e-5,   1e21, 5e-324, std::numeric_limits<double>::max(),
                                      1e-300, 0.1,  1.5e-7, 123456789.125};
        return kOdd[Below(std::size(kOdd))];
      }
      case 3:
        return std::pow(10.0, std::uniform_real_distribution<double>(-300, 300)(rng_));
      default:
        return static_cast<double>(Below(500'000) + 1) / 1'180'000.0;  // Kaggle's scaling
    }
  }

  std::optional<float> RandomFlag() {
    switch (Below(3)) {
      case 0:
        return std::nullopt;
      case 1:
        return 0.0f;
      default:
        return 1.0f;
    }
  }

  int32_t Code() {
    switch (Below(8)) {
      case 0:
        return -1;  // Kaggle's "unknown"
      case 1:
        return OneIn(2) ? std::numeric_limits<int32_t>::min() : std::numeric_limits<int32_t>::max();
      default:
        return static_cast<int32_t>(Below(2'000'000));
    }
  }

  std::mt19937_64 rng_;
};

// Canonical payloads the fast path must take: no escapes and nothing but ASCII.
bool IsPlain(std::string_view payload) {
  for (const char c : payload) {
    if (c == '\\' || static_cast<unsigned char>(c) >= 0x80) return false;
  }
  return true;
}

void ExpectRandomEventsDecodeLikeLibrary(uint64_t seed, const DecodeOptions& options, int count) {
  RandomEvents random(seed);
  int fast = 0;
  for (int i = 0; i < count; ++i) {
    const ExampleEvent event = random.Next(options.max_recent_articles);
    const std::string payload = events::EncodeExampleEvent(event);
    ASSERT_TRUE(events::DecodeExampleEvent(payload, options).ok()) << Printable(payload);
    ASSERT_TRUE(SameAsLibrary(payload, options));
    if (IsPlain(payload)) {
      ASSERT_TRUE(TakesFastPath(payload, options)) << Printable(payload);
      ++fast;
    }
  }
  // The generator must keep exercising the fast path, not only the fallback.
  EXPECT_GT(fast, count / 2);
}

// --- The reference mapping.

TEST(ExampleFromEventTest, MapsKnownCustomerAndArticleWithTheModelsHelpers) {
  const ExampleEvent event = SampleExampleEvent();
  const model::Example example = ExampleFromEvent(event);
  EXPECT_EQ(example.article_id, 663713001);
  EXPECT_EQ(example.customer_key, 0x000058a12d5b43e6);  // the first 16 hex digits of the id
  EXPECT_EQ(example.day, Date::FromCivil(2018, 9, 20).days_since_epoch());
  EXPECT_EQ(example.sales_channel, 2);
  EXPECT_EQ(example.customer, model::CustomerCodesOf(events::testing::SampleCustomer()));
  EXPECT_EQ(example.article, model::ArticleCodesOf(events::testing::SampleArticle()));
  EXPECT_EQ(example.recent_article_ids, event.recent_article_ids);
}

TEST(ExampleFromEventTest, NullCustomerFeaturesAreMissingCodes) {
  ExampleEvent event = SampleExampleEvent();
  event.customer = events::CustomerFeaturesOf(events::testing::SampleCustomerWithNulls());
  const model::CustomerCodes codes = ExampleFromEvent(event).customer;
  EXPECT_TRUE(codes.known);
  EXPECT_FALSE(codes.age.has_value());
  EXPECT_EQ(codes.club_member_status, 0);
  EXPECT_EQ(codes.fashion_news_frequency, 0);
  EXPECT_EQ(codes.fn, 0);
  EXPECT_EQ(codes.active, 0);
  EXPECT_NE(codes.postal_code, 0);
}

TEST(ExampleFromEventTest, UnknownCustomerAndArticleHaveZeroCodes) {
  const model::Example example = ExampleFromEvent(SampleColdExampleEvent());
  EXPECT_EQ(example.customer, model::CustomerCodes{});
  EXPECT_EQ(example.article, model::ArticleCodes{});
  EXPECT_TRUE(example.recent_article_ids.empty());
}

TEST(ExampleFromEventTest, UnknownFlagWinsOverValuesAnotherProducerLeftIn) {
  ExampleEvent event = SampleExampleEvent();
  event.customer.known = false;
  event.article.known = false;
  const model::Example example = ExampleFromEvent(event);
  EXPECT_EQ(example.customer, model::CustomerCodes{});
  EXPECT_EQ(example.article, model::ArticleCodes{});
}

// --- Valid payloads.

TEST(ExampleDecoderTest, EncoderOutputTakesTheFastPath) {
  for (const ExampleEvent& event : {SampleExampleEvent(), SampleColdExampleEvent()}) {
    const std::string payload = events::EncodeExampleEvent(event);
    model::Example example;
    std::string event_id;
    ASSERT_TRUE(DecodeCanonicalExample(payload, {}, &example, &event_id)) << payload;
    EXPECT_EQ(example, ExampleFromEvent(event));
    EXPECT_EQ(event_id, event.event_id);
  }
}

TEST(ExampleDecoderTest, RandomEventsDecodeExactlyLikeTheLibrary) {
  ExpectRandomEventsDecodeLikeLibrary(/*seed=*/1, DecodeOptions{}, 4'000);
}

TEST(ExampleDecoderTest, RandomEventsWithLongerHistoryUnderALargerLimit) {
  ExpectRandomEventsDecodeLikeLibrary(/*seed=*/2, DecodeOptions{.max_recent_articles = 100}, 1'000);
}

TEST(ExampleDecoderTest, OutputsAreReusedAcrossCalls) {
  // A long history then a short one: the second must not keep ids of the first.
  model::Example example;
  std::string event_id;
  const ExampleEvent full = SampleExampleEvent();
  ExampleEvent cold = SampleColdExampleEvent();
  cold.event_id = "x";
  ASSERT_TRUE(DecodeExample(events::EncodeExampleEvent(full), {}, &example, &event_id).ok());
  ASSERT_TRUE(DecodeExample(events::EncodeExampleEvent(cold), {}, &example, &event_id).ok());
  EXPECT_EQ(example, ExampleFromEvent(cold));
  EXPECT_EQ(event_id, "x");
}

TEST(ExampleDecoderTest, OtherProducersFormattingFallsBackToTheLibrary) {
  const std::string canonical = events::EncodeExampleEvent(SampleExampleEvent());
  const std::vector<std::string> valid = {
      " " + canonical,
      canonical + "\n",
      Replace(canonical, ",", ", "),
      Replace(canonical, ":", " : "),
      Replace(canonical, "{", R"({"extra":{"nested":[1,2]},)"),
      Replace(canonical, "}", R"(,"extra":true})"),
      Replace(canonical, "}", R"(,"age":30})"),  // duplicate: the last one wins
      WithFieldLast(canonical, "schema_version"),
      WithFieldLast(canonical, "price"),
      WithFieldLast(canonical, "recent_article_ids"),
      WithField(canonical, "schema_version", "1.0"),
      WithField(canonical, "event_id", R"("c7e\u0078ce3")"),
      WithField(canonical, "event_id", R"("caf\u00e9")"),
      WithField(canonical, "event_id", "\"caf\xc3\xa9\""),
      WithField(canonical, "postal_code", R"("a\/b")"),
      WithField(canonical, "article_id", "663713001"),
      WithField(canonical, "article_id", "6.63713001e8"),
      WithField(canonical, "price", "5E-2"),
      WithField(canonical, "price", "0.0508e0"),
      WithField(canonical, "sales_channel_id", "2.0"),
      WithField(canonical, "FN", "1.0"),
      WithField(canonical, "FN", "-0"),
      WithField(canonical, "Active", "0.0"),
      WithField(canonical, "age", "24.0"),
      WithField(canonical, "age", "-0"),
      WithField(canonical, "fashion_news_frequency", R"("None")"),
      WithField(canonical, "fashion_news_frequency", R"("none")"),
      WithField(canonical, "recent_article_ids", R"([108775015,"0108775016"])"),
      WithField(canonical, "recent_article_ids", R"([ ])"),
      WithField(canonical, "product_code", "9223372036854775807"),
      WithField(canonical, "product_type_no", "-2147483648"),
      WithField(canonical, "product_type_no", "-0"),
      WithField(canonical, "department_no", "1676.0"),
      WithField(canonical, "department_no", "1.676e3"),
  };
  for (const std::string& payload : valid) {
    ASSERT_TRUE(events::DecodeExampleEvent(payload).ok()) << Printable(payload);
    EXPECT_TRUE(SameAsLibrary(payload));
  }
}

TEST(ExampleDecoderTest, FastPathAcceptsTheLibrarysOtherSpellingsItCanCheck) {
  // Unpadded article ids and "None" are the library's rules too, so the scan takes them.
  const std::string canonical = events::EncodeExampleEvent(SampleExampleEvent());
  for (const std::string& payload :
       {WithField(canonical, "article_id", R"("663713001")"),
        WithField(canonical, "recent_article_ids", R"(["1","0","9999999999"])"),
        WithField(canonical, "fashion_news_frequency", R"("None")")}) {
    EXPECT_TRUE(TakesFastPath(payload)) << payload;
    EXPECT_TRUE(SameAsLibrary(payload));
  }
}

TEST(ExampleDecoderTest, HonoursTheRecentArticleLimit) {
  const std::string payload = events::EncodeExampleEvent(SampleExampleEvent());  // 20 ids
  EXPECT_TRUE(TakesFastPath(payload, DecodeOptions{.max_recent_articles = 20}));
  EXPECT_FALSE(TakesFastPath(payload, DecodeOptions{.max_recent_articles = 19}));
  for (const int limit : {0, 1, 19, 20, 21}) {
    EXPECT_TRUE(SameAsLibrary(payload, DecodeOptions{.max_recent_articles = limit})) << limit;
  }
  const std::string cold = events::EncodeExampleEvent(SampleColdExampleEvent());  // no ids
  EXPECT_TRUE(TakesFastPath(cold, DecodeOptions{.max_recent_articles = 0}));
}

TEST(ExampleDecoderTest, HonoursThePayloadLimit) {
  const std::string payload = events::EncodeExampleEvent(SampleExampleEvent());
  EXPECT_TRUE(TakesFastPath(payload, DecodeOptions{.max_payload_bytes = payload.size()}));
  EXPECT_FALSE(TakesFastPath(payload, DecodeOptions{.max_payload_bytes = payload.size() - 1}));
  for (const size_t limit : {payload.size(), payload.size() - 1, size_t{1}}) {
    EXPECT_TRUE(SameAsLibrary(payload, DecodeOptions{.max_payload_bytes = limit})) << limit;
  }
}

// --- Invalid payloads: the library's error, exactly.

// The rows of the bad-event table in schemas/README.md, on an example.
TEST(ExampleDecoderTest, RejectsTheDocumentedBadEventsWithTheLibrarysErrors) {
  const std::string example = events::EncodeExampleEvent(SampleExampleEvent());
  const size_t bad_utf8_at = example.find(R"("event_id":")") + 12;
  struct Case {
    std::string name;
    std::string payload;
    events::DlqReason reason;
  };
  using R = events::DlqReason;
  const std::vector<Case> cases = {
      {"over the size limit",
       Replace(example, "}", ",\"padding\":\"" + std::string(70'000, 'x') + "\"}"), R::kTooLarge},
      {"not json", R"({"schema_version":1,"event_id")", R::kNotJson},
      {"empty payload", "", R::kNotJson},
      {"trailing garbage", example + "x", R::kNotJson},
      {"number beyond double", WithField(example, "price", "1e999"), R::kNotJson},
      {"not an object", "[1,2]", R::kNotJson},
      {"invalid utf-8 in a string", std::string(example).insert(bad_utf8_at, "\xC3\x28"),
       R::kInvalidUtf8},
      {"unknown schema version", WithField(example, "schema_version", "7"), R::kUnsupportedVersion},
      {"missing article id", WithoutField(example, "article_id"), R::kMissingField},
      {"price as string", WithField(example, "price", R"("abc")"), R::kInvalidField},
      {"negative price", WithField(example, "price", "-1.5"), R::kInvalidField},
      {"sales channel 3", WithField(example, "sales_channel_id", "3"), R::kInvalidField},
      {"impossible date", WithField(example, "t_dat", R"("2020-02-30")"), R::kInvalidField},
      {"short customer id", WithField(example, "customer_id", R"("abc")"), R::kInvalidField},
      {"null recent article", WithField(example, "recent_article_ids", R"(["0108775015",null])"),
       R::kInvalidField},
  };
  for (const Case& c : cases) {
    const Result<ExampleEvent> library = events::DecodeExampleEvent(c.payload);
    ASSERT_FALSE(library.ok()) << c.name;
    EXPECT_EQ(events::DecodeErrorReason(library.status()), c.reason) << c.name;
    EXPECT_TRUE(SameAsLibrary(c.payload)) << c.name;
  }
}

TEST(ExampleDecoderTest, EveryMissingFieldIsTheLibrarysError) {
  const std::string example = events::EncodeExampleEvent(SampleExampleEvent());
  ASSERT_EQ(FieldNames().size(), 28u);
  for (const std::string& field : FieldNames()) {
    const std::string payload = WithoutField(example, field);
    ASSERT_FALSE(events::DecodeExampleEvent(payload).ok()) << field;
    EXPECT_TRUE(SameAsLibrary(payload)) << field;
  }
}

// Every field set to values of every JSON type and to edge values of the domains; some are
// valid (null where nullable, a string where a string is expected): those must decode alike.
TEST(ExampleDecoderTest, EveryFieldWithWrongTypesAndEdgeValuesDecodesLikeTheLibrary) {
  const std::vector<std::string> values = {"null",
                                           "true",
                                           "false",
                                           "0",
                                           "1",
                                           "2",
                                           "-1",
                                           "-0",
                                           "0.5",
                                           "1.0",
                                           "1e2",
                                           "-1.5",
                                           "150",
                                           "151",
                                           "2147483647",
                                           "2147483648",
                                           "-2147483648",
                                           "-2147483649",
                                           "9223372036854775807",
                                           "9223372036854775808",
                                           "-9223372036854775808",
                                           "99999999999999999999",
                                           "01",
                                           "1.",
                                           ".5",
                                           "1e",
                                           "+1",
                                           "NaN",
                                           "Infinity",
                                           "1e-400",
                                           R"("")",
                                           R"("x")",
                                           R"("A")",
                                           R"("AB")",
                                           R"("a")",
                                           R"("1")",
                                           R"("NONE")",
                                           R"("Weekly")",
                                           R"("0108775015")",
                                           R"("10663713001")",
                                           R"("2020-02-29")",
                                           R"("2019-02-29")",
                                           R"("2020-9-1")",
                                           R"("0000-01-01")",
                                           "\"" + std::string(64, 'a') + "\"",
                                           "\"" + std::string(64, 'A') + "\"",
                                           "\"" + std::string(128, 'e') + "\"",
                                           "\"" + std::string(129, 'e') + "\"",
                                           "[]",
                                           R"(["1"])",
                                           "{}",
                                           R"("\u0041")",
                                           "\"\xC3\x28\"",
                                           "\"\x01\"",
                                           "nul",
                                           "tru",
                                           ""};
  const std::string example = events::EncodeExampleEvent(SampleExampleEvent());
  for (const std::string& field : FieldNames()) {
    for (const std::string& value : values) {
      const std::string payload = WithField(example, field, value);
      ASSERT_TRUE(SameAsLibrary(payload)) << field << " = " << value;
    }
  }
}

TEST(ExampleDecoderTest, BadRecentArticleListsAreTheLibrarysErrors) {
  const std::string example = events::EncodeExampleEvent(SampleExampleEvent());
  std::string too_many = "[";
  for (int i = 0; i <= events::kDefaultRecentArticles; ++i) {
    too_many += (i > 0 ? ",\"" : "\"") + std::to_string(i + 1) + "\"";
  }
  too_many += "]";
  for (const std::string& list :
       {too_many, std::string(R"("0108775015")"), std::string(R"(["0108775015",])"),
        std::string(R"([,"0108775015"])"), std::string(R"(["0108775015""0108775016"])"),
        std::string(R"(["01087750150"])"), std::string(R"([""])"), std::string(R"(["-1"])"),
        std::string(R"(["1x"])"), std::string(R"([-1])"), std::string(R"([1.5])"),
        std::string(R"([10000000000])"), std::string(R"([["1"]])"), std::string(R"([)"),
        std::string(R"(["1")")}) {
    EXPECT_TRUE(SameAsLibrary(WithField(example, "recent_article_ids", list))) << list;
  }
}

TEST(ExampleDecoderTest, TruncatedPayloadsAreTheLibrarysErrors) {
  for (const ExampleEvent& event : {SampleExampleEvent(), SampleColdExampleEvent()}) {
    const std::string payload = events::EncodeExampleEvent(event);
    for (size_t n = 0; n < payload.size(); ++n) {
      ASSERT_TRUE(SameAsLibrary(std::string_view(payload).substr(0, n))) << n;
    }
  }
}

// Each byte in turn replaced by characters that matter to JSON: most results are invalid,
// some are other valid examples (a digit for a digit); all must decode alike. Every position
// gets a digit and a quote, and four more of the set in turn: the library reports errors by
// C++ exceptions, slow under the sanitizers, so trying all of them everywhere takes too long.
TEST(ExampleDecoderTest, PayloadsWithOneByteChangedDecodeLikeTheLibrary) {
  const std::string others = std::string("195-.e\\,:{}[] \x01\x7fx") + '\xff' + '\0';
  constexpr size_t kOthersPerByte = 4;
  for (const ExampleEvent& event : {SampleExampleEvent(), SampleColdExampleEvent()}) {
    const std::string payload = events::EncodeExampleEvent(event);
    for (size_t i = 0; i < payload.size(); ++i) {
      std::string replacements = "0\"";
      for (size_t k = 0; k < kOthersPerByte; ++k) {
        replacements += others[(i * kOthersPerByte + k) % others.size()];
      }
      for (const char c : replacements) {
        if (payload[i] == c) continue;
        std::string changed = payload;
        changed[i] = c;
        ASSERT_TRUE(SameAsLibrary(changed)) << "byte " << i << " = " << static_cast<int>(c);
      }
    }
  }
}

}  // namespace
}  // namespace towerstream::trainer
