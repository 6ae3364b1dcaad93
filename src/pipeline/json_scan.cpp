// Byte-level helpers of the decoder (see json_scan.hpp). Pure functions.
#include "json_scan.hpp"

#include <charconv>
#include <cmath>

namespace iotd::pipeline::detail {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

bool is_json_delimiter(char c) {
  switch (c) {
    case ' ': case '\t': case '\n': case '\r':
    case '{': case '}': case '[': case ']': case ':': case ',': case '"':
      return true;
    default:
      return false;
  }
}

bool is_nonfinite_word(std::string_view t) {
  if (!t.empty() && (t.front() == '-' || t.front() == '+')) t.remove_prefix(1);
  if (t.size() != 3 && t.size() != 8) return false;
  char lower[8];
  for (std::size_t i = 0; i < t.size(); ++i) {
    const char c = t[i];
    lower[i] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  const std::string_view w(lower, t.size());
  return w == "nan" || w == "inf" || w == "infinity";
}

}  // namespace

std::size_t scan_number(std::string_view s) {
  std::size_t i = 0;
  if (i < s.size() && (s[i] == '-' || s[i] == '+')) ++i;
  std::size_t digits = 0;
  while (i < s.size() && is_digit(s[i])) ++i, ++digits;
  if (i < s.size() && s[i] == '.') {
    std::size_t j = i + 1;
    std::size_t frac = 0;
    while (j < s.size() && is_digit(s[j])) ++j, ++frac;
    if (digits + frac > 0) {
      i = j;
      digits += frac;
    }
  }
  if (digits == 0) return 0;
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    std::size_t j = i + 1;
    if (j < s.size() && (s[j] == '-' || s[j] == '+')) ++j;
    const std::size_t exp_start = j;
    while (j < s.size() && is_digit(s[j])) ++j;
    if (j > exp_start) i = j;  // "12e" keeps the 'e' out: it is a unit then
  }
  return i;
}

NumberClass convert_number(std::string_view number, double& out) {
  std::string_view n = number;
  if (!n.empty() && n.front() == '+') n.remove_prefix(1);  // from_chars refuses '+'
  const auto res = std::from_chars(n.data(), n.data() + n.size(), out);
  if (res.ec == std::errc() && res.ptr == n.data() + n.size()) {
    return std::isfinite(out) ? NumberClass::finite : NumberClass::overflow;
  }
  if (res.ec != std::errc::result_out_of_range) return NumberClass::not_a_number;
  // Out of range: overflow or underflow? Estimate the decimal magnitude.
  std::size_t i = (!n.empty() && n.front() == '-') ? 1 : 0;
  long long magnitude = 0;
  bool seen_nonzero = false;
  while (i < n.size() && is_digit(n[i])) {
    if (n[i] != '0') seen_nonzero = true;
    if (seen_nonzero) ++magnitude;
    ++i;
  }
  if (i < n.size() && n[i] == '.') {
    ++i;
    while (i < n.size() && is_digit(n[i])) {
      if (seen_nonzero) break;
      if (n[i] != '0') {
        seen_nonzero = true;
        break;
      }
      --magnitude;
      ++i;
    }
    while (i < n.size() && is_digit(n[i])) ++i;
  }
  if (i < n.size() && (n[i] == 'e' || n[i] == 'E')) {
    ++i;
    bool negative = false;
    if (i < n.size() && (n[i] == '-' || n[i] == '+')) negative = n[i++] == '-';
    long long exp = 0;
    while (i < n.size() && is_digit(n[i])) {
      if (exp < 1'000'000'000LL) exp = exp * 10 + (n[i] - '0');
      ++i;
    }
    magnitude += negative ? -exp : exp;
  }
  if (magnitude > 0) return NumberClass::overflow;
  out = 0.0;
  return NumberClass::finite;
}

NumberClass classify_numeric_string(std::string_view s, double& out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  const std::size_t n = scan_number(s);
  if (n == 0) return NumberClass::not_a_number;
  const std::string_view rest = s.substr(n);
  if (!rest.empty() && (rest.front() == 'x' || rest.front() == 'X')) {
    return NumberClass::not_a_number;  // hex: "0xfa", "0x12a"
  }
  for (const char c : rest) {
    if (is_digit(c)) return NumberClass::not_a_number;  // "01 03 0C", "1.2.3", dates
  }
  return convert_number(s.substr(0, n), out);
}

bool parse_epoch_string(std::string_view s, double& out) {
  if (s.empty() || s.front() == '-' || s.front() == '+') return false;
  const std::size_t n = scan_number(s);
  if (n != s.size()) return false;
  return convert_number(s, out) == NumberClass::finite;
}

std::optional<std::string> rewrite_nonfinite_tokens(std::string_view p) {
  std::string out;
  bool changed = false;
  std::size_t i = 0;
  std::size_t copied = 0;  // p[copied, i) is pending verbatim output
  while (i < p.size()) {
    const char c = p[i];
    if (c == '"') {  // skip a string verbatim, escapes included
      ++i;
      while (i < p.size()) {
        if (p[i] == '\\') {
          i += 2;
        } else if (p[i++] == '"') {
          break;
        }
      }
      continue;
    }
    if (is_json_delimiter(c)) {
      ++i;
      continue;
    }
    std::size_t j = i;
    while (j < p.size() && !is_json_delimiter(p[j])) ++j;
    const std::string_view token = p.substr(i, j - i);
    bool replace = is_nonfinite_word(token);
    if (!replace && scan_number(token) == token.size()) {
      double v = 0;
      replace = convert_number(token, v) == NumberClass::overflow;
    }
    if (replace) {
      if (!changed) out.reserve(p.size() + 64);
      out.append(p.substr(copied, i - copied));
      out.append(kNonFiniteSentinelJson);
      copied = j;
      changed = true;
    }
    i = j;
  }
  if (!changed) return std::nullopt;
  if (copied < p.size()) out.append(p.substr(copied));
  return out;
}

}  // namespace iotd::pipeline::detail
