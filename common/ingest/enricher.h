// Enrichment of one micro-batch of transactions into training examples, over the feature store.
//
// The Kafka-free core of ingest: batched lookups of articles and customers, the purchase
// history before each transaction, and the rule for entities the store does not know yet.
// Not thread-safe (it uses the FeatureStore, which is not); holds the store by reference, which
// must outlive it.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/status.h"
#include "common/events/dead_letter.h"
#include "common/events/events.h"
#include "common/features/feature_store.h"

namespace towerstream::ingest {

// What happens to a valid transaction whose article or customer the store has no record of
// (yet): the entity topics and hm.transactions are separate streams, so a purchase can arrive
// before its article or customer does.
enum class MissingEntityPolicy {
  // "cold": enrich with empty features and article_known/customer_known = false. The default:
  // no delay, and the trainer's cold rows learn from such examples.
  kCold,
  // "park": hold the transaction back until the missing entity arrives, or emit it cold after
  // the park timeout.
  kPark,
  // "dlq": dead-letter a transaction with an unknown article (reason unknown_article); an
  // unknown customer is still enriched cold (new customers buy before their record exists).
  kDeadLetter,
};
std::string_view MissingEntityPolicyName(MissingEntityPolicy policy);
Result<MissingEntityPolicy> ParseMissingEntityPolicy(std::string_view name);

struct EnricherOptions {
  // Purchases per example (the N of "the last N purchases before it").
  int history_length = events::kDefaultRecentArticles;
  MissingEntityPolicy on_missing_entity = MissingEntityPolicy::kCold;
  // How long a parked transaction waits for its entity before it is emitted cold.
  std::chrono::milliseconds park_timeout{60'000};

  Status Validate() const;
};

// A valid transaction and where it sits in hm.transactions.
struct EnrichInput {
  enum class Kind {
    kNew,      // read from hm.transactions for the first time (in this run)
    kParked,   // read back from the park topic
    kRestore,  // re-read only to rebuild the local history (its example was already sent)
  };

  Kind kind = Kind::kNew;
  features::StreamPosition position;
  events::TransactionEvent event;
  features::CustomerKey customer{};  // event.transaction.customer_id as bytes
  int64_t parked_since_ms = 0;       // kParked: when it was first parked
};

struct EnrichOutcome {
  enum class Kind {
    kExample,     // `example` is what goes to hm.examples
    kPark,        // park (again) until the entity arrives
    kDeadLetter,  // dead-letter with `reason`
    kNone,        // nothing to send (kRestore inputs)
  };

  Kind kind = Kind::kNone;
  // Left unencoded, so that the caller can encode on several threads.
  events::ExampleEvent example;
  bool article_known = false;
  bool customer_known = false;
  events::DlqReason reason = events::DlqReason::kUnknownArticle;
};

// Where one Enrich call spent its time, for the latency histograms.
struct EnrichTimings {
  double lookup_seconds = 0;   // article and customer MultiGets
  double history_seconds = 0;  // history reads that missed the cache (RocksDB iterators)
};

class Enricher {
 public:
  // `options` must be valid (Validate()).
  Enricher(features::FeatureStore& store, const EnricherOptions& options)
      : store_(store), options_(options) {}

  // Enriches `inputs` in order into one outcome each (reusing `outcomes`' storage). Stages in
  // `batch` the history append of
  // every purchase that counts (new ones that become examples or are parked, restored
  // ones), so a later input of the same customer in the batch sees it, and vocabulary notes for
  // unknown ids. `now_ms` decides park timeouts.
  Status Enrich(std::span<const EnrichInput> inputs, int64_t now_ms, features::FeatureBatch* batch,
                std::vector<EnrichOutcome>* outcomes, EnrichTimings* timings);

 private:
  features::FeatureStore& store_;
  EnricherOptions options_;
  // Scratch reused across calls.
  std::vector<hm::ArticleId> article_ids_;
  std::vector<features::CustomerKey> customer_keys_;
  std::vector<std::optional<events::ArticleFeatures>> articles_;
  std::vector<std::optional<events::CustomerFeatures>> customers_;
};

}  // namespace towerstream::ingest
