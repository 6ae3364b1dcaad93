// The reference subscriber: subscribes and only counts (Paho message callback + atomics),
// so its rate is the broker's own pub->sub rate. Call from one thread.
#pragma once

#include <atomic>
#include <functional>

#include "iotd/sim/options.hpp"
#include "iotd/sim/report.hpp"

namespace iotd::sim {

// Connects, subscribes, calls on_ready after the SUBACK, counts until --count, --timeout
// or `stop`, disconnects. Throws std::runtime_error when the broker refuses or is unreachable.
SinkReport run_sink(const SinkOptions& opts, const std::atomic<bool>& stop,
                    const std::function<void()>& on_ready);

}  // namespace iotd::sim
