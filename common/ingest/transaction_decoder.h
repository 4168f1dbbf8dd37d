// Decoding of hm.transactions messages with a fast path for the canonical encoding.
//
// events::DecodeTransactionEvent builds an nlohmann::json document per message, which is most
// of ingest's cost per event. Nearly every message is exactly what EncodeTransactionEvent
// writes (compact, fields in schema order, plain ASCII strings), so that shape is scanned
// directly and validated with the same rules (hm::IsValidCustomerId, Date::Parse,
// hm::ParseArticleId, price > 0, channel 1 or 2). Anything else — other field order, unknown
// fields, escapes, whitespace, numbers in another form, any invalid value — goes to
// events::DecodeTransactionEvent, so results and error messages are the library's. Pure and
// thread-safe.
#pragma once

#include <optional>
#include <string_view>

#include "common/base/status.h"
#include "common/events/events.h"

namespace towerstream::ingest {

// The event when `json` is a valid transaction in the canonical encoding; nullopt otherwise
// (including when it is valid but written differently).
std::optional<events::TransactionEvent> DecodeCanonicalTransaction(
    std::string_view json, const events::DecodeOptions& options);

// DecodeCanonicalTransaction, else events::DecodeTransactionEvent.
Result<events::TransactionEvent> DecodeTransaction(std::string_view json,
                                                   const events::DecodeOptions& options);

}  // namespace towerstream::ingest
