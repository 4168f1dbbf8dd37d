// Tests that the canonical fast path decodes exactly like events::DecodeTransactionEvent.
#include "common/ingest/transaction_decoder.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "common/events/event_id.h"

namespace towerstream::ingest {
namespace {

events::TransactionEvent Sample() {
  events::TransactionEvent e;
  e.event_id = "c7e78ce3f7f6a8adee7a2bdc3f2c884c";
  e.transaction.t_dat = Date::FromCivil(2019, 3, 1);
  e.transaction.customer_id = "00000dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657";
  e.transaction.article_id = 108775015;
  e.transaction.price = 0.050830508474576264;
  e.transaction.sales_channel_id = 2;
  return e;
}

// Both decoders agree: the same event, or errors with the same message.
void ExpectSameAsLibrary(const std::string& json, const events::DecodeOptions& options = {}) {
  const Result<events::TransactionEvent> fast = DecodeTransaction(json, options);
  const Result<events::TransactionEvent> library = events::DecodeTransactionEvent(json, options);
  ASSERT_EQ(fast.ok(), library.ok()) << json << "\n"
                                     << fast.status().ToString() << "\n"
                                     << library.status().ToString();
  if (fast.ok()) {
    EXPECT_EQ(*fast, *library) << json;
  } else {
    EXPECT_EQ(fast.status().message(), library.status().message()) << json;
  }
}

TEST(TransactionDecoderTest, CanonicalEncodingsTakeTheFastPathAndRoundTrip) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> price(1e-6, 2.0);
  for (int i = 0; i < 5'000; ++i) {
    events::TransactionEvent e = Sample();
    e.event_id = events::MakeTransactionEventId("t.csv", i);
    e.transaction.t_dat = Date::FromCivil(2018, 9, 20) + static_cast<int32_t>(rng() % 800);
    e.transaction.article_id = static_cast<hm::ArticleId>(rng() % 10'000'000'000ULL);
    e.transaction.price = i % 10 == 0 ? static_cast<double>(rng() % 100 + 1) : price(rng);
    e.transaction.sales_channel_id = 1 + static_cast<int32_t>(rng() % 2);
    const std::string json = events::EncodeTransactionEvent(e);
    const std::optional<events::TransactionEvent> fast = DecodeCanonicalTransaction(json, {});
    ASSERT_TRUE(fast.has_value()) << json;
    EXPECT_EQ(*fast, e) << json;
    ExpectSameAsLibrary(json);
  }
}

TEST(TransactionDecoderTest, OtherInputsDecodeExactlyLikeTheLibrary) {
  const std::string canonical = events::EncodeTransactionEvent(Sample());
  auto replaced = [&](const std::string& from, const std::string& to) {
    std::string json = canonical;
    json.replace(json.find(from), from.size(), to);
    return json;
  };
  const std::vector<std::string> inputs = {
      canonical,
      " " + canonical,
      replaced(",", ", "),
      replaced("{", R"({"extra":true,)"),
      replaced(R"("schema_version":1)", R"("schema_version":2)"),
      replaced(R"("schema_version":1)", R"("schema_version":1.0)"),
      replaced("c7e78ce3", R"(c7e\u0078ce3)"),
      replaced("c7e78ce3f7f6a8adee7a2bdc3f2c884c", ""),
      replaced("c7e78ce3f7f6a8adee7a2bdc3f2c884c", std::string(129, 'x')),
      replaced("c7e78ce3f7f6a8adee7a2bdc3f2c884c", std::string(128, 'x')),
      replaced("c7e78ce3", "c7\xc3\xa9"),
      replaced("c7e78ce3", "c7\xff"),
      replaced("2019-03-01", "2019-02-30"),
      replaced("2019-03-01", "2019-3-1"),
      replaced("00000dba", "00000DBA"),
      replaced("\"0108775015\"", "108775015"),
      replaced("\"0108775015\"", "\"108775015\""),
      replaced("\"0108775015\"", "\"01087750150\""),
      replaced("\"0108775015\"", "\"01087a5015\""),
      replaced("0.050830508474576264", "5"),
      replaced("0.050830508474576264", "0"),
      replaced("0.050830508474576264", "-0.5"),
      replaced("0.050830508474576264", "-0"),
      replaced("0.050830508474576264", "05"),
      replaced("0.050830508474576264", "5."),
      replaced("0.050830508474576264", "5e-3"),
      replaced("0.050830508474576264", "1e999"),
      replaced("0.050830508474576264", "\"0.5\""),
      replaced("\"sales_channel_id\":2", "\"sales_channel_id\":2.0"),
      replaced("\"sales_channel_id\":2", "\"sales_channel_id\":3"),
      replaced("\"sales_channel_id\":2", "\"sales_channel_id\":1"),
      replaced("\"price\"", "\"cost\""),
      canonical.substr(0, canonical.size() - 1),
      canonical + "x",
      canonical + canonical,
      "[]",
      "",
  };
  for (const std::string& json : inputs) ExpectSameAsLibrary(json);
}

TEST(TransactionDecoderTest, OversizedPayloadIsTheLibrarysError) {
  events::DecodeOptions small;
  small.max_payload_bytes = 100;
  ExpectSameAsLibrary(events::EncodeTransactionEvent(Sample()), small);
  EXPECT_FALSE(DecodeCanonicalTransaction(events::EncodeTransactionEvent(Sample()), small));
}

}  // namespace
}  // namespace towerstream::ingest
