// Clock helpers for the bench tools: one monotonic clock, durations as ms doubles.
#pragma once

#include <chrono>
#include <cstdint>

namespace iotd::bench {

using Clock = std::chrono::steady_clock;

inline double to_ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }
inline double ns_to_ms(std::int64_t ns) { return static_cast<double>(ns) / 1e6; }
inline std::int64_t to_ns(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count();
}
inline Clock::duration from_seconds(double s) {
  return std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s));
}

}  // namespace iotd::bench
