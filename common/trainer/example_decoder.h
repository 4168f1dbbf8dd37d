// Decoding of hm.examples messages into model::Example: a direct scan of the canonical encoding
// (what events::EncodeExampleEvent writes: compact, schema order, plain ASCII strings) checked
// with the library's rules, and events::DecodeExampleEvent for anything else, so acceptance,
// results and error messages are the library's at several times its speed. Pure and thread-safe.
#pragma once

#include <string>
#include <string_view>

#include "common/base/status.h"
#include "common/events/events.h"
#include "common/model/example.h"

namespace towerstream::trainer {

// The reference mapping of a decoded event to the model's form (codes of model/example.h).
// An event that marks its customer (article) unknown gets all-zero customer (article) codes,
// whatever values it carries, as CustomerCodes and ArticleCodes promise.
model::Example ExampleFromEvent(const events::ExampleEvent& event);

// True, with *example and *event_id filled, when `payload` is a valid example in the canonical
// encoding; false, leaving both untouched, otherwise (including valid examples written
// differently). DecodeExample's fast path, exposed so tests and benchmarks can see it taken.
bool DecodeCanonicalExample(std::string_view payload, const events::DecodeOptions& options,
                            model::Example* example, std::string* event_id);

// Decodes one hm.examples payload: DecodeCanonicalExample, else events::DecodeExampleEvent and
// ExampleFromEvent. On success fills *example and *event_id (the event's event_id); on error
// leaves them untouched and returns exactly DecodeExampleEvent's Status, so callers can
// dead-letter with events::DecodeErrorReason(). Reusing one Example and one string across
// calls lets the fast path run without allocating.
Status DecodeExample(std::string_view payload, const events::DecodeOptions& options,
                     model::Example* example, std::string* event_id);

}  // namespace towerstream::trainer
