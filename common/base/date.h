// Calendar dates as days since 1970-01-01, the unit of H&M's `t_dat` column.
//
// A value type: cheap to copy, ordered, and exact for the proleptic Gregorian calendar.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/status.h"

namespace towerstream {

class Date {
 public:
  constexpr Date() = default;
  constexpr explicit Date(int32_t days_since_epoch) : days_(days_since_epoch) {}

  // Rejects anything but a valid YYYY-MM-DD (e.g. "2020-02-30" or "2020-9-1").
  static Result<Date> Parse(std::string_view text);
  static Date FromCivil(int year, unsigned month, unsigned day);

  constexpr int32_t days_since_epoch() const { return days_; }
  void ToCivil(int* year, unsigned* month, unsigned* day) const;
  // 0 = Monday ... 6 = Sunday.
  int Weekday() const;
  // 1..12, handy for seasonality features.
  unsigned Month() const;

  std::string ToString() const;  // YYYY-MM-DD
  // Writes exactly 10 characters to `out` (no terminator): the hot path of CSV writers.
  void Format(char* out) const;

  constexpr Date operator+(int32_t days) const { return Date(days_ + days); }
  constexpr int32_t operator-(Date other) const { return days_ - other.days_; }
  constexpr auto operator<=>(const Date&) const = default;

 private:
  int32_t days_ = 0;
};

}  // namespace towerstream
