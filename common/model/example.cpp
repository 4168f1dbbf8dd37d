// Feature codes of examples: customer keys, string hashes and the code tables.
#include "common/model/example.h"

#include "common/base/hex.h"
#include "common/model/embedding_table.h"

namespace towerstream::model {
namespace {

// SplitMix64's finaliser: FNV-1a alone leaves short strings' low bits correlated, and the
// towers reduce codes modulo small bucket counts.
uint64_t Mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

int64_t StringCode(std::string_view text) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (const char c : text) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  const uint64_t mixed = Mix(h);
  // 0 means "missing" everywhere; positive so that modulo a bucket count stays readable.
  const auto code = static_cast<int64_t>(mixed >> 1);
  return code == 0 ? 1 : code;
}

int64_t CustomerKey(std::string_view customer_id) {
  constexpr size_t kDigits = 16;
  if (customer_id.size() >= kDigits) {
    uint64_t key = 0;
    bool hex = true;
    for (size_t i = 0; i < kDigits && hex; ++i) {
      const int v = HexDigitValue(customer_id[i]);
      hex = v >= 0;
      key = (key << 4) | static_cast<uint64_t>(v < 0 ? 0 : v);
    }
    if (hex && static_cast<int64_t>(key) != kNoId) return static_cast<int64_t>(key);
  }
  return StringCode(customer_id);
}

int64_t ClubMemberStatusCode(std::optional<std::string_view> status) {
  if (!status.has_value() || status->empty()) return 0;
  if (*status == "ACTIVE") return 1;
  if (*status == "PRE-CREATE") return 2;
  if (*status == "LEFT CLUB") return 3;
  return StringCode(*status);
}

int64_t FashionNewsCode(std::optional<hm::FashionNews> news) {
  if (!news.has_value()) return 0;
  switch (*news) {
    case hm::FashionNews::kNone:
      return 1;
    case hm::FashionNews::kRegularly:
      return 2;
    case hm::FashionNews::kMonthly:
      return 3;
  }
  return 0;
}

int64_t FlagCode(std::optional<float> flag) {
  if (!flag.has_value()) return 0;
  if (*flag == 0.0f) return 1;
  if (*flag == 1.0f) return 2;
  return 3;
}

int64_t PostalCode(std::string_view postal_code) {
  return postal_code.empty() ? 0 : StringCode(postal_code);
}

CustomerCodes CustomerCodesOf(const hm::Customer& customer) {
  CustomerCodes codes;
  codes.known = true;
  codes.age = customer.age;
  codes.club_member_status = ClubMemberStatusCode(customer.club_member_status);
  codes.fashion_news_frequency = FashionNewsCode(customer.fashion_news_frequency);
  codes.fn = FlagCode(customer.fn);
  codes.active = FlagCode(customer.active);
  codes.postal_code = PostalCode(customer.postal_code);
  return codes;
}

ArticleCodes ArticleCodesFrom(int64_t product_code, int32_t product_type_no,
                              std::string_view product_group_name, int32_t graphical_appearance_no,
                              int32_t colour_group_code, int32_t perceived_colour_value_id,
                              int32_t perceived_colour_master_id, int32_t department_no,
                              std::string_view index_code, int32_t index_group_no,
                              int32_t section_no, int32_t garment_group_no) {
  ArticleCodes a;
  a.known = true;
  a.codes[kProductCode] = product_code;
  a.codes[kProductType] = product_type_no;
  a.codes[kProductGroup] = product_group_name.empty() ? 0 : StringCode(product_group_name);
  a.codes[kGraphicalAppearance] = graphical_appearance_no;
  a.codes[kColourGroup] = colour_group_code;
  a.codes[kPerceivedColourValue] = perceived_colour_value_id;
  a.codes[kPerceivedColourMaster] = perceived_colour_master_id;
  a.codes[kDepartment] = department_no;
  // One letter A..J in Kaggle: its character code keeps the ten index codes distinct.
  a.codes[kIndex] = index_code.size() == 1 ? static_cast<unsigned char>(index_code[0])
                    : index_code.empty()   ? 0
                                           : StringCode(index_code);
  a.codes[kIndexGroup] = index_group_no;
  a.codes[kSection] = section_no;
  a.codes[kGarmentGroup] = garment_group_no;
  return a;
}

ArticleCodes ArticleCodesOf(const hm::Article& article) {
  return ArticleCodesFrom(article.product_code, article.product_type_no, article.product_group_name,
                          article.graphical_appearance_no, article.colour_group_code,
                          article.perceived_colour_value_id, article.perceived_colour_master_id,
                          article.department_no, article.index_code, article.index_group_no,
                          article.section_no, article.garment_group_no);
}

}  // namespace towerstream::model
