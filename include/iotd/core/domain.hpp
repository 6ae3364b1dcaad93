// Domain values shared by the rule engine (ingest) and storage: alert rules and alerts.
// Plain value types; no threading concerns.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace iotd {

struct Rule {
  std::string metric;
  std::string scope = "global";  // global | type | device
  std::string scope_value;       // device type or device id
  std::optional<double> min, max;
  std::string severity = "warning";
  double hysteresis = 0;
};

struct Alert {
  std::int64_t id = 0;
  std::string device_id;
  std::string metric;
  std::string kind = "threshold";  // threshold | manual
  std::string severity = "warning";
  std::string state = "active";    // active | cleared
  std::string message;
  std::optional<double> threshold_min, threshold_max;
  double first_value = 0, last_value = 0, peak_value = 0;
  std::int64_t count = 1;
  std::int64_t raised_ts_ms = 0;           // device time of the reading that raised it
  std::int64_t raised_received_at_ms = 0;
  std::int64_t updated_ts_ms = 0;
  std::optional<std::int64_t> cleared_ts_ms;
  bool acknowledged = false;
  std::optional<std::int64_t> acknowledged_at_ms;
  std::string acknowledged_by;
};

}  // namespace iotd
