// Enricher: lookups, history and the missing-entity rule for one micro-batch.
#include "common/ingest/enricher.h"

#include <utility>

namespace towerstream::ingest {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

std::string_view MissingEntityPolicyName(MissingEntityPolicy policy) {
  switch (policy) {
    case MissingEntityPolicy::kCold:
      return "cold";
    case MissingEntityPolicy::kPark:
      return "park";
    case MissingEntityPolicy::kDeadLetter:
      return "dlq";
  }
  return "?";
}

Result<MissingEntityPolicy> ParseMissingEntityPolicy(std::string_view name) {
  for (MissingEntityPolicy p :
       {MissingEntityPolicy::kCold, MissingEntityPolicy::kPark, MissingEntityPolicy::kDeadLetter}) {
    if (name == MissingEntityPolicyName(p)) return p;
  }
  return Status::InvalidArgument("missing-entity policy '" + std::string(name) +
                                 "' is not cold, park or dlq");
}

Status EnricherOptions::Validate() const {
  if (history_length < 0) {
    return Status::InvalidArgument("history length " + std::to_string(history_length) +
                                   " is negative");
  }
  if (park_timeout.count() < 0) return Status::InvalidArgument("park timeout is negative");
  return Status::Ok();
}

Status Enricher::Enrich(std::span<const EnrichInput> inputs, int64_t now_ms,
                        features::FeatureBatch* batch, std::vector<EnrichOutcome>* outcomes,
                        EnrichTimings* timings) {
  outcomes->resize(inputs.size());  // keeps the string buffers of earlier batches
  article_ids_.clear();
  customer_keys_.clear();
  for (const EnrichInput& in : inputs) {
    article_ids_.push_back(in.event.transaction.article_id);
    customer_keys_.push_back(in.customer);
  }
  const Clock::time_point lookup_start = Clock::now();
  TS_RETURN_IF_ERROR(store_.GetArticles(article_ids_, &articles_));
  TS_RETURN_IF_ERROR(store_.GetCustomers(customer_keys_, &customers_));
  timings->lookup_seconds += SecondsSince(lookup_start);

  const MissingEntityPolicy policy = options_.on_missing_entity;
  const double history_before = store_.history_read_seconds();
  for (size_t i = 0; i < inputs.size(); ++i) {
    const EnrichInput& in = inputs[i];
    EnrichOutcome& out = (*outcomes)[i];
    const std::optional<events::ArticleFeatures>& article = articles_[i];
    const std::optional<events::CustomerFeatures>& customer = customers_[i];
    out.article_known = article.has_value();
    out.customer_known = customer.has_value();
    const bool missing = !article || !customer;

    if (in.kind != EnrichInput::Kind::kParked) {
      if (policy == MissingEntityPolicy::kDeadLetter && !article) {
        // Not a purchase of the stream: no history, no vocabulary (and when restoring, it was
        // dead-lettered the first time round).
        out.kind = in.kind == EnrichInput::Kind::kRestore ? EnrichOutcome::Kind::kNone
                                                          : EnrichOutcome::Kind::kDeadLetter;
        out.reason = events::DlqReason::kUnknownArticle;
        continue;
      }
      if (!article) batch->NoteArticle(in.event.transaction.article_id);
      if (!customer) batch->NoteCustomer(in.customer);
      batch->AppendHistory(in.customer, in.position, in.event.transaction.article_id);
      if (in.kind == EnrichInput::Kind::kRestore) {
        out.kind = EnrichOutcome::Kind::kNone;
        continue;
      }
      if (policy == MissingEntityPolicy::kPark && missing) {
        out.kind = EnrichOutcome::Kind::kPark;
        continue;
      }
    } else if (policy == MissingEntityPolicy::kPark && missing &&
               now_ms < in.parked_since_ms + options_.park_timeout.count()) {
      out.kind = EnrichOutcome::Kind::kPark;
      continue;
    }

    // The history append above is staged at this very position, which RecentHistory excludes.
    events::ExampleEvent& example = out.example;
    TS_RETURN_IF_ERROR(store_.RecentHistory(in.customer, in.position, options_.history_length,
                                            batch, &example.recent_article_ids));
    example.event_id = in.event.event_id;
    example.transaction = in.event.transaction;
    if (customer) {
      example.customer = *customer;
    } else {
      example.customer = events::CustomerFeatures{};
    }
    if (article) {
      example.article = *article;
    } else {
      example.article = events::ArticleFeatures{};
    }
    out.kind = EnrichOutcome::Kind::kExample;
  }
  timings->history_seconds += store_.history_read_seconds() - history_before;
  return Status::Ok();
}

}  // namespace towerstream::ingest
