// Internal to ts_events: writes one flat JSON object straight into a string, the encoders'
// hot path (several times faster than building an nlohmann::json and dumping it).
//
// Not thread-safe; one writer builds one object. Keys are trusted constants (no escaping);
// string values are escaped, and invalid UTF-8 in them becomes U+FFFD, so writing never fails.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "common/hm/records.h"

namespace towerstream::events::internal {

class ObjectWriter {
 public:
  // `reserve`: expected size in bytes, to avoid regrowing the buffer.
  explicit ObjectWriter(size_t reserve = 256);

  void String(std::string_view key, std::string_view value);
  void Integer(std::string_view key, int64_t value);
  // Shortest text that reads back as the same double; null when not finite (JSON has no NaN).
  void Number(std::string_view key, double value);
  void Bool(std::string_view key, bool value);
  void Null(std::string_view key);
  void ArticleId(std::string_view key, hm::ArticleId id);  // "0108775015"
  void ArticleIds(std::string_view key, std::span<const hm::ArticleId> ids);

  // Each writes null when the value is absent.
  void NullableString(std::string_view key, const std::optional<std::string>& value);
  void NullableInteger(std::string_view key, std::optional<int32_t> value);
  void NullableNumber(std::string_view key, std::optional<float> value);

  // Closes the object and hands over the text; the writer is spent.
  std::string Finish() &&;

 private:
  void Key(std::string_view key);
  void QuotedArticleId(hm::ArticleId id);

  std::string out_;
};

// Appends `value` as a JSON string literal (quotes included) to `out`.
void AppendJsonString(std::string_view value, std::string* out);

}  // namespace towerstream::events::internal
