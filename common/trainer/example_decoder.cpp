// Example decoding: a direct scan of the canonical encoding, the library decoder otherwise.
//
// The library builds an nlohmann::json document per message (about 8 us for a 1 KB example),
// more than a trainer reading 100k+ examples/s can spend, while nearly every message is exactly
// what the encoder writes. The scan accepts only what it can check completely: other field
// orders, unknown or duplicate fields, whitespace, escapes, non-ASCII (UTF-8 validation stays
// the library's), numbers in other forms and every invalid value fall back to the library.
#include "common/trainer/example_decoder.h"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/base/date.h"
#include "common/hm/records.h"

namespace towerstream::trainer {
namespace {

// Views of the values an Example is computed from, taken from an event or straight from a
// payload, so that both paths go through one mapping (FillExample).
struct ExampleFields {
  std::string_view event_id;
  Date t_dat;
  std::string_view customer_id;
  hm::ArticleId article_id = 0;
  int32_t sales_channel_id = 0;
  bool customer_known = false;
  std::optional<float> fn;
  std::optional<float> active;
  std::optional<std::string_view> club_member_status;
  std::optional<hm::FashionNews> fashion_news_frequency;
  std::optional<int32_t> age;
  std::string_view postal_code;
  bool article_known = false;
  int64_t product_code = 0;
  int32_t product_type_no = 0;
  std::string_view product_group_name;
  int32_t graphical_appearance_no = 0;
  int32_t colour_group_code = 0;
  int32_t perceived_colour_value_id = 0;
  int32_t perceived_colour_master_id = 0;
  int32_t department_no = 0;
  std::string_view index_code;
  int32_t index_group_no = 0;
  int32_t section_no = 0;
  int32_t garment_group_no = 0;
};

// Everything but recent_article_ids, which the two paths hold differently.
void FillExample(const ExampleFields& f, model::Example* out) {
  out->article_id = f.article_id;
  out->customer_key = model::CustomerKey(f.customer_id);
  out->day = f.t_dat.days_since_epoch();
  out->sales_channel = f.sales_channel_id;

  model::CustomerCodes& c = out->customer;
  c = model::CustomerCodes{};
  if (f.customer_known) {
    c.known = true;
    c.age = f.age;
    c.club_member_status = model::ClubMemberStatusCode(f.club_member_status);
    c.fashion_news_frequency = model::FashionNewsCode(f.fashion_news_frequency);
    c.fn = model::FlagCode(f.fn);
    c.active = model::FlagCode(f.active);
    c.postal_code = model::PostalCode(f.postal_code);
  }

  out->article =
      f.article_known
          ? model::ArticleCodesFrom(
                f.product_code, f.product_type_no, f.product_group_name, f.graphical_appearance_no,
                f.colour_group_code, f.perceived_colour_value_id, f.perceived_colour_master_id,
                f.department_no, f.index_code, f.index_group_no, f.section_no, f.garment_group_no)
          : model::ArticleCodes{};
}

ExampleFields FieldsOf(const events::ExampleEvent& event) {
  const hm::Transaction& t = event.transaction;
  const events::CustomerFeatures& c = event.customer;
  const events::ArticleFeatures& a = event.article;
  ExampleFields f;
  f.event_id = event.event_id;
  f.t_dat = t.t_dat;
  f.customer_id = t.customer_id;
  f.article_id = t.article_id;
  f.sales_channel_id = t.sales_channel_id;
  f.customer_known = c.known;
  f.fn = c.fn;
  f.active = c.active;
  if (c.club_member_status) f.club_member_status = *c.club_member_status;
  f.fashion_news_frequency = c.fashion_news_frequency;
  f.age = c.age;
  f.postal_code = c.postal_code;
  f.article_known = a.known;
  f.product_code = a.product_code;
  f.product_type_no = a.product_type_no;
  f.product_group_name = a.product_group_name;
  f.graphical_appearance_no = a.graphical_appearance_no;
  f.colour_group_code = a.colour_group_code;
  f.perceived_colour_value_id = a.perceived_colour_value_id;
  f.perceived_colour_master_id = a.perceived_colour_master_id;
  f.department_no = a.department_no;
  f.index_code = a.index_code;
  f.index_group_no = a.index_group_no;
  f.section_no = a.section_no;
  f.garment_group_no = a.garment_group_no;
  return f;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Reads one canonical payload front to back. Each reader consumes what it accepts and returns
// false on anything it does not fully understand; the caller then gives up on the fast path,
// so a reader may leave the position anywhere after a failure.
class Scanner {
 public:
  explicit Scanner(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

  const char* position() const { return p_; }
  bool AtEnd() const { return p_ == end_; }

  bool Literal(std::string_view literal) {
    if (static_cast<size_t>(end_ - p_) < literal.size() ||
        std::memcmp(p_, literal.data(), literal.size()) != 0) {
      return false;
    }
    p_ += literal.size();
    return true;
  }

  // A string without escapes whose bytes are all ASCII (so valid UTF-8 as it stands, and its
  // value is its text); escapes and non-ASCII are left to the library.
  bool String(std::string_view* out) {
    if (p_ == end_ || *p_ != '"') return false;
    const char* start = ++p_;
    for (; p_ != end_; ++p_) {
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        *out = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20 || c == '\\' || c >= 0x80) return false;
    }
    return false;
  }

  bool NullableString(std::optional<std::string_view>* out) {
    if (Literal("null")) {
      out->reset();
      return true;
    }
    std::string_view text;
    if (!String(&text)) return false;
    *out = text;
    return true;
  }

  bool Bool(bool* out) {
    if (Literal("true")) {
      *out = true;
    } else if (Literal("false")) {
      *out = false;
    } else {
      return false;
    }
    return true;
  }

  // An integer as the encoder writes it: -?(0|[1-9][0-9]*), at most 19 digits, no "-0", and
  // within [min, max]. The caller's next Literal rejects a fraction or exponent after it.
  bool Integer(int64_t min, int64_t max, int64_t* out) {
    const bool negative = p_ != end_ && *p_ == '-';
    if (negative) ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    constexpr int kMaxDigits = 19;  // 10^19 - 1 still fits in uint64_t
    uint64_t magnitude = 0;
    int digits = 0;
    if (*p_ == '0') {
      ++p_;
      if (negative) return false;
    } else {
      while (p_ != end_ && IsDigit(*p_)) {
        if (++digits > kMaxDigits) return false;
        magnitude = magnitude * 10 + static_cast<uint64_t>(*p_ - '0');
        ++p_;
      }
    }
    constexpr auto kMaxMagnitude = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    int64_t value;
    if (negative) {
      if (magnitude > kMaxMagnitude + 1) return false;
      value = magnitude == kMaxMagnitude + 1 ? std::numeric_limits<int64_t>::min()
                                             : -static_cast<int64_t>(magnitude);
    } else {
      if (magnitude > kMaxMagnitude) return false;
      value = static_cast<int64_t>(magnitude);
    }
    if (value < min || value > max) return false;
    *out = value;
    return true;
  }

  template <typename Int>
  bool IntegerOf(Int* out, Int min = std::numeric_limits<Int>::min(),
                 Int max = std::numeric_limits<Int>::max()) {
    int64_t value;
    if (!Integer(min, max, &value)) return false;
    *out = static_cast<Int>(value);
    return true;
  }

  // A number in RFC 8259's grammar, -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, read as the
  // nearest double (as strtod, which the library's parser uses, reads it). Overflow and
  // underflow to zero are left to the library.
  bool Number(double* out) {
    const char* start = p_;
    if (p_ != end_ && *p_ == '-') ++p_;
    if (p_ == end_ || !IsDigit(*p_)) return false;
    if (*p_ == '0') {
      ++p_;
    } else {
      SkipDigits();
    }
    if (p_ != end_ && *p_ == '.') {
      ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      SkipDigits();
    }
    if (p_ != end_ && (*p_ == 'e' || *p_ == 'E')) {
      ++p_;
      if (p_ != end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || !IsDigit(*p_)) return false;
      SkipDigits();
    }
    const auto [end, error] = std::from_chars(start, p_, *out);
    return error == std::errc() && end == p_;
  }

  // FN and Active as the encoder writes them: null, 0 or 1.
  bool Flag(std::optional<float>* out) {
    if (Literal("null")) {
      out->reset();
    } else if (Literal("0")) {
      *out = 0.0f;
    } else if (Literal("1")) {
      *out = 1.0f;
    } else {
      return false;
    }
    return true;
  }

 private:
  void SkipDigits() {
    while (p_ != end_ && IsDigit(*p_)) ++p_;
  }

  const char* p_;
  const char* end_;
};

// A string article id by the library's rule: hm::ParseArticleId (1 to 10 digits).
bool ArticleIdOf(std::string_view text, hm::ArticleId* out) {
  if (text.size() > static_cast<size_t>(hm::kArticleIdDigits)) return false;
  Result<hm::ArticleId> id = hm::ParseArticleId(text);
  if (!id.ok()) return false;
  *out = *id;
  return true;
}

// Scans `payload` into *f, and where recent_article_ids' elements start and how many there are
// (all checked), with the library's rules, in the order EncodeExampleEvent writes the fields;
// false on any difference.
bool ScanCanonical(std::string_view payload, const events::DecodeOptions& options, ExampleFields* f,
                   const char** recent_ids, int* recent_count) {
  if (payload.size() > options.max_payload_bytes) return false;
  Scanner in(payload);

  if (!in.Literal(R"({"schema_version":1,"event_id":)") || !in.String(&f->event_id) ||
      f->event_id.empty() || f->event_id.size() > events::kMaxEventIdBytes) {
    return false;
  }

  std::string_view text;
  if (!in.Literal(R"(,"t_dat":)") || !in.String(&text) || text.size() != 10) return false;
  Result<Date> t_dat = Date::Parse(text);
  if (!t_dat.ok()) return false;
  f->t_dat = *t_dat;

  if (!in.Literal(R"(,"customer_id":)") || !in.String(&f->customer_id) ||
      !hm::IsValidCustomerId(f->customer_id)) {
    return false;
  }

  if (!in.Literal(R"(,"article_id":)") || !in.String(&text) || !ArticleIdOf(text, &f->article_id)) {
    return false;
  }

  double price;
  if (!in.Literal(R"(,"price":)") || !in.Number(&price) || !(price > 0)) return false;

  if (!in.Literal(R"(,"sales_channel_id":)") ||
      !in.IntegerOf<int32_t>(&f->sales_channel_id, 1, 2)) {
    return false;
  }

  if (!in.Literal(R"(,"customer_known":)") || !in.Bool(&f->customer_known)) return false;
  if (!in.Literal(R"(,"FN":)") || !in.Flag(&f->fn)) return false;
  if (!in.Literal(R"(,"Active":)") || !in.Flag(&f->active)) return false;
  if (!in.Literal(R"(,"club_member_status":)") || !in.NullableString(&f->club_member_status) ||
      (f->club_member_status && f->club_member_status->empty())) {
    return false;
  }

  std::optional<std::string_view> news;
  if (!in.Literal(R"(,"fashion_news_frequency":)") || !in.NullableString(&news)) return false;
  f->fashion_news_frequency.reset();
  if (news) {
    Result<hm::FashionNews> parsed = hm::ParseFashionNews(*news);
    if (!parsed.ok()) return false;
    f->fashion_news_frequency = *parsed;
  }

  if (!in.Literal(R"(,"age":)")) return false;
  f->age.reset();
  if (!in.Literal("null")) {
    constexpr int32_t kMaxAge = 150;  // the library's bound
    int32_t age;
    if (!in.IntegerOf<int32_t>(&age, 0, kMaxAge)) return false;
    f->age = age;
  }

  if (!in.Literal(R"(,"postal_code":)") || !in.String(&f->postal_code)) return false;

  if (!in.Literal(R"(,"recent_article_ids":[)")) return false;
  *recent_ids = in.position();
  *recent_count = 0;
  if (!in.Literal("]")) {
    do {
      hm::ArticleId id;  // read again by ReadCheckedArticleIds once the whole payload passed
      if (!in.String(&text) || !ArticleIdOf(text, &id)) return false;
      if (++*recent_count > options.max_recent_articles) return false;
    } while (in.Literal(","));
    if (!in.Literal("]")) return false;
  }

  if (!in.Literal(R"(,"article_known":)") || !in.Bool(&f->article_known)) return false;
  if (!in.Literal(R"(,"product_code":)") || !in.IntegerOf<int64_t>(&f->product_code, /*min=*/0)) {
    return false;
  }
  if (!in.Literal(R"(,"product_type_no":)") || !in.IntegerOf(&f->product_type_no)) return false;
  if (!in.Literal(R"(,"product_group_name":)") || !in.String(&f->product_group_name)) {
    return false;
  }
  if (!in.Literal(R"(,"graphical_appearance_no":)") || !in.IntegerOf(&f->graphical_appearance_no) ||
      !in.Literal(R"(,"colour_group_code":)") || !in.IntegerOf(&f->colour_group_code) ||
      !in.Literal(R"(,"perceived_colour_value_id":)") ||
      !in.IntegerOf(&f->perceived_colour_value_id) ||
      !in.Literal(R"(,"perceived_colour_master_id":)") ||
      !in.IntegerOf(&f->perceived_colour_master_id) || !in.Literal(R"(,"department_no":)") ||
      !in.IntegerOf(&f->department_no)) {
    return false;
  }
  // One uppercase letter, or empty (an unknown article).
  if (!in.Literal(R"(,"index_code":)") || !in.String(&f->index_code) ||
      !(f->index_code.empty() ||
        (f->index_code.size() == 1 && f->index_code[0] >= 'A' && f->index_code[0] <= 'Z'))) {
    return false;
  }
  return in.Literal(R"(,"index_group_no":)") && in.IntegerOf(&f->index_group_no) &&
         in.Literal(R"(,"section_no":)") && in.IntegerOf(&f->section_no) &&
         in.Literal(R"(,"garment_group_no":)") && in.IntegerOf(&f->garment_group_no) &&
         in.Literal("}") && in.AtEnd();
}

// Reads `count` article ids that ScanCanonical has checked: "<digits>" separated by commas.
void ReadCheckedArticleIds(const char* p, int count, std::vector<hm::ArticleId>* out) {
  out->clear();
  out->reserve(static_cast<size_t>(count));
  for (int i = 0; i < count; ++i) {
    ++p;  // opening quote
    hm::ArticleId id = 0;
    for (; *p != '"'; ++p) id = id * 10 + (*p - '0');
    p += 2;  // closing quote, then ',' or ']'
    out->push_back(id);
  }
}

}  // namespace

model::Example ExampleFromEvent(const events::ExampleEvent& event) {
  model::Example example;
  FillExample(FieldsOf(event), &example);
  example.recent_article_ids = event.recent_article_ids;
  return example;
}

bool DecodeCanonicalExample(std::string_view payload, const events::DecodeOptions& options,
                            model::Example* example, std::string* event_id) {
  ExampleFields fields;
  const char* recent_ids = nullptr;
  int recent_count = 0;
  if (!ScanCanonical(payload, options, &fields, &recent_ids, &recent_count)) return false;
  // Only now that the whole payload has passed, so that a rejected one leaves them untouched.
  FillExample(fields, example);
  ReadCheckedArticleIds(recent_ids, recent_count, &example->recent_article_ids);
  event_id->assign(fields.event_id);
  return true;
}

Status DecodeExample(std::string_view payload, const events::DecodeOptions& options,
                     model::Example* example, std::string* event_id) {
  if (DecodeCanonicalExample(payload, options, example, event_id)) return Status::Ok();
  TS_ASSIGN_OR_RETURN(events::ExampleEvent event, events::DecodeExampleEvent(payload, options));
  FillExample(FieldsOf(event), example);
  example->recent_article_ids.assign(event.recent_article_ids.begin(),
                                     event.recent_article_ids.end());
  *event_id = std::move(event.event_id);
  return Status::Ok();
}

}  // namespace towerstream::trainer
