// Internal to ts_events: parsing an event payload and reading validated fields out of it.
//
// Every error is an InvalidArgument whose message names the field, in the shapes of
// decode_errors.h.
#pragma once

#include <cstdint>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/base/date.h"
#include "common/base/status.h"
#include "common/events/decode_errors.h"
#include "common/events/events.h"
#include "common/hm/records.h"

namespace towerstream::events::internal {

using Json = nlohmann::json;

// "field '<field>'", the context every field error starts with.
std::string FieldContext(std::string_view field);
// "field '<field>': <problem>".
Status FieldError(std::string_view field, std::string_view problem);
// "field '<field>': missing".
Status MissingField(std::string_view field);
// The value as JSON text for a message, shortened when long.
std::string Describe(const Json& value);

// Checks the size limit, parses, and checks that the document is an object whose
// schema_version this build supports.
Result<Json> ParseEvent(std::string_view payload, const DecodeOptions& options);

// Value readers. Their errors state the problem only ("expected string, got number");
// InField() or FieldReader put the field's name in front.
Result<std::string> StringValue(Json& value);  // moves the string out of the document
Result<int64_t> IntegerValue(const Json& value, int64_t min, int64_t max);
Result<double> NumberValue(const Json& value);
Result<bool> BoolValue(const Json& value);
Result<hm::ArticleId> ArticleIdValue(const Json& value);
Result<Date> DateValue(const Json& value);

template <typename Int>
Result<Int> IntegerValueOf(const Json& value, Int min = std::numeric_limits<Int>::min(),
                           Int max = std::numeric_limits<Int>::max()) {
  TS_ASSIGN_OR_RETURN(int64_t n, IntegerValue(value, min, max));
  return static_cast<Int>(n);
}

// Prefixes an error with "field '<field>': ".
template <typename T>
Result<T> InField(std::string_view field, Result<T> result) {
  if (!result.ok()) return result.status().WithContext(FieldContext(field));
  return result;
}

// Looks fields up by name in one parsed event object. Holds a reference to the document,
// which must outlive it; strings read are moved out of the document.
class FieldReader {
 public:
  explicit FieldReader(Json& object) : object_(object) {}

  // The field's value; "missing" when absent.
  Result<Json*> Find(std::string_view field);
  // As Find, but nullptr when the value is JSON null.
  Result<Json*> FindNullable(std::string_view field);

  Result<std::string> ReadString(std::string_view field);
  template <typename Int>
  Result<Int> ReadInteger(std::string_view field, Int min = std::numeric_limits<Int>::min(),
                          Int max = std::numeric_limits<Int>::max()) {
    TS_ASSIGN_OR_RETURN(Json * value, Find(field));
    return InField(field, IntegerValueOf<Int>(*value, min, max));
  }
  Result<bool> ReadBool(std::string_view field);
  Result<hm::ArticleId> ReadArticleId(std::string_view field);
  Result<Date> ReadDate(std::string_view field);

 private:
  Json& object_;
};

}  // namespace towerstream::events::internal
