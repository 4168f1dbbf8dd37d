// Typed rows of the three H&M Kaggle files, shared by the CSV readers, the generator and
// the event codecs. Plain value types; no invariants beyond those the readers check.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/base/date.h"
#include "common/base/status.h"

namespace towerstream::hm {

// Kaggle writes article ids as 10 zero-padded digits ("0108775015"); re-saved files drop the
// leading zero ("108775015"). Both denote the same article, so ids are kept as integers and
// formatted padded.
using ArticleId = int64_t;
inline constexpr int kArticleIdDigits = 10;

// Accepts 1..10 ASCII digits (leading zeros optional). Anything else is an error naming
// the value.
Result<ArticleId> ParseArticleId(std::string_view text);
std::string FormatArticleId(ArticleId id);  // always 10 digits
// Writes exactly 10 characters to `out`.
void FormatArticleId(ArticleId id, char* out);

// Customer ids are 64 lowercase hex characters (a SHA-256 of the real id).
inline constexpr int kCustomerIdChars = 64;
bool IsValidCustomerId(std::string_view text);

// The exact header lines of the Kaggle files (no line terminator).
inline constexpr std::string_view kArticlesHeader =
    "article_id,product_code,prod_name,product_type_no,product_type_name,product_group_name,"
    "graphical_appearance_no,graphical_appearance_name,colour_group_code,colour_group_name,"
    "perceived_colour_value_id,perceived_colour_value_name,perceived_colour_master_id,"
    "perceived_colour_master_name,department_no,department_name,index_code,index_name,"
    "index_group_no,index_group_name,section_no,section_name,garment_group_no,"
    "garment_group_name,detail_desc";
inline constexpr std::string_view kCustomersHeader =
    "customer_id,FN,Active,club_member_status,fashion_news_frequency,age,postal_code";
inline constexpr std::string_view kTransactionsHeader =
    "t_dat,customer_id,article_id,price,sales_channel_id";

inline constexpr int kArticleColumns = 25;
inline constexpr int kCustomerColumns = 7;
inline constexpr int kTransactionColumns = 5;

struct Article {
  ArticleId article_id = 0;
  int64_t product_code = 0;  // shared by the colour variants of one product
  std::string prod_name;
  int32_t product_type_no = 0;
  std::string product_type_name;
  std::string product_group_name;
  int32_t graphical_appearance_no = 0;
  std::string graphical_appearance_name;
  int32_t colour_group_code = 0;
  std::string colour_group_name;
  int32_t perceived_colour_value_id = 0;
  std::string perceived_colour_value_name;
  int32_t perceived_colour_master_id = 0;
  std::string perceived_colour_master_name;
  int32_t department_no = 0;
  std::string department_name;
  std::string index_code;  // one letter, "A".."J"
  std::string index_name;
  int32_t index_group_no = 0;
  std::string index_group_name;
  int32_t section_no = 0;
  std::string section_name;
  int32_t garment_group_no = 0;
  std::string garment_group_name;
  std::string detail_desc;  // may be empty

  bool operator==(const Article&) const = default;
};

// `fashion_news_frequency` after normalisation: Kaggle mixes "NONE" and "None", and leaves
// some empty (unknown).
enum class FashionNews { kNone, kRegularly, kMonthly };
std::string_view FashionNewsName(FashionNews f);  // "NONE", "Regularly", "Monthly"
// "NONE"/"None"/"none" -> kNone, "Regularly", "Monthly"; anything else is an error.
Result<FashionNews> ParseFashionNews(std::string_view text);

struct Customer {
  std::string customer_id;                            // 64 hex
  std::optional<float> fn;                            // FN: 1.0 or empty
  std::optional<float> active;                        // Active: 1.0 or empty
  std::optional<std::string> club_member_status;      // ACTIVE, PRE-CREATE, LEFT CLUB, or empty
  std::optional<FashionNews> fashion_news_frequency;  // empty -> nullopt
  std::optional<int32_t> age;                         // "49" and "49.0" alike; empty -> nullopt
  std::string postal_code;                            // 64 hex in Kaggle; kept as an opaque string

  bool operator==(const Customer&) const = default;
};

struct Transaction {
  Date t_dat;
  std::string customer_id;
  ArticleId article_id = 0;
  double price = 0;              // scaled by Kaggle (a price of 59 SEK is ~0.0508)
  int32_t sales_channel_id = 0;  // 1 (store) or 2 (online)

  bool operator==(const Transaction&) const = default;
};

}  // namespace towerstream::hm
