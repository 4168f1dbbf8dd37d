// Tests of the Enricher: examples, histories and the missing-entity policies, without Kafka.
#include "common/ingest/enricher.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/testing/temp_dir.h"

namespace towerstream::ingest {
namespace {

using Kind = EnrichOutcome::Kind;

constexpr char kCustomerA[] = "aaaa0dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657";
constexpr char kCustomerB[] = "bbbb0dbacae5abe5e23885899a1fa44253a17956c6d1c3d25f88aa139fdfc657";
constexpr hm::ArticleId kKnownArticle = 108775015;
constexpr hm::ArticleId kOtherArticle = 108775044;
constexpr hm::ArticleId kUnknownArticle = 999999999;

class EnricherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    features::FeatureStoreOptions options;
    options.path = (dir_.path() / "db").string();
    options.sync_writes = false;
    Result<std::unique_ptr<features::FeatureStore>> store = features::FeatureStore::Open(options);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    store_ = std::move(store).value();
    features::FeatureBatch batch;
    for (hm::ArticleId id : {kKnownArticle, kOtherArticle}) {
      events::ArticleFeatures a;
      a.known = true;
      a.product_code = id / 1000;
      a.product_group_name = "Garment Upper body";
      a.index_code = "A";
      batch.PutArticle(id, a);
    }
    events::CustomerFeatures c;
    c.known = true;
    c.age = 30;
    c.postal_code = "p";
    batch.PutCustomer(Key(kCustomerA), c);
    ASSERT_TRUE(store_->Write(&batch).ok());
  }

  static features::CustomerKey Key(const char* id) { return *features::CustomerKeyFromId(id); }

  static EnrichInput Input(const char* customer, hm::ArticleId article, int64_t offset,
                           EnrichInput::Kind kind = EnrichInput::Kind::kNew) {
    EnrichInput in;
    in.kind = kind;
    in.position = {0, offset};
    in.event.event_id = "e" + std::to_string(offset);
    in.event.transaction.t_dat = Date::FromCivil(2020, 1, 2);
    in.event.transaction.customer_id = customer;
    in.event.transaction.article_id = article;
    in.event.transaction.price = 0.05;
    in.event.transaction.sales_channel_id = 2;
    in.customer = Key(customer);
    return in;
  }

  std::vector<EnrichOutcome> Enrich(const EnricherOptions& options,
                                    const std::vector<EnrichInput>& inputs, int64_t now_ms = 0) {
    Enricher enricher(*store_, options);
    std::vector<EnrichOutcome> outcomes;
    EnrichTimings timings;
    const Status s = enricher.Enrich(inputs, now_ms, &batch_, &outcomes, &timings);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return outcomes;
  }

  // The example as a consumer of hm.examples reads it.
  static events::ExampleEvent Decode(const EnrichOutcome& outcome) {
    Result<events::ExampleEvent> example =
        events::DecodeExampleEvent(events::EncodeExampleEvent(outcome.example));
    EXPECT_TRUE(example.ok()) << example.status().ToString();
    return example.ok() ? *example : events::ExampleEvent{};
  }

  static EnricherOptions Policy(MissingEntityPolicy policy) {
    EnricherOptions options;
    options.on_missing_entity = policy;
    options.park_timeout = std::chrono::milliseconds(1000);
    return options;
  }

  testing::ScopedTempDir dir_{"enricher_test"};
  std::unique_ptr<features::FeatureStore> store_;
  features::FeatureBatch batch_;
};

TEST_F(EnricherTest, ExampleCarriesTheTransactionAndBothEntities) {
  const std::vector<EnrichOutcome> out = Enrich({}, {Input(kCustomerA, kKnownArticle, 5)});
  ASSERT_EQ(out[0].kind, Kind::kExample);
  const events::ExampleEvent example = Decode(out[0]);
  EXPECT_EQ(example.event_id, "e5");
  EXPECT_EQ(example.transaction.article_id, kKnownArticle);
  EXPECT_TRUE(example.customer.known);
  EXPECT_EQ(example.customer.age, 30);
  EXPECT_TRUE(example.article.known);
  EXPECT_EQ(example.article.product_code, kKnownArticle / 1000);
  EXPECT_TRUE(example.recent_article_ids.empty());
}

TEST_F(EnricherTest, LaterPurchaseInTheBatchSeesTheEarlierOne) {
  const std::vector<EnrichOutcome> out =
      Enrich({}, {Input(kCustomerA, kKnownArticle, 5), Input(kCustomerB, kOtherArticle, 6),
                  Input(kCustomerA, kOtherArticle, 7)});
  EXPECT_EQ(Decode(out[2]).recent_article_ids, (std::vector<hm::ArticleId>{kKnownArticle}));
  EXPECT_TRUE(Decode(out[1]).recent_article_ids.empty()) << "customers are kept apart";
}

TEST_F(EnricherTest, HistoryIsLimitedToTheNMostRecent) {
  EnricherOptions options;
  options.history_length = 2;
  std::vector<EnrichInput> inputs;
  for (int64_t offset = 0; offset < 4; ++offset) {
    inputs.push_back(Input(kCustomerA, offset % 2 ? kOtherArticle : kKnownArticle, offset));
  }
  const std::vector<EnrichOutcome> out = Enrich(options, inputs);
  EXPECT_EQ(Decode(out[3]).recent_article_ids,
            (std::vector<hm::ArticleId>{kOtherArticle, kKnownArticle}));
}

