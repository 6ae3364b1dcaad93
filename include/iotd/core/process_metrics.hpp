// The standard Prometheus process metrics (process_cpu_seconds_total,
// process_resident_memory_bytes, process_virtual_memory_bytes, process_open_fds,
// process_max_fds, process_start_time_seconds), read from /proc/self at each call in the
// text format 0.0.4. Linux only; a value that cannot be read is left out. Thread-safe.
#pragma once

#include <string>

namespace iotd::metrics {

std::string process_metrics_text();

}  // namespace iotd::metrics
