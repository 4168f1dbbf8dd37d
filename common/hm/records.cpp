// Parsing and formatting of H&M ids and codes declared in records.h.
#include "common/hm/records.h"

#include <array>

namespace towerstream::hm {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// A table instead of range tests: customer ids are random hex, so per-character branches
// would mispredict half the time (31.8M ids per full load).
constexpr std::array<bool, 256> kLowerHex = [] {
  std::array<bool, 256> table{};
  for (char c : std::string_view("0123456789abcdef")) table[static_cast<unsigned char>(c)] = true;
  return table;
}();

}  // namespace

Result<ArticleId> ParseArticleId(std::string_view text) {
  if (text.empty() || text.size() > static_cast<size_t>(kArticleIdDigits)) {
    return Status::InvalidArgument("article_id '" + std::string(text) + "' is not 1 to " +
                                   std::to_string(kArticleIdDigits) + " digits");
  }
  ArticleId id = 0;
  for (char c : text) {
    if (!IsDigit(c)) {
      return Status::InvalidArgument("article_id '" + std::string(text) +
                                     "' has a character that is not a digit");
    }
    id = id * 10 + (c - '0');
  }
  return id;
}

void FormatArticleId(ArticleId id, char* out) {
  for (int i = kArticleIdDigits - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + id % 10);
    id /= 10;
  }
}

std::string FormatArticleId(ArticleId id) {
  std::string out(kArticleIdDigits, '0');
  FormatArticleId(id, out.data());
  return out;
}

bool IsValidCustomerId(std::string_view text) {
  if (text.size() != static_cast<size_t>(kCustomerIdChars)) return false;
  bool valid = true;
  for (char c : text) valid &= kLowerHex[static_cast<unsigned char>(c)];
  return valid;
}

std::string_view FashionNewsName(FashionNews f) {
  switch (f) {
    case FashionNews::kNone:
      return "NONE";
    case FashionNews::kRegularly:
      return "Regularly";
    case FashionNews::kMonthly:
      return "Monthly";
  }
  return "NONE";
}

Result<FashionNews> ParseFashionNews(std::string_view text) {
  if (text == "NONE" || text == "None" || text == "none") return FashionNews::kNone;
  if (text == "Regularly") return FashionNews::kRegularly;
  if (text == "Monthly") return FashionNews::kMonthly;
  return Status::InvalidArgument("fashion_news_frequency '" + std::string(text) +
                                 "' is not one of NONE, None, Regularly, Monthly");
}

}  // namespace towerstream::hm
