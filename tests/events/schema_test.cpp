// Holds the encoders to schemas/*.schema.json: same fields, required lists and value types,
// so the schema files and the C++ code cannot drift apart.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "common/events/dead_letter.h"
#include "common/events/events.h"
#include "tests/events/sample_events.h"
#include "tests/events/schema_checker.h"

namespace towerstream::events {
namespace {

using nlohmann::json;
using testing::LoadSchema;
using testing::SchemaViolations;

struct SchemaCase {
  std::string schema;                  // file stem in schemas/
  std::vector<std::string> encodings;  // what the encoder writes, with and without nulls
};

std::vector<SchemaCase> EventSchemaCases() {
  return {
      {"transaction", {EncodeTransactionEvent(testing::SampleTransactionEvent())}},
      {"article", {EncodeArticleEvent(ArticleEvent{.article = testing::SampleArticle()})}},
      {"customer",
       {EncodeCustomerEvent(CustomerEvent{.customer = testing::SampleCustomer()}),
        EncodeCustomerEvent(CustomerEvent{.customer = testing::SampleCustomerWithNulls()})}},
      {"example",
       {EncodeExampleEvent(testing::SampleExampleEvent()),
        EncodeExampleEvent(testing::SampleColdExampleEvent())}},
  };
}

std::set<std::string> Keys(const json& object) {
  std::set<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.insert(key);
  return keys;
}

std::vector<std::string> KeysInOrder(const nlohmann::ordered_json& object) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : object.items()) keys.push_back(key);
  return keys;
}

std::set<std::string> Strings(const json& array) {
  std::set<std::string> strings;
  for (const json& s : array) strings.insert(s.get<std::string>());
  return strings;
}

TEST(SchemaTest, SchemasAreDraft202012Objects) {
  for (const std::string name : {"transaction", "article", "customer", "example", "dlq"}) {
    const json schema = LoadSchema(name);
    EXPECT_EQ(schema.at("$schema"), "https://json-schema.org/draft/2020-12/schema") << name;
    EXPECT_EQ(schema.at("type"), "object") << name;
    EXPECT_EQ(schema.at("title"), name) << name;
  }
}

TEST(SchemaTest, RequiredListsExactlyTheFieldsTheEncoderWrites) {
  for (const SchemaCase& c : EventSchemaCases()) {
    const json schema = LoadSchema(c.schema);
    for (const std::string& encoded : c.encodings) {
      EXPECT_EQ(Strings(schema.at("required")), Keys(json::parse(encoded)))
          << c.schema << ": " << encoded;
    }
  }
}

TEST(SchemaTest, PropertiesAreExactlyTheFieldsTheEncoderWrites) {
  for (const SchemaCase& c : EventSchemaCases()) {
    const json schema = LoadSchema(c.schema);
    for (const std::string& encoded : c.encodings) {
      EXPECT_EQ(Keys(schema.at("properties")), Keys(json::parse(encoded)))
          << c.schema << ": " << encoded;
    }
  }
}

// Not required by JSON, but it keeps messages readable next to the schema (kcat, logs).
TEST(SchemaTest, EncoderWritesFieldsInSchemaOrder) {
  for (const SchemaCase& c : EventSchemaCases()) {
    const auto schema =
        nlohmann::ordered_json::parse(std::ifstream("schemas/" + c.schema + ".schema.json"));
    const std::vector<std::string> schema_order = KeysInOrder(schema.at("properties"));
    for (const std::string& encoded : c.encodings) {
      EXPECT_EQ(KeysInOrder(nlohmann::ordered_json::parse(encoded)), schema_order) << c.schema;
    }
  }
}

TEST(SchemaTest, EncodedEventsConformToTheirSchema) {
  for (const SchemaCase& c : EventSchemaCases()) {
    const json schema = LoadSchema(c.schema);
    for (const std::string& encoded : c.encodings) {
      EXPECT_EQ(SchemaViolations(json::parse(encoded), schema, schema), std::vector<std::string>{})
          << c.schema << ": " << encoded;
    }
  }
}

