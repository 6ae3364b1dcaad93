// The Prometheus text exposition (format 0.0.4) of a metrics registry: a second visitor
// over the same declarations the health JSON renders. Thread-safe (reads atomics).
#pragma once

#include <string>
#include <string_view>

#include "iotd/core/metrics.hpp"

namespace iotd::metrics {

// Names are `prefix + name`, then a unit suffix (_seconds, or _timestamp_seconds for
// Unit::unix_ms, whose value is converted to seconds), then _total for counters.
std::string prometheus_text(const Registry& registry, std::string_view prefix = "iotd_");

// A sample value or bucket bound as written above: shortest round-trip, plain notation
// for usual magnitudes ("0.0005", "1769644800.25"), "+Inf", "-Inf", "NaN".
std::string prometheus_float(double v);

}  // namespace iotd::metrics
