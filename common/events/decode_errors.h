// Internal to ts_events: the shapes of decode error messages, shared by the decoders that
// write them and DecodeErrorReason(), which classifies errors by them.
#pragma once

#include <string_view>

namespace towerstream::events::internal {

inline constexpr std::string_view kTooLargePrefix = "payload is ";
inline constexpr std::string_view kNotJsonPrefix = "not JSON";
inline constexpr std::string_view kNotObjectPrefix = "not a JSON object";
inline constexpr std::string_view kInvalidUtf8Prefix = "not valid UTF-8";
inline constexpr std::string_view kUnsupportedVersionPrefix =
    "field 'schema_version': unsupported version";
// Errors about one field start with this and, when the field is absent, end with kMissingSuffix.
inline constexpr std::string_view kFieldPrefix = "field '";
inline constexpr std::string_view kMissingSuffix = ": missing";

}  // namespace towerstream::events::internal
