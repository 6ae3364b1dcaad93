// Time helpers (see include/iotd/core/time.hpp). Pure functions; civil-date arithmetic
// after Howard Hinnant's days_from_civil, so no timegm/locale/TZ surprises.
#include "iotd/core/time.hpp"

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include "iotd/core/text.hpp"

namespace iotd::time {

namespace {

using text::trim;

constexpr std::int64_t kMsPerSecond = 1000;
constexpr std::int64_t kMsPerMinute = 60 * kMsPerSecond;
constexpr std::int64_t kMsPerHour = 60 * kMsPerMinute;
constexpr std::int64_t kMsPerDay = 24 * kMsPerHour;
constexpr std::int64_t kMsPerWeek = 7 * kMsPerDay;
// Epoch values at or above this (as µs, ~year 33658 as ms) are rejected as nonsense;
// keeps every later multiplication far from int64 overflow.
constexpr double kMaxEpochNumber = 1e18;
// Durations beyond ~31,000 years are garbage, not intent.
constexpr double kMaxDurationMs = 1e15;

bool is_digit(char c) { return c >= '0' && c <= '9'; }

// Reads exactly n digits at s[pos]; advances pos.
bool read_fixed(std::string_view s, std::size_t& pos, int n, int& out) {
  if (pos + static_cast<std::size_t>(n) > s.size()) return false;
  int v = 0;
  for (int i = 0; i < n; ++i) {
    const char c = s[pos + static_cast<std::size_t>(i)];
    if (!is_digit(c)) return false;
    v = v * 10 + (c - '0');
  }
  pos += static_cast<std::size_t>(n);
  out = v;
  return true;
}

bool is_leap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned days_in_month(int y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap(y) ? 29 : kDays[m - 1];
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

struct Civil {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

Civil civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const std::int64_t y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {m <= 2 ? y + 1 : y, m, d};
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (x != b[i]) return false;
  }
  return true;
}

// "123" or "123.45" (no sign, no exponent); the whole of s.
std::optional<double> parse_plain_number(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::size_t i = 0;
  std::size_t int_digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++int_digits;
  std::size_t frac_digits = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    while (i < s.size() && is_digit(s[i])) ++i, ++frac_digits;
  }
  if (i != s.size() || int_digits == 0) return std::nullopt;
  double v = 0;
  const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
  if (res.ec != std::errc() || res.ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

}  // namespace

std::int64_t days_from_civil(int year, unsigned month, unsigned day) {
  const std::int64_t y = static_cast<std::int64_t>(year) - (month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::optional<std::int64_t> parse_iso8601_ms(std::string_view s) {
  std::size_t pos = 0;
  int year = 0, month = 0, day = 0;
  if (!read_fixed(s, pos, 4, year)) return std::nullopt;
  if (pos >= s.size() || s[pos++] != '-') return std::nullopt;
  if (!read_fixed(s, pos, 2, month)) return std::nullopt;
  if (pos >= s.size() || s[pos++] != '-') return std::nullopt;
  if (!read_fixed(s, pos, 2, day)) return std::nullopt;
  if (month < 1 || month > 12) return std::nullopt;
  if (day < 1 || static_cast<unsigned>(day) > days_in_month(year, static_cast<unsigned>(month)))
    return std::nullopt;
  const std::int64_t days =
      days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  if (pos == s.size()) return days * kMsPerDay;  // date only

  const char sep = s[pos++];
  if (sep != 'T' && sep != 't' && sep != ' ') return std::nullopt;
  int hour = 0, minute = 0, second = 0, millis = 0;
  if (!read_fixed(s, pos, 2, hour)) return std::nullopt;
  if (pos >= s.size() || s[pos++] != ':') return std::nullopt;
  if (!read_fixed(s, pos, 2, minute)) return std::nullopt;
  if (pos < s.size() && s[pos] == ':') {
    ++pos;
    if (!read_fixed(s, pos, 2, second)) return std::nullopt;
    if (pos < s.size() && (s[pos] == '.' || s[pos] == ',')) {
      ++pos;
      int n = 0;
      while (pos < s.size() && is_digit(s[pos])) {
        if (n < 3) millis = millis * 10 + (s[pos] - '0');
        ++n;
        ++pos;
      }
      if (n == 0) return std::nullopt;
      for (; n < 3; ++n) millis *= 10;  // ".5" -> 500 ms
    }
  }
  // Second 60 is a leap second (RFC 3339); it rolls into the next minute.
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;

  std::int64_t offset_ms = 0;
  if (pos < s.size()) {
    const char z = s[pos++];
    if (z == 'Z' || z == 'z') {
      // UTC
    } else if (z == '+' || z == '-') {
      int oh = 0, om = 0;
      if (!read_fixed(s, pos, 2, oh)) return std::nullopt;
      if (pos < s.size()) {
        if (s[pos] == ':') ++pos;
        if (!read_fixed(s, pos, 2, om)) return std::nullopt;
      }
      if (oh > 23 || om > 59) return std::nullopt;
      offset_ms = (oh * kMsPerHour + om * kMsPerMinute) * (z == '-' ? -1 : 1);
    } else {
      return std::nullopt;
    }
  }
  if (pos != s.size()) return std::nullopt;
  return days * kMsPerDay + hour * kMsPerHour + minute * kMsPerMinute + second * kMsPerSecond +
         millis - offset_ms;
}

std::optional<std::int64_t> epoch_number_to_ms(double v) {
  if (!std::isfinite(v) || v < 0 || v >= kMaxEpochNumber) return std::nullopt;
  // Round to whole µs first so a float like 1706539845.123456 s keeps its .123 ms
  // instead of landing on .122999 and flooring to .122.
  std::int64_t us = 0;
  if (v < 1e11) {
    us = std::llround(v * 1e6);
  } else if (v < 1e14) {
    us = std::llround(v * 1e3);
  } else {
    us = std::llround(v);
  }
  return us / 1000;  // non-negative: division is floor
}

std::optional<std::int64_t> epoch_integer_to_ms(std::int64_t v) {
  if (v < 0 || static_cast<double>(v) >= kMaxEpochNumber) return std::nullopt;
  if (v < 100'000'000'000LL) return v * 1000;
  if (v < 100'000'000'000'000LL) return v;
  return v / 1000;
}

std::string format_iso8601_ms(std::int64_t ms) {
  const std::int64_t days = floor_div(ms, kMsPerDay);
  const std::int64_t rem = ms - days * kMsPerDay;
  const Civil c = civil_from_days(days);
  const auto h = static_cast<int>(rem / kMsPerHour);
  const auto m = static_cast<int>(rem % kMsPerHour / kMsPerMinute);
  const auto sec = static_cast<int>(rem % kMsPerMinute / kMsPerSecond);
  const auto milli = static_cast<int>(rem % kMsPerSecond);
  char buf[64];
  const int n = std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ",
                              static_cast<long long>(c.year), c.month, c.day, h, m, sec, milli);
  return std::string(buf, n > 0 ? static_cast<std::size_t>(n) : 0);
}

std::optional<std::int64_t> parse_duration_ms(std::string_view s) {
  s = trim(s);
  std::size_t i = 0;
  while (i < s.size() && (is_digit(s[i]) || s[i] == '.')) ++i;
  const auto number = parse_plain_number(s.substr(0, i));
  if (!number) return std::nullopt;
  const std::string_view unit = s.substr(i);
  std::int64_t unit_ms = 0;
  if (unit.empty() || unit == "s") {
    unit_ms = kMsPerSecond;
  } else if (unit == "ms") {
    unit_ms = 1;
  } else if (unit == "m" || unit == "min") {
    unit_ms = kMsPerMinute;
  } else if (unit == "h") {
    unit_ms = kMsPerHour;
  } else if (unit == "d") {
    unit_ms = kMsPerDay;
  } else if (unit == "w") {
    unit_ms = kMsPerWeek;
  } else {
    return std::nullopt;
  }
  const double ms = *number * static_cast<double>(unit_ms);
  if (!(ms < kMaxDurationMs)) return std::nullopt;
  return std::llround(ms);
}

std::optional<std::int64_t> parse_query_time_ms(std::string_view s, std::int64_t now) {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  // "now", "now()", and Flux-style "now()-1h" / "now-1h".
  if (s.size() >= 3 && iequals(s.substr(0, 3), "now")) {
    std::string_view rest = s.substr(3);
    if (rest.substr(0, 2) == "()") rest.remove_prefix(2);
    if (rest.empty()) return now;
    s = rest;
    if (s.front() != '-' && s.front() != '+') return std::nullopt;
  }
  if (s.front() == '-' || s.front() == '+') {
    const auto d = parse_duration_ms(s.substr(1));
    if (!d) return std::nullopt;
    return s.front() == '-' ? now - *d : now + *d;
  }
  if (auto iso = parse_iso8601_ms(s)) return iso;
  bool all_digits = true;
  for (const char c : s) all_digits = all_digits && is_digit(c);
  if (all_digits && s.size() <= 18) {
    std::int64_t v = 0;
    const auto res = std::from_chars(s.data(), s.data() + s.size(), v);
    if (res.ec != std::errc()) return std::nullopt;
    return epoch_integer_to_ms(v);
  }
  if (const auto number = parse_plain_number(s)) return epoch_number_to_ms(*number);
  return std::nullopt;
}

std::int64_t floor_to(std::int64_t ms, std::int64_t step) {
  if (step <= 0) return ms;
  return floor_div(ms, step) * step;
}

}  // namespace iotd::time
