// A snapshot of the process's health, assembled by the app for /api/v1/health.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace iotd {

struct HealthSnapshot {
  bool database_ok = true;
  std::string database_error;       // last error when !database_ok
  std::string database_backend;     // sqlite | postgresql | mysql
  bool mqtt_enabled = true;
  bool mqtt_connected = false;
  std::string mqtt_url;
  bool ingest_paused = false;       // journal at its bound: MQTT intake stopped
  std::string ingest_pause_reason;
  std::uint64_t journal_backlog = 0;  // frames appended but not yet committed
  std::uint64_t journal_bytes = 0;
  std::int64_t commit_lag_ms = 0;     // age of the oldest uncommitted frame (approx.)
  std::vector<std::string> degraded_reasons;  // human-readable; empty when ok
  std::int64_t uptime_ms = 0;
  std::string version;
};

}  // namespace iotd
