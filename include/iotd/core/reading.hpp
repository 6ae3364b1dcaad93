// A decoded telemetry reading: what the decoder produces and the writer stores.
// Plain value type; no threading concerns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace iotd {

struct Reading {
  std::string device_id;
  std::int64_t ts_ms = 0;           // device time (UTC epoch ms), or received_at when none
  std::int64_t received_at_ms = 0;  // when iotd received the frame
  bool has_device_time = false;
  // Content dedup key (docs/architecture.md §5): set only when has_device_time.
  std::optional<std::int64_t> dedup_key;
  // Metrics sorted by name, unique names, finite values.
  std::vector<std::pair<std::string, double>> metrics;
  // JSON object text of non-metric fields (capped), empty when there are none.
  std::string extra_json;
};

}  // namespace iotd
