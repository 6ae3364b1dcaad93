// Absolute send schedule (see include/iotd/sim/pacer.hpp).
#include "iotd/sim/pacer.hpp"

#include <cmath>
#include <stdexcept>

namespace iotd::sim {

Pacer::Pacer(double rate, Clock::time_point start) : start_(start) {
  if (!(rate > 0) || !std::isfinite(rate) || rate > 1e12) {
    throw std::invalid_argument("rate must be a positive number of messages per second");
  }
  micro_rate_ = static_cast<std::uint64_t>(std::llround(rate * 1e6));
  if (micro_rate_ == 0) throw std::invalid_argument("rate below 1e-6 messages per second");
}

std::chrono::nanoseconds Pacer::offset(std::uint64_t i) const {
  // i * 1e9 / rate == i * 1e15 / (rate * 1e6); 128 bits keep i * 1e15 exact.
  const unsigned __int128 ns = static_cast<unsigned __int128>(i) * 1'000'000'000'000'000ULL /
                               micro_rate_;
  return std::chrono::nanoseconds(static_cast<std::int64_t>(ns));
}

}  // namespace iotd::sim