TEST_F(EnricherTest, ColdPolicyFlagsUnknownEntities) {
  const std::vector<EnrichOutcome> out =
      Enrich(Policy(MissingEntityPolicy::kCold), {Input(kCustomerB, kUnknownArticle, 5)});
  ASSERT_EQ(out[0].kind, Kind::kExample);
  const events::ExampleEvent example = Decode(out[0]);
  EXPECT_FALSE(example.article.known);
  EXPECT_FALSE(example.customer.known);
  EXPECT_EQ(example.article.product_code, 0);
}

TEST_F(EnricherTest, ParkPolicyParksUnknownEntitiesButCountsThePurchase) {
  const std::vector<EnrichOutcome> out =
      Enrich(Policy(MissingEntityPolicy::kPark),
             {Input(kCustomerA, kUnknownArticle, 5), Input(kCustomerA, kKnownArticle, 6)});
  EXPECT_EQ(out[0].kind, Kind::kPark);
  ASSERT_EQ(out[1].kind, Kind::kExample);
  EXPECT_EQ(Decode(out[1]).recent_article_ids, (std::vector<hm::ArticleId>{kUnknownArticle}));
}

TEST_F(EnricherTest, ParkedPurchaseWaitsUntilTimeoutThenGoesCold) {
  EnrichInput parked = Input(kCustomerA, kUnknownArticle, 5, EnrichInput::Kind::kParked);
  parked.parked_since_ms = 10'000;
  struct Case {
    int64_t now_ms;
    Kind want;
  };
  for (const Case& k : {Case{10'500, Kind::kPark}, Case{11'000, Kind::kExample}}) {
    const std::vector<EnrichOutcome> out =
        Enrich(Policy(MissingEntityPolicy::kPark), {parked}, k.now_ms);
    EXPECT_EQ(out[0].kind, k.want) << "now " << k.now_ms;
  }
}

TEST_F(EnricherTest, ParkedPurchaseIsEmittedOnceItsEntityIsKnown) {
  features::FeatureBatch earlier;
  earlier.AppendHistory(Key(kCustomerA), {0, 3}, kOtherArticle);
  ASSERT_TRUE(store_->Write(&earlier).ok());
  EnrichInput parked = Input(kCustomerA, kKnownArticle, 5, EnrichInput::Kind::kParked);
  parked.parked_since_ms = 0;
  const std::vector<EnrichOutcome> out = Enrich(Policy(MissingEntityPolicy::kPark), {parked}, 1);
  ASSERT_EQ(out[0].kind, Kind::kExample);
  const events::ExampleEvent example = Decode(out[0]);
  EXPECT_TRUE(example.article.known);
  EXPECT_EQ(example.recent_article_ids, (std::vector<hm::ArticleId>{kOtherArticle}));
  EXPECT_EQ(batch_.history_appends(), 0u) << "its purchase was recorded when it was parked";
}

TEST_F(EnricherTest, DeadLetterPolicyRejectsUnknownArticlesOnly) {
  const std::vector<EnrichOutcome> out =
      Enrich(Policy(MissingEntityPolicy::kDeadLetter),
             {Input(kCustomerA, kUnknownArticle, 5), Input(kCustomerB, kKnownArticle, 6),
              Input(kCustomerA, kKnownArticle, 7)});
  ASSERT_EQ(out[0].kind, Kind::kDeadLetter);
  EXPECT_EQ(out[0].reason, events::DlqReason::kUnknownArticle);
  EXPECT_EQ(out[1].kind, Kind::kExample) << "an unknown customer is enriched cold";
  EXPECT_TRUE(Decode(out[2]).recent_article_ids.empty()) << "a dead letter is no purchase";
}

TEST_F(EnricherTest, RestoredPurchasesOnlyRebuildHistory) {
  const std::vector<EnrichOutcome> out =
      Enrich({}, {Input(kCustomerA, kOtherArticle, 1, EnrichInput::Kind::kRestore),
                  Input(kCustomerA, kKnownArticle, 2)});
  EXPECT_EQ(out[0].kind, Kind::kNone);
  EXPECT_EQ(Decode(out[1]).recent_article_ids, (std::vector<hm::ArticleId>{kOtherArticle}));
}

TEST(MissingEntityPolicyTest, ParsesItsNamesAndRejectsOthers) {
  for (MissingEntityPolicy p :
       {MissingEntityPolicy::kCold, MissingEntityPolicy::kPark, MissingEntityPolicy::kDeadLetter}) {
    Result<MissingEntityPolicy> parsed = ParseMissingEntityPolicy(MissingEntityPolicyName(p));
    ASSERT_TRUE(parsed.ok()) << MissingEntityPolicyName(p);
    EXPECT_EQ(*parsed, p);
  }
  EXPECT_EQ(ParseMissingEntityPolicy("drop").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace towerstream::ingest
