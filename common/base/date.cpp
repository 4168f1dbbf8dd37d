// Civil-date conversions (days-from-civil arithmetic on 400-year eras).
#include "common/base/date.h"

namespace towerstream {
namespace {

constexpr bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

constexpr unsigned DaysInMonth(int y, unsigned m) {
  constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

}  // namespace

Date Date::FromCivil(int year, unsigned month, unsigned day) {
  // Shift the year to start in March so the leap day is the last day of the year.
  const int y = year - (month <= 2 ? 1 : 0);
  const int era = (y >= 0 ? y : y - 399) / 400;
  const unsigned year_of_era = static_cast<unsigned>(y - era * 400);
  const unsigned shifted_month = month > 2 ? month - 3 : month + 9;
  const unsigned day_of_year = (153 * shifted_month + 2) / 5 + day - 1;
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return Date(era * 146097 + static_cast<int>(day_of_era) - 719468);
}

void Date::ToCivil(int* year, unsigned* month, unsigned* day) const {
  const int z = days_ + 719468;
  const int era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned day_of_era = static_cast<unsigned>(z - era * 146097);
  const unsigned year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const unsigned day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const unsigned shifted_month = (5 * day_of_year + 2) / 153;
  *day = day_of_year - (153 * shifted_month + 2) / 5 + 1;
  *month = shifted_month < 10 ? shifted_month + 3 : shifted_month - 9;
  *year = static_cast<int>(year_of_era) + era * 400 + (*month <= 2 ? 1 : 0);
}

int Date::Weekday() const {
  // 1970-01-01 was a Thursday (3 with Monday = 0).
  const int w = (days_ + 3) % 7;
  return w < 0 ? w + 7 : w;
}

unsigned Date::Month() const {
  int y;
  unsigned m, d;
  ToCivil(&y, &m, &d);
  return m;
}

Result<Date> Date::Parse(std::string_view text) {
  auto bad = [&] {
    return Status::InvalidArgument("'" + std::string(text) +
                                   "' is not a date of the form YYYY-MM-DD");
  };
  if (text.size() != 10 || text[4] != '-' || text[7] != '-') return bad();
  auto digits = [&](size_t pos, size_t len, unsigned* out) {
    unsigned v = 0;
    for (size_t i = pos; i < pos + len; ++i) {
      if (text[i] < '0' || text[i] > '9') return false;
      v = v * 10 + static_cast<unsigned>(text[i] - '0');
    }
    *out = v;
    return true;
  };
  unsigned y, m, d;
  if (!digits(0, 4, &y) || !digits(5, 2, &m) || !digits(8, 2, &d)) return bad();
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(static_cast<int>(y), m)) return bad();
  return FromCivil(static_cast<int>(y), m, d);
}

void Date::Format(char* out) const {
  int y;
  unsigned m, d;
  ToCivil(&y, &m, &d);
  const unsigned uy = static_cast<unsigned>(y) % 10000;
  out[0] = static_cast<char>('0' + uy / 1000);
  out[1] = static_cast<char>('0' + uy / 100 % 10);
  out[2] = static_cast<char>('0' + uy / 10 % 10);
  out[3] = static_cast<char>('0' + uy % 10);
  out[4] = '-';
  out[5] = static_cast<char>('0' + m / 10);
  out[6] = static_cast<char>('0' + m % 10);
  out[7] = '-';
  out[8] = static_cast<char>('0' + d / 10);
  out[9] = static_cast<char>('0' + d % 10);
}

std::string Date::ToString() const {
  std::string out(10, '\0');
  Format(out.data());
  return out;
}

}  // namespace towerstream
