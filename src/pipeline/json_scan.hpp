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

}  // namespace iotd::pipeline::detail
