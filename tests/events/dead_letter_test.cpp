// Tests of dead-letter reasons and the dlq.* headers.
#include "common/events/dead_letter.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace towerstream::events {
namespace {

DeadLetter SampleDeadLetter() {
  return DeadLetter{.key = "000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318",
                    .payload = R"({"schema_version":1,"price":-1.5})",
                    .reason = DlqReason::kInvalidField,
                    .error = "field 'price': -1.5 is not > 0",
                    .source_topic = "hm.transactions",
                    .source_partition = 3,
                    .source_offset = 1234567890123};
}

TEST(DeadLetterTest, ReasonNamesAreStable) {
  const std::pair<DlqReason, std::string_view> expected[] = {
      {DlqReason::kNotJson, "not_json"},
      {DlqReason::kInvalidUtf8, "invalid_utf8"},
      {DlqReason::kTooLarge, "too_large"},
      {DlqReason::kUnsupportedVersion, "unsupported_version"},
      {DlqReason::kMissingField, "missing_field"},
      {DlqReason::kInvalidField, "invalid_field"},
      {DlqReason::kUnknownArticle, "unknown_article"}};
  ASSERT_EQ(std::size(expected), kAllDlqReasons.size());
  for (const auto& [reason, name] : expected) {
    EXPECT_EQ(DlqReasonName(reason), name);
    Result<DlqReason> parsed = ParseDlqReason(name);
    ASSERT_TRUE(parsed.ok()) << name;
    EXPECT_EQ(*parsed, reason) << name;
  }
}

TEST(DeadLetterTest, ParseRejectsUnknownReason) { EXPECT_FALSE(ParseDlqReason("bad_vibes").ok()); }

TEST(DeadLetterTest, HeadersCarryReasonAndSource) {
  const std::vector<Header> expected = {{"dlq.reason", "invalid_field"},
                                        {"dlq.source.topic", "hm.transactions"},
                                        {"dlq.source.partition", "3"},
                                        {"dlq.source.offset", "1234567890123"},
                                        {"dlq.error", "field 'price': -1.5 is not > 0"}};
  EXPECT_EQ(DeadLetterHeaders(SampleDeadLetter()), expected);
}

TEST(DeadLetterTest, HeadersOmitEmptyError) {
  DeadLetter letter = SampleDeadLetter();
  letter.error.clear();
  EXPECT_EQ(DeadLetterHeaders(letter).size(), 4u);
}

TEST(DeadLetterTest, RoundTripsThroughHeaders) {
  const DeadLetter letter = SampleDeadLetter();
  Result<DeadLetter> read = ReadDeadLetter(letter.key, letter.payload, DeadLetterHeaders(letter));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, letter);
}

TEST(DeadLetterTest, RoundTripsNullKeyAndBinaryPayload) {
  DeadLetter letter = SampleDeadLetter();
  letter.key.reset();
  letter.payload = std::string("\x00\xff\xc3\x28", 4);
  letter.reason = DlqReason::kInvalidUtf8;
  Result<DeadLetter> read = ReadDeadLetter(letter.key, letter.payload, DeadLetterHeaders(letter));
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, letter);
}

TEST(DeadLetterTest, ReadIgnoresForeignHeaders) {
  const DeadLetter letter = SampleDeadLetter();
  std::vector<Header> headers = DeadLetterHeaders(letter);
  headers.insert(headers.begin(), {"traceparent", "00-abc-def-01"});
  Result<DeadLetter> read = ReadDeadLetter(letter.key, letter.payload, headers);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_EQ(*read, letter);
}

TEST(DeadLetterTest, ReadRejectsMissingOrMalformedHeaders) {
  const DeadLetter letter = SampleDeadLetter();
  struct Case {
    std::string header;
    std::optional<std::string> value;  // nullopt: header removed
    std::string message;
  };
  const Case cases[] = {
      {"dlq.reason", std::nullopt, "header 'dlq.reason': missing"},
      {"dlq.source.topic", std::nullopt, "header 'dlq.source.topic': missing"},
      {"dlq.source.partition", std::nullopt, "header 'dlq.source.partition': missing"},
      {"dlq.source.offset", std::nullopt, "header 'dlq.source.offset': missing"},
      {"dlq.reason", "oops", "header 'dlq.reason': 'oops' is not a dead-letter reason"},
      {"dlq.source.topic", "", "header 'dlq.source.topic': empty"},
      {"dlq.source.partition", "-1",
       "header 'dlq.source.partition': '-1' is not a non-negative decimal integer"},
      {"dlq.source.offset", "12x",
       "header 'dlq.source.offset': '12x' is not a non-negative decimal integer"},
      {"dlq.source.partition", "99999999999",
       "header 'dlq.source.partition': '99999999999' is not a non-negative decimal integer"},
  };
  for (const Case& c : cases) {
    std::vector<Header> headers;
    for (const Header& h : DeadLetterHeaders(letter)) {
      if (h.first != c.header) {
        headers.push_back(h);
      } else if (c.value) {
        headers.emplace_back(h.first, *c.value);
      }
    }
    const Status status = ReadDeadLetter(letter.key, letter.payload, headers).status();
    EXPECT_EQ(status.message(), c.message) << c.header << "=" << c.value.value_or("(none)");
  }
}

TEST(DeadLetterTest, OtherErrorsClassifyAsInvalidField) {
  EXPECT_EQ(DecodeErrorReason(Status::Internal("boom")), DlqReason::kInvalidField);
}

}  // namespace
}  // namespace towerstream::events