TEST(SchemaTest, SchemaVersionConstIsTheCodesVersion) {
  for (const SchemaCase& c : EventSchemaCases()) {
    EXPECT_EQ(LoadSchema(c.schema).at("properties").at("schema_version").at("const"),
              kSchemaVersion)
        << c.schema;
  }
}

// The checker must be able to fail, or the tests above prove nothing.
TEST(SchemaTest, CheckerReportsEachKindOfViolation) {
  const json schema = LoadSchema("transaction");
  const json good = json::parse(EncodeTransactionEvent(testing::SampleTransactionEvent()));
  struct Case {
    std::string field;
    json value;  // null: field removed
    std::string violation;
  };
  const Case cases[] = {
      {"price", -1.5, "/price: -1.5 violates exclusiveMinimum 0"},
      {"price", "cheap", "/price: \"cheap\" is not of type \"number\""},
      {"sales_channel_id", 3, "/sales_channel_id: 3 is not one of [1,2]"},
      {"schema_version", 2, "/schema_version: 2 is not 1"},
      {"customer_id", "ABC", "/customer_id: \"ABC\" does not match \"^[0-9a-f]{64}$\""},
      {"article_id", 1e10, "/article_id: 10000000000.0 violates maximum 9999999999"},
      {"event_id", "", "/event_id: \"\" violates minLength 1"},
      {"t_dat", nullptr, "/: missing \"t_dat\""},
  };
  for (const Case& c : cases) {
    json bad = good;
    if (c.value.is_null()) {
      bad.erase(c.field);
    } else {
      bad[c.field] = c.value;
    }
    EXPECT_EQ(SchemaViolations(bad, schema, schema), std::vector<std::string>{c.violation})
        << bad.dump();
  }
}

TEST(SchemaTest, CheckerRejectsKeywordsItDoesNotSupport) {
  const json schema = json::parse(R"({"type":"object","minProperties":1})");
  EXPECT_EQ(SchemaViolations(json::object(), schema, schema),
            std::vector<std::string>{"/: unsupported keyword 'minProperties'"});
}

TEST(SchemaTest, DlqHeadersMatchTheCode) {
  const json headers = LoadSchema("dlq").at("properties").at("headers");
  EXPECT_EQ(Strings(headers.at("required")),
            (std::set<std::string>{
                std::string(kDlqReasonHeader), std::string(kDlqSourceTopicHeader),
                std::string(kDlqSourcePartitionHeader), std::string(kDlqSourceOffsetHeader)}));
  EXPECT_EQ(
      Keys(headers.at("properties")),
      (std::set<std::string>{std::string(kDlqReasonHeader), std::string(kDlqSourceTopicHeader),
                             std::string(kDlqSourcePartitionHeader),
                             std::string(kDlqSourceOffsetHeader), std::string(kDlqErrorHeader)}));
  std::set<std::string> reasons;
  for (DlqReason reason : kAllDlqReasons) reasons.insert(std::string(DlqReasonName(reason)));
  EXPECT_EQ(Strings(headers.at("properties").at(kDlqReasonHeader).at("enum")), reasons);
}

TEST(SchemaTest, DeadLettersConformToTheDlqSchema) {
  const json schema = LoadSchema("dlq");
  const std::optional<std::string> keys[] = {testing::kSampleCustomerId, std::nullopt};
  for (const std::optional<std::string>& key : keys) {
    const DeadLetter letter{.key = key,
                            .payload = R"({"schema_version":7})",
                            .reason = DlqReason::kUnsupportedVersion,
                            .error = "field 'schema_version': unsupported version 7",
                            .source_topic = std::string(kTransactionsTopic),
                            .source_partition = 0,
                            .source_offset = 42};
    json message = {{"key", key ? json(*key) : json(nullptr)},
                    {"payload", letter.payload},
                    {"headers", json::object()}};
    for (const auto& [name, value] : DeadLetterHeaders(letter)) message["headers"][name] = value;
    EXPECT_EQ(SchemaViolations(message, schema, schema), std::vector<std::string>{})
        << message.dump();
  }
}

}  // namespace
}  // namespace towerstream::events
