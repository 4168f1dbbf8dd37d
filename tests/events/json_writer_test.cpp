// Tests of the encoders' JSON writer: escaping, UTF-8 repair and number formatting.
#include "common/events/json_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace towerstream::events::internal {
namespace {

std::string Quoted(std::string_view value) {
  std::string out;
  AppendJsonString(value, &out);
  return out;
}

std::string Hex(std::string_view bytes) {
  std::string out;
  for (unsigned char c : bytes) {
    out += "0123456789abcdef"[c >> 4];
    out += "0123456789abcdef"[c & 15];
  }
  return out;
}

TEST(JsonWriterTest, EscapesQuotesBackslashesAndControlCharacters) {
  const std::pair<std::string, std::string> cases[] = {
      {"plain", R"("plain")"},
      {"say \"hi\"", R"("say \"hi\"")"},
      {"a\\b", R"("a\\b")"},
      {"line\nbreak\r\ttab", R"("line\nbreak\r\ttab")"},
      {std::string("\b\f\x01\x1f", 4), R"("\b\f\u0001\u001f")"},
      {std::string("nul\0byte", 8), R"("nul\u0000byte")"},
      {"\x7f", "\"\x7f\""},  // DEL needs no escape
      {"", R"("")"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(Quoted(input), expected) << Hex(input);
  }
}

TEST(JsonWriterTest, KeepsWellFormedUtf8) {
  // 2-, 3- and 4-byte sequences at the edges of their ranges.
  const std::string inputs[] = {
      "caf\xC3\xA9",  "\xC2\x80",     "\xDF\xBF",         "\xE0\xA0\x80",     "\xED\x9F\xBF",
      "\xEE\x80\x80", "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF0\x9F\x98\x80", "\xF4\x8F\xBF\xBF"};
  for (const std::string& input : inputs) {
    EXPECT_EQ(Quoted(input), "\"" + input + "\"") << Hex(input);
  }
}

TEST(JsonWriterTest, ReplacesEachIllFormedByteWithReplacementCharacter) {
  const std::string r = "\xEF\xBF\xBD";
  const std::pair<std::string, std::string> cases[] = {
      {"\xC3\x28", r + "("},                // lead byte without continuation
      {"\x80", r},                          // lone continuation byte
      {"\xC0\x80", r + r},                  // overlong NUL
      {"\xE0\x80\x80", r + r + r},          // overlong 3-byte form
      {"\xED\xA0\x80", r + r + r},          // UTF-16 surrogate
      {"\xF4\x90\x80\x80", r + r + r + r},  // above U+10FFFF
      {"\xF5\x80", r + r},                  // never a lead byte
      {"ab\xE2\x82", "ab" + r + r},         // truncated at the end
      {"\xFF"
       "ok",
       r + "ok"},
  };
  for (const auto& [input, expected] : cases) {
    EXPECT_EQ(Quoted(input), "\"" + expected + "\"") << Hex(input);
  }
}

TEST(JsonWriterTest, OutputParsesBackToTheInputForValidText) {
  std::string all_ascii;
  for (int c = 0; c < 0x80; ++c) all_ascii.push_back(static_cast<char>(c));
  const std::string inputs[] = {all_ascii, "Jersey top \"Basic\", 2-pack\n", "\xF0\x9F\x98\x80 ok"};
  for (const std::string& input : inputs) {
    EXPECT_EQ(nlohmann::json::parse(Quoted(input)).get<std::string>(), input) << Hex(input);
  }
}

TEST(JsonWriterTest, WritesCompactObjectWithEveryValueKind) {
  ObjectWriter out;
  out.String("s", "x");
  out.Integer("i", -42);
  out.Number("d", 0.1);
  out.Bool("b", true);
  out.Null("n");
  out.ArticleId("a", 108775015);
  out.ArticleIds("ids", std::vector<hm::ArticleId>{7, 108775015});
  out.NullableString("os", std::nullopt);
  out.NullableInteger("oi", 49);
  out.NullableNumber("of", 1.0f);
  EXPECT_EQ(std::move(out).Finish(),
            R"({"s":"x","i":-42,"d":0.1,"b":true,"n":null,"a":"0108775015",)"
            R"("ids":["0000000007","0108775015"],"os":null,"oi":49,"of":1})");
}

TEST(JsonWriterTest, EmptyObjectAndArray) {
  EXPECT_EQ(ObjectWriter().Finish(), "{}");
  ObjectWriter out;
  out.ArticleIds("ids", {});
  EXPECT_EQ(std::move(out).Finish(), R"({"ids":[]})");
}

TEST(JsonWriterTest, NumbersReadBackExactly) {
  const double values[] = {0.050830508474576264,
                           0.0304915254237288,
                           1e-300,
                           1.7976931348623157e308,
                           -0.0,
                           123456789.0,
                           5e-324};
  for (double v : values) {
    ObjectWriter out;
    out.Number("v", v);
    const std::string text = std::move(out).Finish();
    EXPECT_EQ(nlohmann::json::parse(text)["v"].get<double>(), v) << text;
  }
}

TEST(JsonWriterTest, NonFiniteNumbersBecomeNull) {
  for (double v :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    ObjectWriter out;
    out.Number("v", v);
    EXPECT_EQ(std::move(out).Finish(), R"({"v":null})") << v;
  }
}

}  // namespace
}  // namespace towerstream::events::internal
