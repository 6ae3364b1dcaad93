// The load generator: PublishOptions -> MQTT connections (one thread each) publishing
// simulated devices' payloads, paced or as fast as the window allows. Call from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>

#include "iotd/sim/options.hpp"
#include "iotd/sim/report.hpp"

namespace iotd::sim {

// Progress while running: totals so far (called about every progress_every from the
// calling thread).
using ProgressFn = std::function<void(const PublishReport&)>;

// Connects every connection, publishes until --messages, --duration or `stop`, waits
// (bounded) for outstanding acknowledgements and disconnects. Throws std::runtime_error
// when a connection cannot be established.
PublishReport run_publisher(const PublishOptions& opts, const std::atomic<bool>& stop,
                            const ProgressFn& progress = {},
                            std::chrono::milliseconds progress_every = std::chrono::seconds(10));

}  // namespace iotd::sim
