// Sample events built from real H&M rows (../shared/data/hm-real), for tests and benchmarks.
#pragma once

#include "common/base/date.h"
#include "common/events/events.h"
#include "common/hm/records.h"

namespace towerstream::events::testing {

inline constexpr char kSampleCustomerId[] =
    "000058a12d5b43e67d225668fa1f8d618c13dc232df0cad8ffe7ad4a1091e318";

// transactions_raw_1k.csv, first row.
inline TransactionEvent SampleTransactionEvent() {
  return TransactionEvent{.event_id = "0123456789abcdef0123456789abcdef",
                          .transaction = {.t_dat = Date::FromCivil(2018, 9, 20),
                                          .customer_id = kSampleCustomerId,
                                          .article_id = 663713001,
                                          .price = 0.050830508474576264,
                                          .sales_channel_id = 2}};
}

// articles_25col_1k.csv, first row.
inline hm::Article SampleArticle() {
  return hm::Article{.article_id = 108775015,
                     .product_code = 108775,
                     .prod_name = "Strap top",
                     .product_type_no = 253,
                     .product_type_name = "Vest top",
                     .product_group_name = "Garment Upper body",
                     .graphical_appearance_no = 1010016,
                     .graphical_appearance_name = "Solid",
                     .colour_group_code = 9,
                     .colour_group_name = "Black",
                     .perceived_colour_value_id = 4,
                     .perceived_colour_value_name = "Dark",
                     .perceived_colour_master_id = 5,
                     .perceived_colour_master_name = "Black",
                     .department_no = 1676,
                     .department_name = "Jersey Basic",
                     .index_code = "A",
                     .index_name = "Ladieswear",
                     .index_group_no = 1,
                     .index_group_name = "Ladieswear",
                     .section_no = 16,
                     .section_name = "Womens Everyday Basics",
                     .garment_group_no = 1002,
                     .garment_group_name = "Jersey Basic",
                     .detail_desc = "Jersey top with narrow shoulder straps."};
}

// A customer with every optional set (customers.csv holds such rows).
inline hm::Customer SampleCustomer() {
  return hm::Customer{
      .customer_id = kSampleCustomerId,
      .fn = 1.0f,
      .active = 1.0f,
      .club_member_status = "ACTIVE",
      .fashion_news_frequency = hm::FashionNews::kRegularly,
      .age = 24,
      .postal_code = "52043ee2162cf5aa7ee79974281641c6f11a68d276429a91f8ca0d4b6efa8100"};
}

// customers_raw_1k.csv style: empty FN, Active and age.
inline hm::Customer SampleCustomerWithNulls() {
  hm::Customer customer = SampleCustomer();
  customer.fn.reset();
  customer.active.reset();
  customer.club_member_status.reset();
  customer.fashion_news_frequency.reset();
  customer.age.reset();
  return customer;
}

// An example whose customer and article ingest had not seen: nulls, zeros, no history.
inline ExampleEvent SampleColdExampleEvent() {
  const TransactionEvent t = SampleTransactionEvent();
  ExampleEvent example;
  example.event_id = t.event_id;
  example.transaction = t.transaction;
  return example;
}

// An example with known customer and article and a full purchase history.
inline ExampleEvent SampleExampleEvent() {
  ExampleEvent example = SampleColdExampleEvent();
  example.customer = CustomerFeaturesOf(SampleCustomer());
  example.article = ArticleFeaturesOf(SampleArticle());
  for (int i = 0; i < kDefaultRecentArticles; ++i) {
    example.recent_article_ids.push_back(108775015 + i);
  }
  return example;
}

}  // namespace towerstream::events::testing
