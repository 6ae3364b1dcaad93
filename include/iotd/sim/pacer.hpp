// The send schedule of a rate-limited run: message i is due at start + i / rate, an
// absolute schedule, so late wake-ups never lower the offered rate (a late sender
// catches up instead of drifting). Pure value type; thread-safe to read.
#pragma once

#include <chrono>
#include <cstdint>

namespace iotd::sim {

class Pacer {
 public:
  using Clock = std::chrono::steady_clock;

  // rate: messages per second over all senders, > 0 (resolution 1e-6 msg/s).
  Pacer(double rate, Clock::time_point start);

  // Time from the start at which message i (0-based, counted over all senders) is due:
  // floor(i / rate) in nanoseconds, computed in integers (no accumulated rounding).
  std::chrono::nanoseconds offset(std::uint64_t i) const;
  Clock::time_point due(std::uint64_t i) const { return start_ + offset(i); }
  Clock::time_point start() const { return start_; }

 private:
  std::uint64_t micro_rate_;  // rate * 1e6, rounded
  Clock::time_point start_;
};

}  // namespace iotd::sim
