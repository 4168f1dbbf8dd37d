// Fuzzes the event decoders: the four JSON decoders of common/events, ingest's fast path for
// hm.transactions and the trainer's for hm.examples, and dead-letter headers. Each input is one
// message payload, given to every decoder. A decoded event must encode and decode back to
// itself; each fast path must agree with its reference decoder, value for value and message for
// message; every decode error must map to a DLQ reason.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/events/dead_letter.h"
#include "common/events/events.h"
#include "common/ingest/transaction_decoder.h"
#include "common/model/example.h"
#include "common/trainer/example_decoder.h"
#include "fuzz/fuzz_support.h"
#include "tests/events/sample_events.h"

namespace towerstream::fuzz {
namespace {

// The error's DLQ reason survives its name.
void CheckReason(const Status& error) {
  const events::DlqReason reason = events::DecodeErrorReason(error);
  Result<events::DlqReason> parsed = events::ParseDlqReason(events::DlqReasonName(reason));
  Check(parsed.ok() && *parsed == reason, "a DLQ reason does not survive its name");
}

template <typename Event>
void CheckRoundTrip(const Result<Event>& decoded, std::string (*encode)(const Event&),
                    Result<Event> (*decode)(std::string_view, const events::DecodeOptions&),
                    const events::DecodeOptions& options) {
  if (!decoded.ok()) {
    CheckReason(decoded.status());
    return;
  }
  const std::string encoded = encode(*decoded);
  Result<Event> again = decode(encoded, options);
  Check(again.ok(),
        "an encoded event does not decode: " + again.status().ToString() + "\n" + encoded);
  Check(*again == *decoded, "an event changed through encode and decode: " + encoded);
  (void)events::EventKey(*decoded);
}

void Transactions(std::string_view json, const events::DecodeOptions& options) {
  const Result<events::TransactionEvent> library = events::DecodeTransactionEvent(json, options);
  CheckRoundTrip(library, &events::EncodeTransactionEvent, &events::DecodeTransactionEvent,
                 options);
  const Result<events::TransactionEvent> ingest = ingest::DecodeTransaction(json, options);
  Check(ingest.ok() == library.ok(), "ingest's decoder and the library's disagree on success");
  if (library.ok()) {
    Check(*ingest == *library, "ingest's decoder and the library's decode different events");
  } else {
    Check(ingest.status().message() == library.status().message(),
          "ingest's decoder and the library's give different errors");
  }
  const std::optional<events::TransactionEvent> fast =
      ingest::DecodeCanonicalTransaction(json, options);
  Check(!fast || (library.ok() && *fast == *library),
        "ingest's fast path accepts what the library does not decode the same");
  if (library.ok()) {
    const std::optional<events::TransactionEvent> canonical =
        ingest::DecodeCanonicalTransaction(events::EncodeTransactionEvent(*library), options);
    Check(!canonical || *canonical == *library, "the fast path misreads the canonical encoding");
  }
}

void Examples(std::string_view json, const events::DecodeOptions& options) {
  const Result<events::ExampleEvent> library = events::DecodeExampleEvent(json, options);
  CheckRoundTrip(library, &events::EncodeExampleEvent, &events::DecodeExampleEvent, options);
  model::Example example;
  std::string event_id;
  const Status trainer = trainer::DecodeExample(json, options, &example, &event_id);
  Check(trainer.ok() == library.ok(), "the trainer's decoder and the library's disagree");
  if (!library.ok()) {
    Check(trainer.message() == library.status().message(),
          "the trainer's decoder and the library's give different errors");
    return;
  }
  Check(example == trainer::ExampleFromEvent(*library) && event_id == library->event_id,
        "the trainer's decoder and the library's decode different examples");
  model::Example fast;
  std::string fast_id;
  if (trainer::DecodeCanonicalExample(events::EncodeExampleEvent(*library), options, &fast,
                                      &fast_id)) {
    Check(fast == example && fast_id == event_id, "the fast path misreads the canonical encoding");
  }
}

// Dead letters: the input's lines as "name=value" headers, the input as the payload.
void DeadLetters(std::string_view text) {
  std::vector<events::Header> headers;
  for (std::string_view rest = text; !rest.empty();) {
    const size_t newline = rest.find('\n');
    const std::string_view line = rest.substr(0, newline);
    rest = newline == std::string_view::npos ? std::string_view() : rest.substr(newline + 1);
    const size_t equals = line.find('=');
    if (equals == std::string_view::npos) continue;
    headers.emplace_back(std::string(line.substr(0, equals)), std::string(line.substr(equals + 1)));
  }
  const std::optional<std::string> key =
      text.empty() ? std::nullopt : std::optional<std::string>(text.substr(0, 1));
  Result<events::DeadLetter> letter = events::ReadDeadLetter(key, std::string(text), headers);
  if (!letter.ok()) return;
  const std::vector<events::Header> written = events::DeadLetterHeaders(*letter);
  Result<events::DeadLetter> again = events::ReadDeadLetter(letter->key, letter->payload, written);
  Check(again.ok(), "a dead letter's own headers do not read: " + again.status().ToString());
  Check(*again == *letter, "a dead letter changed through its headers");
}

// Replaces the first `from` in `text` with `to`.
std::string Replaced(std::string text, std::string_view from, std::string_view to) {
  const size_t at = text.find(from);
  Check(at != std::string::npos, "seed template lacks " + std::string(from));
  return text.replace(at, from.size(), to);
}

// Writes the seeds: events of real H&M rows (tests/events/sample_events.h) as the encoders write
// them, the spellings other producers use, and a dead letter's headers.
void WriteSeeds(const std::filesystem::path& dir) {
  namespace samples = events::testing;
  const auto seed = [&](const std::string& name, std::string_view text) {
    WriteFile(dir / (name + ".json"), text);
  };
  const std::string transaction = events::EncodeTransactionEvent(samples::SampleTransactionEvent());
  seed("transaction", transaction);
  seed("transaction_reordered", Replaced(Replaced(transaction, "{\"schema_version\":1,", "{"), "}",
                                         ",\"schema_version\":1}"));
  seed("transaction_spaced_escaped_integer_id",
       Replaced(Replaced(Replaced(transaction, ":", " : "), "\"0663713001\"", "663713001"),
                "000058a1", "\\u0030\\u0030\\u0030\\u00305\\u0038a1"));
  seed("transaction_unknown_field_v2",
       Replaced(Replaced(transaction, "{", "{\"source\":{\"line\":2},"), "\"schema_version\":1",
                "\"schema_version\":2"));
  seed("article", events::EncodeArticleEvent({.article = samples::SampleArticle()}));
  seed("customer", events::EncodeCustomerEvent({.customer = samples::SampleCustomer()}));
  seed("customer_nulls",
       events::EncodeCustomerEvent({.customer = samples::SampleCustomerWithNulls()}));
  seed("example", events::EncodeExampleEvent(samples::SampleExampleEvent()));
  seed("example_cold", events::EncodeExampleEvent(samples::SampleColdExampleEvent()));
  WriteFile(dir / "dead_letter_headers.txt",
            "dlq.reason=invalid_field\ndlq.source.topic=hm.transactions\n"
            "dlq.source.partition=3\ndlq.source.offset=1234\n"
            "dlq.error=field 'price': -1.5 is not > 0\n");
}

}  // namespace
}  // namespace towerstream::fuzz

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  towerstream::fuzz::WriteSeedsIfAsked(&towerstream::fuzz::WriteSeeds);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace towerstream;
  const std::string_view json = fuzz::AsText(data, size);
  // The library's defaults (ingest), and the trainer's longer history limit.
  const events::DecodeOptions defaults;
  const events::DecodeOptions trainer{.max_payload_bytes = 64 * 1024, .max_recent_articles = 1000};

  fuzz::Transactions(json, defaults);
  fuzz::CheckRoundTrip(events::DecodeArticleEvent(json, defaults), &events::EncodeArticleEvent,
                       &events::DecodeArticleEvent, defaults);
  fuzz::CheckRoundTrip(events::DecodeCustomerEvent(json, defaults), &events::EncodeCustomerEvent,
                       &events::DecodeCustomerEvent, defaults);
  fuzz::Examples(json, defaults);
  fuzz::Examples(json, trainer);
  fuzz::DeadLetters(json);
  return 0;
}
