// JSON encoders and validating decoders of the towerstream events (schemas/ is the contract).
#include "common/events/events.h"

#include <utility>

#include "common/events/json_fields.h"
#include "common/events/json_writer.h"

namespace towerstream::events {
namespace {

using internal::FieldError;
using internal::FieldReader;
using internal::InField;
using internal::Json;
using internal::ObjectWriter;

// The age range customers.csv can plausibly hold; anything else is a corrupt row.
constexpr int32_t kMaxAge = 150;

// --- Field groups shared by several events. The templates take hm::Customer or
// CustomerFeatures (hm::Article or ArticleFeatures), whose members share names, so the event
// and the example cannot disagree on a rule.

void WriteTransaction(const hm::Transaction& t, ObjectWriter& out) {
  char date[10];  // YYYY-MM-DD
  t.t_dat.Format(date);
  out.String("t_dat", std::string_view(date, sizeof(date)));
  out.String("customer_id", t.customer_id);
  out.ArticleId("article_id", t.article_id);
  out.Number("price", t.price);
  out.Integer("sales_channel_id", t.sales_channel_id);
}

Status ReadCustomerId(FieldReader& fields, std::string* out) {
  TS_ASSIGN_OR_RETURN(*out, fields.ReadString("customer_id"));
  if (!hm::IsValidCustomerId(*out)) {
    return FieldError("customer_id",
                      internal::Describe(Json(*out)) + " is not 64 lowercase hex characters");
  }
  return Status::Ok();
}

Status ReadTransaction(FieldReader& fields, hm::Transaction* out) {
  TS_ASSIGN_OR_RETURN(out->t_dat, fields.ReadDate("t_dat"));
  TS_RETURN_IF_ERROR(ReadCustomerId(fields, &out->customer_id));
  TS_ASSIGN_OR_RETURN(out->article_id, fields.ReadArticleId("article_id"));
  TS_ASSIGN_OR_RETURN(Json * price, fields.Find("price"));
  TS_ASSIGN_OR_RETURN(out->price, InField("price", internal::NumberValue(*price)));
  if (!(out->price > 0)) return FieldError("price", internal::Describe(*price) + " is not > 0");
  TS_ASSIGN_OR_RETURN(out->sales_channel_id, fields.ReadInteger<int32_t>("sales_channel_id"));
  if (out->sales_channel_id != 1 && out->sales_channel_id != 2) {
    return FieldError("sales_channel_id", std::to_string(out->sales_channel_id) + " is not 1 or 2");
  }
  return Status::Ok();
}

Status ReadEventId(FieldReader& fields, std::string* out) {
  TS_ASSIGN_OR_RETURN(*out, fields.ReadString("event_id"));
  if (out->empty()) return FieldError("event_id", "empty");
  if (out->size() > kMaxEventIdBytes) {
    return FieldError("event_id", std::to_string(out->size()) + " bytes, over the limit of " +
                                      std::to_string(kMaxEventIdBytes));
  }
  return Status::Ok();
}

template <typename C>
void WriteCustomerFeatures(const C& c, ObjectWriter& out) {
  out.NullableNumber("FN", c.fn);
  out.NullableNumber("Active", c.active);
  out.NullableString("club_member_status", c.club_member_status);
  if (c.fashion_news_frequency) {
    out.String("fashion_news_frequency", hm::FashionNewsName(*c.fashion_news_frequency));
  } else {
    out.Null("fashion_news_frequency");
  }
  out.NullableInteger("age", c.age);
  out.String("postal_code", c.postal_code);
}

// FN and Active: Kaggle writes 1.0 or nothing; 0 is accepted for synthetic data.
Status ReadFlag(FieldReader& fields, std::string_view field, std::optional<float>* out) {
  TS_ASSIGN_OR_RETURN(Json * value, fields.FindNullable(field));
  if (value == nullptr) {
    out->reset();
    return Status::Ok();
  }
  TS_ASSIGN_OR_RETURN(double flag, InField(field, internal::NumberValue(*value)));
  if (flag != 0 && flag != 1) {
    return FieldError(field, internal::Describe(*value) + " is not 0, 1 or null");
  }
  *out = static_cast<float>(flag);
  return Status::Ok();
}

template <typename C>
Status ReadCustomerFeatures(FieldReader& fields, C* out) {
  TS_RETURN_IF_ERROR(ReadFlag(fields, "FN", &out->fn));
  TS_RETURN_IF_ERROR(ReadFlag(fields, "Active", &out->active));

  TS_ASSIGN_OR_RETURN(Json * club, fields.FindNullable("club_member_status"));
  out->club_member_status.reset();
  if (club != nullptr) {
    TS_ASSIGN_OR_RETURN(out->club_member_status,
                        InField("club_member_status", internal::StringValue(*club)));
    if (out->club_member_status->empty()) {
      return FieldError("club_member_status", "empty (use null when unknown)");
    }
  }

  TS_ASSIGN_OR_RETURN(Json * news, fields.FindNullable("fashion_news_frequency"));
  out->fashion_news_frequency.reset();
  if (news != nullptr) {
    if (!news->is_string()) {
      return FieldError("fashion_news_frequency",
                        std::string("expected string or null, got ") + news->type_name());
    }
    const std::string& text = news->get_ref<const std::string&>();
    // hm's message quotes the whole value: keep a long one out of it.
    constexpr size_t kLongestName = 9;  // "Regularly"
    if (text.size() > kLongestName) {
      return FieldError("fashion_news_frequency",
                        internal::Describe(*news) + " is not one of NONE, Regularly, Monthly");
    }
    Result<hm::FashionNews> parsed = hm::ParseFashionNews(text);
    if (!parsed.ok()) return parsed.status().WithContext("field 'fashion_news_frequency'");
    out->fashion_news_frequency = *parsed;
  }

  TS_ASSIGN_OR_RETURN(Json * age, fields.FindNullable("age"));
  out->age.reset();
  if (age != nullptr) {
    TS_ASSIGN_OR_RETURN(out->age,
                        InField("age", internal::IntegerValueOf<int32_t>(*age, 0, kMaxAge)));
  }

  TS_ASSIGN_OR_RETURN(out->postal_code, fields.ReadString("postal_code"));
  return Status::Ok();
}

// The example's article features, in the order of the example schema.
void WriteArticleFeatures(const ArticleFeatures& a, ObjectWriter& out) {
  out.Integer("product_code", a.product_code);
  out.Integer("product_type_no", a.product_type_no);
  out.String("product_group_name", a.product_group_name);
  out.Integer("graphical_appearance_no", a.graphical_appearance_no);
  out.Integer("colour_group_code", a.colour_group_code);
  out.Integer("perceived_colour_value_id", a.perceived_colour_value_id);
  out.Integer("perceived_colour_master_id", a.perceived_colour_master_id);
  out.Integer("department_no", a.department_no);
  out.String("index_code", a.index_code);
  out.Integer("index_group_no", a.index_group_no);
  out.Integer("section_no", a.section_no);
  out.Integer("garment_group_no", a.garment_group_no);
}

// index_code is one uppercase letter; an example about an unknown article leaves it empty.
Status CheckIndexCode(const std::string& code, bool allow_empty) {
  if (code.size() == 1 && code[0] >= 'A' && code[0] <= 'Z') return Status::Ok();
  if (code.empty() && allow_empty) return Status::Ok();
  return FieldError("index_code", internal::Describe(Json(code)) + " is not one letter A-Z");
}

template <typename A>
Status ReadArticleCodes(FieldReader& fields, bool allow_empty_index_code, A* out) {
  TS_ASSIGN_OR_RETURN(out->product_code, fields.ReadInteger<int64_t>("product_code", /*min=*/0));
  TS_ASSIGN_OR_RETURN(out->product_type_no, fields.ReadInteger<int32_t>("product_type_no"));
  TS_ASSIGN_OR_RETURN(out->product_group_name, fields.ReadString("product_group_name"));
  TS_ASSIGN_OR_RETURN(out->graphical_appearance_no,
                      fields.ReadInteger<int32_t>("graphical_appearance_no"));
  TS_ASSIGN_OR_RETURN(out->colour_group_code, fields.ReadInteger<int32_t>("colour_group_code"));
  TS_ASSIGN_OR_RETURN(out->perceived_colour_value_id,
                      fields.ReadInteger<int32_t>("perceived_colour_value_id"));
  TS_ASSIGN_OR_RETURN(out->perceived_colour_master_id,
                      fields.ReadInteger<int32_t>("perceived_colour_master_id"));
  TS_ASSIGN_OR_RETURN(out->department_no, fields.ReadInteger<int32_t>("department_no"));
  TS_ASSIGN_OR_RETURN(out->index_code, fields.ReadString("index_code"));
  TS_RETURN_IF_ERROR(CheckIndexCode(out->index_code, allow_empty_index_code));
  TS_ASSIGN_OR_RETURN(out->index_group_no, fields.ReadInteger<int32_t>("index_group_no"));
  TS_ASSIGN_OR_RETURN(out->section_no, fields.ReadInteger<int32_t>("section_no"));
  TS_ASSIGN_OR_RETURN(out->garment_group_no, fields.ReadInteger<int32_t>("garment_group_no"));
  return Status::Ok();
}

Status ReadRecentArticles(FieldReader& fields, int max_articles, std::vector<hm::ArticleId>* out) {
  constexpr std::string_view kField = "recent_article_ids";
  TS_ASSIGN_OR_RETURN(Json * list, fields.Find(kField));
  if (!list->is_array()) {
    return FieldError(kField, std::string("expected array, got ") + list->type_name());
  }
  if (list->size() > static_cast<size_t>(max_articles)) {
    return FieldError(kField, std::to_string(list->size()) + " articles, over the limit of " +
                                  std::to_string(max_articles));
  }
  out->clear();
  out->reserve(list->size());
  for (size_t i = 0; i < list->size(); ++i) {
    Result<hm::ArticleId> id = internal::ArticleIdValue((*list)[i]);
    if (!id.ok()) {
      return id.status().WithContext(
          internal::FieldContext(std::string(kField) + "[" + std::to_string(i) + "]"));
    }
    out->push_back(*id);
  }
  return Status::Ok();
}

}  // namespace

CustomerFeatures CustomerFeaturesOf(const hm::Customer& customer) {
  return CustomerFeatures{.known = true,
                          .fn = customer.fn,
                          .active = customer.active,
                          .club_member_status = customer.club_member_status,
                          .fashion_news_frequency = customer.fashion_news_frequency,
                          .age = customer.age,
                          .postal_code = customer.postal_code};
}

ArticleFeatures ArticleFeaturesOf(const hm::Article& article) {
  return ArticleFeatures{.known = true,
                         .product_code = article.product_code,
                         .product_type_no = article.product_type_no,
                         .product_group_name = article.product_group_name,
                         .graphical_appearance_no = article.graphical_appearance_no,
                         .colour_group_code = article.colour_group_code,
                         .perceived_colour_value_id = article.perceived_colour_value_id,
                         .perceived_colour_master_id = article.perceived_colour_master_id,
                         .department_no = article.department_no,
                         .index_code = article.index_code,
                         .index_group_no = article.index_group_no,
                         .section_no = article.section_no,
                         .garment_group_no = article.garment_group_no};
}

Status DecodeOptions::Validate() const {
  if (max_payload_bytes == 0) {
    return Status::InvalidArgument("max_payload_bytes: must be > 0");
  }
  if (max_recent_articles < 0) {
    return Status::InvalidArgument("max_recent_articles: " + std::to_string(max_recent_articles) +
                                   " is negative");
  }
  return Status::Ok();
}

// Buffer sizes: a little above the typical encoded size, so the string never regrows.
constexpr size_t kTransactionBytes = 256;
constexpr size_t kArticleBytes = 1024;
constexpr size_t kCustomerBytes = 320;
constexpr size_t kExampleBytes = 1200;

std::string EncodeTransactionEvent(const TransactionEvent& event) {
  ObjectWriter out(kTransactionBytes);
  out.Integer("schema_version", event.schema_version);
  out.String("event_id", event.event_id);
  WriteTransaction(event.transaction, out);
  return std::move(out).Finish();
}

std::string EncodeArticleEvent(const ArticleEvent& event) {
  const hm::Article& a = event.article;
  ObjectWriter out(kArticleBytes);
  out.Integer("schema_version", event.schema_version);
  out.ArticleId("article_id", a.article_id);
  out.Integer("product_code", a.product_code);
  out.String("prod_name", a.prod_name);
  out.Integer("product_type_no", a.product_type_no);
  out.String("product_type_name", a.product_type_name);
  out.String("product_group_name", a.product_group_name);
  out.Integer("graphical_appearance_no", a.graphical_appearance_no);
  out.String("graphical_appearance_name", a.graphical_appearance_name);
  out.Integer("colour_group_code", a.colour_group_code);
  out.String("colour_group_name", a.colour_group_name);
  out.Integer("perceived_colour_value_id", a.perceived_colour_value_id);
  out.String("perceived_colour_value_name", a.perceived_colour_value_name);
  out.Integer("perceived_colour_master_id", a.perceived_colour_master_id);
  out.String("perceived_colour_master_name", a.perceived_colour_master_name);
  out.Integer("department_no", a.department_no);
  out.String("department_name", a.department_name);
  out.String("index_code", a.index_code);
  out.String("index_name", a.index_name);
  out.Integer("index_group_no", a.index_group_no);
  out.String("index_group_name", a.index_group_name);
  out.Integer("section_no", a.section_no);
  out.String("section_name", a.section_name);
  out.Integer("garment_group_no", a.garment_group_no);
  out.String("garment_group_name", a.garment_group_name);
  out.String("detail_desc", a.detail_desc);
  return std::move(out).Finish();
}

std::string EncodeCustomerEvent(const CustomerEvent& event) {
  ObjectWriter out(kCustomerBytes);
  out.Integer("schema_version", event.schema_version);
  out.String("customer_id", event.customer.customer_id);
  WriteCustomerFeatures(event.customer, out);
  return std::move(out).Finish();
}

std::string EncodeExampleEvent(const ExampleEvent& event) {
  ObjectWriter out(kExampleBytes);
  out.Integer("schema_version", event.schema_version);
  out.String("event_id", event.event_id);
  WriteTransaction(event.transaction, out);
  out.Bool("customer_known", event.customer.known);
  WriteCustomerFeatures(event.customer, out);
  out.ArticleIds("recent_article_ids", event.recent_article_ids);
  out.Bool("article_known", event.article.known);
  WriteArticleFeatures(event.article, out);
  return std::move(out).Finish();
}

Result<TransactionEvent> DecodeTransactionEvent(std::string_view json,
                                                const DecodeOptions& options) {
  TS_ASSIGN_OR_RETURN(Json document, internal::ParseEvent(json, options));
  FieldReader fields(document);
  TransactionEvent event;
  TS_RETURN_IF_ERROR(ReadEventId(fields, &event.event_id));
  TS_RETURN_IF_ERROR(ReadTransaction(fields, &event.transaction));
  return event;
}

Result<ArticleEvent> DecodeArticleEvent(std::string_view json, const DecodeOptions& options) {
  TS_ASSIGN_OR_RETURN(Json document, internal::ParseEvent(json, options));
  FieldReader fields(document);
  ArticleEvent event;
  hm::Article& a = event.article;
  TS_ASSIGN_OR_RETURN(a.article_id, fields.ReadArticleId("article_id"));
  TS_RETURN_IF_ERROR(ReadArticleCodes(fields, /*allow_empty_index_code=*/false, &a));
  TS_ASSIGN_OR_RETURN(a.prod_name, fields.ReadString("prod_name"));
  TS_ASSIGN_OR_RETURN(a.product_type_name, fields.ReadString("product_type_name"));
  TS_ASSIGN_OR_RETURN(a.graphical_appearance_name, fields.ReadString("graphical_appearance_name"));
  TS_ASSIGN_OR_RETURN(a.colour_group_name, fields.ReadString("colour_group_name"));
  TS_ASSIGN_OR_RETURN(a.perceived_colour_value_name,
                      fields.ReadString("perceived_colour_value_name"));
  TS_ASSIGN_OR_RETURN(a.perceived_colour_master_name,
                      fields.ReadString("perceived_colour_master_name"));
  TS_ASSIGN_OR_RETURN(a.department_name, fields.ReadString("department_name"));
  TS_ASSIGN_OR_RETURN(a.index_name, fields.ReadString("index_name"));
  TS_ASSIGN_OR_RETURN(a.index_group_name, fields.ReadString("index_group_name"));
  TS_ASSIGN_OR_RETURN(a.section_name, fields.ReadString("section_name"));
  TS_ASSIGN_OR_RETURN(a.garment_group_name, fields.ReadString("garment_group_name"));
  TS_ASSIGN_OR_RETURN(a.detail_desc, fields.ReadString("detail_desc"));
  return event;
}

Result<CustomerEvent> DecodeCustomerEvent(std::string_view json, const DecodeOptions& options) {
  TS_ASSIGN_OR_RETURN(Json document, internal::ParseEvent(json, options));
  FieldReader fields(document);
  CustomerEvent event;
  TS_RETURN_IF_ERROR(ReadCustomerId(fields, &event.customer.customer_id));
  TS_RETURN_IF_ERROR(ReadCustomerFeatures(fields, &event.customer));
  return event;
}

Result<ExampleEvent> DecodeExampleEvent(std::string_view json, const DecodeOptions& options) {
  TS_ASSIGN_OR_RETURN(Json document, internal::ParseEvent(json, options));
  FieldReader fields(document);
  ExampleEvent event;
  TS_RETURN_IF_ERROR(ReadEventId(fields, &event.event_id));
  TS_RETURN_IF_ERROR(ReadTransaction(fields, &event.transaction));
  TS_ASSIGN_OR_RETURN(event.customer.known, fields.ReadBool("customer_known"));
  TS_RETURN_IF_ERROR(ReadCustomerFeatures(fields, &event.customer));
  TS_RETURN_IF_ERROR(
      ReadRecentArticles(fields, options.max_recent_articles, &event.recent_article_ids));
  TS_ASSIGN_OR_RETURN(event.article.known, fields.ReadBool("article_known"));
  TS_RETURN_IF_ERROR(ReadArticleCodes(fields, /*allow_empty_index_code=*/true, &event.article));
  return event;
}

std::string EventKey(const TransactionEvent& event) { return event.transaction.customer_id; }
std::string EventKey(const ArticleEvent& event) {
  return hm::FormatArticleId(event.article.article_id);
}
std::string EventKey(const CustomerEvent& event) { return event.customer.customer_id; }
std::string EventKey(const ExampleEvent& event) { return event.transaction.customer_id; }

TopicNames TopicNames::WithPrefix(std::string_view prefix) {
  const auto name = [prefix](std::string_view topic) {
    return std::string(prefix) + std::string(topic);
  };
  return TopicNames{.articles = name(kArticlesTopic),
                    .customers = name(kCustomersTopic),
                    .transactions = name(kTransactionsTopic),
                    .examples = name(kExamplesTopic),
                    .dlq = name(kDlqTopic)};
}

}  // namespace towerstream::events
