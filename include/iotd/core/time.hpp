// Time helpers: UTC epoch milliseconds everywhere inside iotd. Pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iotd::time {

// Wall clock, UTC epoch ms.
std::int64_t now_ms();

// ISO 8601 / RFC 3339 date-time: "2026-01-29T14:30:45.123456Z", "2026-01-29 14:30:45",
// "2024-01-15 10:30:00+00", "+05:30" offsets, date only "2026-01-29". No zone = UTC.
// Fractions are truncated to ms. nullopt when malformed.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view s);

// Epoch number -> ms by magnitude (docs/architecture.md §6): < 1e11 seconds, < 1e14 ms, else
// µs. nullopt for non-finite or negative values and for values >= 1e18 (no real epoch).
// Floats go through whole microseconds (llround) before flooring to ms, so
// 1706539845.123456 s -> 1706539845123.
std::optional<std::int64_t> epoch_number_to_ms(double v);
// The same for an integer epoch (exact, no rounding through double).
std::optional<std::int64_t> epoch_integer_to_ms(std::int64_t v);

// Days since 1970-01-01 for a proleptic Gregorian date (no validation).
std::int64_t days_from_civil(int year, unsigned month, unsigned day);

// "2026-01-29T14:30:45.123Z" (always ms and Z).
std::string format_iso8601_ms(std::int64_t ms);

// Durations: "24h", "15m", "30s", "500ms", "7d", "1w", plain number = seconds.
std::optional<std::int64_t> parse_duration_ms(std::string_view s);

// Query-string times (docs/architecture.md §11): ISO 8601, epoch seconds or ms (by magnitude),
// relative "-24h" / "-15m" / "+1h", "now", "now()".
std::optional<std::int64_t> parse_query_time_ms(std::string_view s, std::int64_t now);

// Floor of ms to a multiple of step (correct for negative values).
std::int64_t floor_to(std::int64_t ms, std::int64_t step);

}  // namespace iotd::time
