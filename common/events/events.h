// Events on the towerstream topics and their JSON codecs; schemas/*.schema.json is the contract.
//
// The event types are plain values. The Encode/Decode functions are pure and thread-safe; an
// encoder writes compact JSON in the documented format, a decoder validates every field and
// returns InvalidArgument naming the field and the problem ("field 'price': -1.5 is not > 0").
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/hm/records.h"

namespace towerstream::events {

// Topic names (docs/design.md §3).
inline constexpr std::string_view kArticlesTopic = "hm.articles";
inline constexpr std::string_view kCustomersTopic = "hm.customers";
inline constexpr std::string_view kTransactionsTopic = "hm.transactions";
inline constexpr std::string_view kExamplesTopic = "hm.examples";
inline constexpr std::string_view kDlqTopic = "hm.dlq";

// The five topic names with an optional prefix in front: empty in production; tests and
// benchmarks give each run its own prefix so that runs can share one broker.
struct TopicNames {
  std::string articles;
  std::string customers;
  std::string transactions;
  std::string examples;
  std::string dlq;

  static TopicNames WithPrefix(std::string_view prefix);
};

// The version encoders write; decoders accept only the versions they know (just this one so
// far), so a producer running ahead of its consumers dead-letters instead of being misread.
inline constexpr int32_t kSchemaVersion = 1;

// How many recent purchases ingest puts in an example by default.
inline constexpr int kDefaultRecentArticles = 20;

// Longest event_id accepted: ids are 32 hex characters here, the slack is for other producers.
inline constexpr size_t kMaxEventIdBytes = 128;

struct TransactionEvent {
  int32_t schema_version = kSchemaVersion;
  std::string event_id;  // unique and stable per source row: see MakeTransactionEventId()
  hm::Transaction transaction;

  bool operator==(const TransactionEvent&) const = default;
};

struct ArticleEvent {
  int32_t schema_version = kSchemaVersion;
  hm::Article article;

  bool operator==(const ArticleEvent&) const = default;
};

struct CustomerEvent {
  int32_t schema_version = kSchemaVersion;
  hm::Customer customer;

  bool operator==(const CustomerEvent&) const = default;
};

// The customer's features in an example: hm::Customer without the id (the transaction has it).
struct CustomerFeatures {
  bool known = false;  // false: ingest had no record; then all optionals are null, postal "".
  std::optional<float> fn;
  std::optional<float> active;
  std::optional<std::string> club_member_status;
  std::optional<hm::FashionNews> fashion_news_frequency;
  std::optional<int32_t> age;
  std::string postal_code;

  bool operator==(const CustomerFeatures&) const = default;
};

// The article's features in an example: the codes of hm::Article the item tower uses.
struct ArticleFeatures {
  bool known = false;  // false: ingest had no record; then codes are 0 and strings empty.
  int64_t product_code = 0;
  int32_t product_type_no = 0;
  std::string product_group_name;
  int32_t graphical_appearance_no = 0;
  int32_t colour_group_code = 0;
  int32_t perceived_colour_value_id = 0;
  int32_t perceived_colour_master_id = 0;
  int32_t department_no = 0;
  std::string index_code;  // one letter, or empty when unknown
  int32_t index_group_no = 0;
  int32_t section_no = 0;
  int32_t garment_group_no = 0;

  bool operator==(const ArticleFeatures&) const = default;
};

// A training example: what ingest writes to hm.examples for each transaction.
struct ExampleEvent {
  int32_t schema_version = kSchemaVersion;
  std::string event_id;  // the transaction's
  hm::Transaction transaction;
  CustomerFeatures customer;  // as of the purchase
  // Articles the customer bought before this purchase, most recent last.
  std::vector<hm::ArticleId> recent_article_ids;
  ArticleFeatures article;

  bool operator==(const ExampleEvent&) const = default;
};

CustomerFeatures CustomerFeaturesOf(const hm::Customer& customer);  // known = true
ArticleFeatures ArticleFeaturesOf(const hm::Article& article);      // known = true

// Limits a decoder enforces. Callers check Validate() once (e.g. at startup); the decode
// functions assume valid options.
struct DecodeOptions {
  // Larger payloads are rejected before parsing, which bounds the memory and time a bad or
  // hostile message can cost.
  size_t max_payload_bytes = 64 * 1024;
  // Longest `recent_article_ids` accepted in an example; must be at least the N ingest writes.
  int max_recent_articles = kDefaultRecentArticles;

  Status Validate() const;
};

// Encoders write compact JSON: article ids as 10 zero-padded digits, dates as YYYY-MM-DD,
// null for missing optionals. Invalid UTF-8 in a string field is replaced by U+FFFD, so
// encoding never fails. The schema_version written is the event's.
std::string EncodeTransactionEvent(const TransactionEvent& event);
std::string EncodeArticleEvent(const ArticleEvent& event);
std::string EncodeCustomerEvent(const CustomerEvent& event);
std::string EncodeExampleEvent(const ExampleEvent& event);

// Decoders reject oversized payloads, non-JSON, invalid UTF-8, non-objects, unsupported
// schema versions and missing or invalid fields; unknown fields are ignored (forward
// compatibility). Article ids may be 1..10 digit strings or integers.
Result<TransactionEvent> DecodeTransactionEvent(std::string_view json,
                                                const DecodeOptions& options = {});
Result<ArticleEvent> DecodeArticleEvent(std::string_view json, const DecodeOptions& options = {});
Result<CustomerEvent> DecodeCustomerEvent(std::string_view json, const DecodeOptions& options = {});
Result<ExampleEvent> DecodeExampleEvent(std::string_view json, const DecodeOptions& options = {});

// Kafka message keys: article_id (10 digits) on hm.articles, customer_id on the other topics,
// so one customer's events stay in order within one partition.
std::string EventKey(const TransactionEvent& event);
std::string EventKey(const ArticleEvent& event);
std::string EventKey(const CustomerEvent& event);
std::string EventKey(const ExampleEvent& event);

}  // namespace towerstream::events
