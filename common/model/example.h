// Training examples in the compact, string-free form the model reads, and the feature codes.
//
// An Example is what an hm.examples event (or the embedded enrichment) carries, with ids as
// integers and every string feature turned into an integer code: the towers reduce each code
// modulo their bucket count, and 0 always means "missing". Plain value types; the helpers are
// pure and thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "common/hm/records.h"
#include "common/model/two_tower.h"

namespace towerstream::model {

// The query-side features of a customer (as known at some moment), without the purchase.
struct CustomerCodes {
  bool known = false;          // false: no customer record; every code 0, age missing
  std::optional<int32_t> age;  // years
  int64_t club_member_status = 0;
  int64_t fashion_news_frequency = 0;
  int64_t fn = 0;
  int64_t active = 0;
  int64_t postal_code = 0;

  bool operator==(const CustomerCodes&) const = default;
};

// The item-side codes of an article, indexed by ItemCode (all 0 for an unknown article).
struct ArticleCodes {
  bool known = false;
  std::array<int64_t, kItemCodeCount> codes{};

  bool operator==(const ArticleCodes&) const = default;
};

// One purchase in context: row i of a batch is "this customer, with this history, at this
// time, bought this article".
struct Example {
  hm::ArticleId article_id = 0;
  int64_t customer_key = 0;   // CustomerKey(customer_id)
  int32_t day = 0;            // t_dat as days since 1970-01-01 (event time)
  int32_t sales_channel = 0;  // 1 store, 2 online, 0 unknown
  CustomerCodes customer;
  ArticleCodes article;
  // Articles the customer bought before, most recent last (the model uses the last
  // TwoTowerOptions::history_length of them).
  std::vector<hm::ArticleId> recent_article_ids;

  bool operator==(const Example&) const = default;
};

// A 64-bit key for a customer id: the first 16 hex digits of Kaggle's 64-hex SHA-256 ids (so
// keys are uniformly spread and, for 1.4M customers, collision-free in practice); any other
// string is hashed. Never kNoId (-1), which the embedding tables reserve for "no id": an id
// starting with 16 f's, whose digits would give -1, is hashed like other strings.
int64_t CustomerKey(std::string_view customer_id);

// A stable 64-bit hash of a string (FNV-1a with a final mix), never 0, for string features
// such as postal codes and product group names. The same on every platform and run.
int64_t StringCode(std::string_view text);

// Codes of the customer features (0 = missing): club status ACTIVE 1, PRE-CREATE 2,
// LEFT CLUB 3, other strings hashed; fashion news NONE 1, Regularly 2, Monthly 3; FN and
// Active 0.0 -> 1, 1.0 -> 2 (anything else non-null -> 3); postal codes hashed.
int64_t ClubMemberStatusCode(std::optional<std::string_view> status);
int64_t FashionNewsCode(std::optional<hm::FashionNews> news);
int64_t FlagCode(std::optional<float> flag);
int64_t PostalCode(std::string_view postal_code);

CustomerCodes CustomerCodesOf(const hm::Customer& customer);  // known = true
ArticleCodes ArticleCodesOf(const hm::Article& article);      // known = true

// The item codes from the fields an example carries (product_group_name and index_code
// hashed); ArticleCodesOf uses the same mapping.
ArticleCodes ArticleCodesFrom(int64_t product_code, int32_t product_type_no,
                              std::string_view product_group_name, int32_t graphical_appearance_no,
                              int32_t colour_group_code, int32_t perceived_colour_value_id,
                              int32_t perceived_colour_master_id, int32_t department_no,
                              std::string_view index_code, int32_t index_group_no,
                              int32_t section_no, int32_t garment_group_no);

}  // namespace towerstream::model
