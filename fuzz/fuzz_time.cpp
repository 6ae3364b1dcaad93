// Fuzz target: the time parsers (include/iotd/core/time.hpp): ISO 8601, durations, query
// times and epoch numbers. Input: the text. Checks, beyond "no crash, no UB": a parsed
// ISO 8601 time between the years 0 and 9999 formats back to text that parses to the same
// millisecond, and epoch conversions never give a negative time.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "iotd/core/time.hpp"

namespace {

[[noreturn]] void fail(const char* what, std::string_view input) {
  std::fprintf(stderr, "fuzz_time: %s: '%.*s'\n", what, static_cast<int>(input.size()), input.data());
  std::abort();
}

constexpr std::int64_t kYear0 = -62'167'219'200'000;     // 0000-01-01T00:00:00Z
constexpr std::int64_t kYear10000 = 253'402'300'800'000;  // 10000-01-01T00:00:00Z
constexpr std::int64_t kNow = 1'769'644'800'000;          // 2026-01-29T00:00:00Z

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace t = iotd::time;
  const std::string_view s(reinterpret_cast<const char*>(data), size);

  if (const auto ms = t::parse_iso8601_ms(s); ms && *ms >= kYear0 && *ms < kYear10000) {
    const std::string text = t::format_iso8601_ms(*ms);
    const auto again = t::parse_iso8601_ms(text);
    if (!again || *again != *ms) fail("ISO 8601 round trip changed the time", s);
  }
  (void)t::parse_duration_ms(s);
  (void)t::parse_query_time_ms(s, kNow);

  // The input read as numbers: a double and an integer, as the decoder hands them over.
  if (size >= 8) {
    double d;
    std::int64_t i;
    std::memcpy(&d, data, sizeof d);
    std::memcpy(&i, data, sizeof i);
    if (const auto ms = t::epoch_number_to_ms(d); ms && *ms < 0) fail("negative epoch from a double", s);
    if (const auto ms = t::epoch_integer_to_ms(i); ms && *ms < 0) fail("negative epoch from an integer", s);
    // Formatting and bucketing take stored times (years 0..9999), not any integer.
    if (i >= kYear0 && i < kYear10000) {
      (void)t::format_iso8601_ms(i);
      (void)t::floor_to(i, 1 + static_cast<std::int64_t>(data[0]) * 1000);
    }
  }
  return 0;
}
