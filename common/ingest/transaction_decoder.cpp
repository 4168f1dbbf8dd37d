// Transaction decoding: a direct scan of the canonical encoding, the library decoder otherwise.
#include "common/ingest/transaction_decoder.h"

#include <charconv>

namespace towerstream::ingest {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads one canonical message front to back; any surprise makes it give up.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : text_(text) {}

  bool Literal(std::string_view literal) {
    if (!text_.starts_with(literal)) return false;
    text_.remove_prefix(literal.size());
    return true;
  }

  // A string of printable ASCII without escapes (so valid UTF-8 as it stands), up to the
  // closing quote, which is consumed.
  std::optional<std::string_view> PlainString() {
    for (size_t i = 0; i < text_.size(); ++i) {
      const char c = text_[i];
      if (c == '"') {
        const std::string_view value = text_.substr(0, i);
        text_.remove_prefix(i + 1);
        return value;
      }
      if (c < 0x20 || c > 0x7e || c == '\\') return std::nullopt;
    }
    return std::nullopt;
  }

  // The characters up to the next ',' or '}' (not consumed).
  std::string_view Token() {
    size_t i = 0;
    while (i < text_.size() && text_[i] != ',' && text_[i] != '}') ++i;
    const std::string_view token = text_.substr(0, i);
    text_.remove_prefix(i);
    return token;
  }

  bool AtEnd() const { return text_.empty(); }

 private:
  std::string_view text_;
};

// RFC 8259's number grammar: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
bool IsJsonNumber(std::string_view t) {
  size_t i = 0;
  const size_t n = t.size();
  if (i < n && t[i] == '-') ++i;
  if (i == n) return false;
  if (t[i] == '0') {
    ++i;
  } else if (IsDigit(t[i])) {
    while (i < n && IsDigit(t[i])) ++i;
  } else {
    return false;
  }
  if (i < n && t[i] == '.') {
    ++i;
    if (i == n || !IsDigit(t[i])) return false;
    while (i < n && IsDigit(t[i])) ++i;
  }
  if (i < n && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < n && (t[i] == '+' || t[i] == '-')) ++i;
    if (i == n || !IsDigit(t[i])) return false;
    while (i < n && IsDigit(t[i])) ++i;
  }
  return i == n;
}

}  // namespace

std::optional<events::TransactionEvent> DecodeCanonicalTransaction(
    std::string_view json, const events::DecodeOptions& options) {
  if (json.size() > options.max_payload_bytes) return std::nullopt;
  Scanner in(json);
  events::TransactionEvent event;
  hm::Transaction& t = event.transaction;

  if (!in.Literal(R"({"schema_version":1,"event_id":")")) return std::nullopt;
  const std::optional<std::string_view> id = in.PlainString();
  if (!id || id->empty() || id->size() > events::kMaxEventIdBytes) return std::nullopt;

  if (!in.Literal(R"(,"t_dat":")")) return std::nullopt;
  const std::optional<std::string_view> date = in.PlainString();
  if (!date || date->size() != 10) return std::nullopt;
  Result<Date> t_dat = Date::Parse(*date);
  if (!t_dat.ok()) return std::nullopt;

  if (!in.Literal(R"(,"customer_id":")")) return std::nullopt;
  const std::optional<std::string_view> customer = in.PlainString();
  if (!customer || !hm::IsValidCustomerId(*customer)) return std::nullopt;

  if (!in.Literal(R"(,"article_id":")")) return std::nullopt;
  const std::optional<std::string_view> article = in.PlainString();
  if (!article || article->size() > static_cast<size_t>(hm::kArticleIdDigits)) return std::nullopt;
  Result<hm::ArticleId> article_id = hm::ParseArticleId(*article);
  if (!article_id.ok()) return std::nullopt;

  if (!in.Literal(R"(,"price":)")) return std::nullopt;
  const std::string_view price = in.Token();
  if (!IsJsonNumber(price)) return std::nullopt;
  const auto [end, error] = std::from_chars(price.data(), price.data() + price.size(), t.price);
  if (error != std::errc() || end != price.data() + price.size() || !(t.price > 0)) {
    return std::nullopt;
  }

  if (!in.Literal(R"(,"sales_channel_id":)")) return std::nullopt;
  const std::string_view channel = in.Token();
  if (channel != "1" && channel != "2") return std::nullopt;
  if (!in.Literal("}") || !in.AtEnd()) return std::nullopt;

  event.event_id.assign(*id);
  t.t_dat = *t_dat;
  t.customer_id.assign(*customer);
  t.article_id = *article_id;
  t.sales_channel_id = channel[0] - '0';
  return event;
}

Result<events::TransactionEvent> DecodeTransaction(std::string_view json,
                                                   const events::DecodeOptions& options) {
  if (std::optional<events::TransactionEvent> event = DecodeCanonicalTransaction(json, options)) {
    return *std::move(event);
  }
  return events::DecodeTransactionEvent(json, options);
}

}  // namespace towerstream::ingest
