// The process's health: the facts the app gathers (HealthSnapshot) and the one policy that
// turns them into a status, an HTTP status and the reasons (assess_health). Pure; any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace iotd {

struct HealthSnapshot {
  bool database_ok = true;
  std::string database_error;       // last error when !database_ok
  std::string database_backend;     // sqlite | postgresql | mysql
  bool mqtt_enabled = true;
  bool mqtt_connected = false;
  std::string mqtt_state;           // e.g. "disconnected: connection lost"; empty: "disconnected"
  std::string mqtt_url;
  bool ingest_paused = false;       // journal at its bound: MQTT intake stopped
  std::string ingest_pause_reason;
  std::uint64_t journal_backlog = 0;  // frames appended but not yet committed
  std::uint64_t journal_bytes = 0;
  std::int64_t commit_lag_ms = 0;     // age of the oldest uncommitted frame (approx.)
  std::uint64_t journal_quarantined_segments = 0;  // found torn at start-up, set aside
  std::string journal_dir;
  std::uint64_t journal_append_failures = 0;
  // Fault handling (issue 12).
  bool intake_blocked = false;            // the journal refuses frames (disk full): MQTT waits
  std::string intake_blocked_reason;      // the journal's last failure
  std::uint64_t journal_quarantined_bytes = 0;  // *.bad files; they count toward the bound
  std::int64_t journal_free_bytes = -1;   // on the journal's filesystem; -1: unknown
  std::int64_t uptime_ms = 0;
  std::string version;
};

enum class HealthStatus { ok, degraded, unavailable };

std::string_view to_string(HealthStatus s);

struct HealthThresholds {
  std::uint64_t backlog_frames = 100000;  // journal backlog above this: degraded
  std::int64_t commit_lag_ms = 10000;     // no commit for this long with frames waiting: degraded
};

struct HealthVerdict {
  HealthStatus status = HealthStatus::ok;
  int http_status = 200;             // 503 only when the database is unreachable or intake paused
  std::vector<std::string> reasons;  // human-readable, one per problem; empty when ok
};

// unavailable: the database does not answer, MQTT intake is paused (the journal is at its
// bound, or its filesystem is nearly full), or blocked (the journal cannot write). degraded: MQTT disconnected, backlog or commit lag over the thresholds,
// quarantined journal segments, journal append failures. Reasons for unavailability first.
HealthVerdict assess_health(const HealthSnapshot& h, const HealthThresholds& t = {});

}  // namespace iotd
