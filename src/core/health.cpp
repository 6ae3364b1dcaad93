#include "iotd/core/health.hpp"

namespace iotd {

std::string_view to_string(HealthStatus s) {
  switch (s) {
    case HealthStatus::ok: return "ok";
    case HealthStatus::degraded: return "degraded";
    case HealthStatus::unavailable: return "unavailable";
  }
  return "unavailable";
}

HealthVerdict assess_health(const HealthSnapshot& h, const HealthThresholds& t) {
  HealthVerdict v;
  auto with_detail = [](std::string what, const std::string& detail) {
    if (!detail.empty()) what += ": " + detail;
    return what;
  };

  if (!h.database_ok) v.reasons.push_back(with_detail("database unreachable", h.database_error));
  if (h.ingest_paused) v.reasons.push_back(with_detail("ingest paused", h.ingest_pause_reason));
  if (h.intake_blocked)
    v.reasons.push_back(with_detail("ingest blocked: the journal cannot write (MQTT waits with the frame in hand)",
                                    h.intake_blocked_reason));
  const bool unavailable = !v.reasons.empty();

  // While paused, the pause reason already says what MQTT is doing.
  if (h.mqtt_enabled && !h.mqtt_connected && !h.ingest_paused)
    v.reasons.push_back("mqtt " + (h.mqtt_state.empty() ? std::string("disconnected") : h.mqtt_state));
  if (h.journal_backlog > t.backlog_frames)
    v.reasons.push_back("journal backlog " + std::to_string(h.journal_backlog) + " frames");
  if (h.journal_backlog > 0 && h.commit_lag_ms > t.commit_lag_ms)
    v.reasons.push_back("no commit for " + std::to_string(h.commit_lag_ms / 1000) + " s with frames waiting");
  if (h.journal_quarantined_segments > 0)
    v.reasons.push_back(std::to_string(h.journal_quarantined_segments) + " journal segment(s) quarantined (*.bad in " +
                        h.journal_dir + ", " + std::to_string(h.journal_quarantined_bytes) +
                        " bytes counted toward IOTD_JOURNAL_MAX_BYTES)");
  if (h.journal_append_failures > 0)
    v.reasons.push_back("journal append failures: " + std::to_string(h.journal_append_failures));

  v.status = unavailable ? HealthStatus::unavailable
             : v.reasons.empty() ? HealthStatus::ok
                                 : HealthStatus::degraded;
  v.http_status = unavailable ? 503 : 200;
  return v;
}

}  // namespace iotd
