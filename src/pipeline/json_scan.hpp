// Private helpers of the decoder: byte-level scanning of numbers and JSON text that
// nlohmann/json does not accept (bare nan/inf tokens, overflowing numbers). Pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace iotd::pipeline::detail {

// JSON text of the string that replaces a bare non-finite token in the rewritten payload.
// It holds a NUL, which no real sensor name or value carries.
inline constexpr std::string_view kNonFiniteSentinelJson = R"("\u0000nonfinite")";
inline constexpr std::string_view kNonFiniteSentinel{"\0nonfinite", 10};

enum class NumberClass { finite, overflow, not_a_number };

// Length of the longest prefix of s of the form [+-]?(D+(.D*)?|.D+)([eE][+-]?D+)?, or 0.
std::size_t scan_number(std::string_view s);

// Converts a text fully matched by scan_number. Overflow ("1e999") -> overflow;
// underflow ("1e-999") -> finite 0.
NumberClass convert_number(std::string_view number, double& out);

// A string value as a metric (docs/architecture.md §6): a number, optionally followed by a unit
// that holds no digits ("27.93 °C", "12 V", "50%"). Hex ("0xfa"), "n/a", "01 03 0C" and the
// empty string are not_a_number; "1e999" is overflow.
NumberClass classify_numeric_string(std::string_view s, double& out);

// A timestamp string that is a plain epoch number ("1706539845", "1706539845.5").
bool parse_epoch_string(std::string_view s, double& out);

// Replaces bare nan/inf/Infinity tokens (any case, any sign) and overflowing numbers
// outside strings with kNonFiniteSentinelJson. nullopt when nothing was replaced.
std::optional<std::string> rewrite_nonfinite_tokens(std::string_view payload);

// The strict grammar both fast parsers accept (fast_json.cpp, direct_decode.cpp); what they
// decline is left to nlohmann. Inline: they run for every field of every message.

// A string of printable ASCII without escapes, `p` at its opening quote: `out` is its text
// and `p` moves past the closing quote. False for anything else (escapes, control or
// non-ASCII bytes, no closing quote).
inline bool scan_plain_string(const char*& p, const char* end, std::string_view& out) {
  const char* start = ++p;  // after '"'
  while (p != end) {
    const auto c = static_cast<unsigned char>(*p);
    if (c == '"') {
      out = std::string_view(start, static_cast<std::size_t>(p - start));
      ++p;
      return true;
    }
    if (c == '\\' || c < 0x20 || c >= 0x7f) return false;
    ++p;
  }
  return false;
}

// JSON's number grammar at `p` (not at `end`): moves `p` past the number. `negative`: it
// starts with a minus; `is_float`: it has a fraction or an exponent. False when malformed.
inline bool scan_json_number(const char*& p, const char* end, bool& negative, bool& is_float) {
  negative = is_float = false;
  if (*p == '-') {
    negative = true;
    ++p;
  }
  if (p == end) return false;
  if (*p == '0') {
    ++p;
  } else if (*p >= '1' && *p <= '9') {
    while (p != end && *p >= '0' && *p <= '9') ++p;
  } else {
    return false;
  }
  if (p != end && *p == '.') {
    is_float = true;
    ++p;
    if (p == end || *p < '0' || *p > '9') return false;
    while (p != end && *p >= '0' && *p <= '9') ++p;
  }
  if (p != end && (*p == 'e' || *p == 'E')) {
    is_float = true;
    ++p;
    if (p != end && (*p == '+' || *p == '-')) ++p;
    if (p == end || *p < '0' || *p > '9') return false;
    while (p != end && *p >= '0' && *p <= '9') ++p;
  }
  return true;
}

}  // namespace iotd::pipeline::detail
