// Unit tests for the health policy (iotd/core/health.hpp): facts in, verdict out.
#include "iotd/core/health.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace iotd {
namespace {

using Reasons = std::vector<std::string>;

// Everything fine: database answers, MQTT connected, nothing waiting.
HealthSnapshot all_good() {
  HealthSnapshot h;
  h.database_backend = "postgresql";
  h.mqtt_enabled = true;
  h.mqtt_connected = true;
  h.mqtt_state = "connected";
  h.journal_dir = "/var/lib/iotd/journal";
  return h;
}

TEST(HealthPolicy, AllGoodIsOkWith200AndNoReasons) {
  auto v = assess_health(all_good());
  EXPECT_EQ(v.status, HealthStatus::ok);
  EXPECT_EQ(to_string(v.status), "ok");
  EXPECT_EQ(v.http_status, 200);
  EXPECT_EQ(v.reasons, Reasons{});
}

TEST(HealthPolicy, DatabaseDownIsUnavailable503WithExactlyOneDatabaseReason) {
  auto h = all_good();
  h.database_ok = false;
  h.database_error = "connection refused";
  auto v = assess_health(h);
  EXPECT_EQ(v.status, HealthStatus::unavailable);
  EXPECT_EQ(to_string(v.status), "unavailable");
  EXPECT_EQ(v.http_status, 503);
  EXPECT_EQ(v.reasons, Reasons{"database unreachable: connection refused"});

  h.database_error.clear();
  EXPECT_EQ(assess_health(h).reasons, Reasons{"database unreachable"});
}

TEST(HealthPolicy, MqttDownIsDegradedButStill200) {
  auto h = all_good();
  h.mqtt_connected = false;
  h.mqtt_state = "disconnected: connection lost";
  auto v = assess_health(h);
  EXPECT_EQ(v.status, HealthStatus::degraded);
  EXPECT_EQ(to_string(v.status), "degraded");
  EXPECT_EQ(v.http_status, 200);
  EXPECT_EQ(v.reasons, Reasons{"mqtt disconnected: connection lost"});

  h.mqtt_state.clear();
  EXPECT_EQ(assess_health(h).reasons, Reasons{"mqtt disconnected"});
}

TEST(HealthPolicy, MqttDisabledIsNotAProblem) {
  auto h = all_good();
  h.mqtt_enabled = false;
  h.mqtt_connected = false;
  EXPECT_EQ(assess_health(h).status, HealthStatus::ok);
}

TEST(HealthPolicy, BacklogAndCommitLagOverTheirThresholdsAreDegraded) {
  HealthThresholds t;
  t.backlog_frames = 1000;
  t.commit_lag_ms = 10'000;
  auto h = all_good();
  h.journal_backlog = 1000;
  h.commit_lag_ms = 10'000;
  EXPECT_EQ(assess_health(h, t).status, HealthStatus::ok) << "at the thresholds is still fine";

  h.journal_backlog = 1001;
  h.commit_lag_ms = 12'500;
  auto v = assess_health(h, t);
  EXPECT_EQ(v.status, HealthStatus::degraded);
  EXPECT_EQ(v.http_status, 200);
  EXPECT_EQ(v.reasons, (Reasons{"journal backlog 1001 frames", "no commit for 12 s with frames waiting"}));
}

TEST(HealthPolicy, CommitLagWithoutBacklogIsNotAProblem) {
  auto h = all_good();
  h.journal_backlog = 0;
  h.commit_lag_ms = 3'600'000;
  EXPECT_EQ(assess_health(h).status, HealthStatus::ok);
}

TEST(HealthPolicy, PausedIntakeIsUnavailable503AndSaysWhy) {
  auto h = all_good();
  h.ingest_paused = true;
  h.mqtt_connected = false;  // intake stopped: the pause explains it, no second MQTT reason
  h.mqtt_state = "paused: journal at its bound";
  h.ingest_pause_reason = "journal at its bound (1 GiB)";
  auto v = assess_health(h);
  EXPECT_EQ(v.status, HealthStatus::unavailable);
  EXPECT_EQ(v.http_status, 503);
  EXPECT_EQ(v.reasons, Reasons{"ingest paused: journal at its bound (1 GiB)"});
}

TEST(HealthPolicy, JournalQuarantineAndAppendFailuresAreDegraded) {
  auto h = all_good();
  h.journal_quarantined_segments = 2;
  h.journal_quarantined_bytes = 4096;
  h.journal_append_failures = 5;
  auto v = assess_health(h);
  EXPECT_EQ(v.status, HealthStatus::degraded);
  EXPECT_EQ(v.reasons, (Reasons{"2 journal segment(s) quarantined (*.bad in /var/lib/iotd/journal, 4096 bytes "
                                "counted toward IOTD_JOURNAL_MAX_BYTES)",
                                "journal append failures: 5"}));
}

// Issue 12: the journal refuses frames (a full disk) and MQTT waits with one in hand.
TEST(HealthPolicy, BlockedIntakeIsUnavailable503AndSaysWhy) {
  auto h = all_good();
  h.intake_blocked = true;
  h.intake_blocked_reason = "write: No space left on device";
  h.journal_append_failures = 1;
  auto v = assess_health(h);
  EXPECT_EQ(v.status, HealthStatus::unavailable);
  EXPECT_EQ(v.http_status, 503);
  EXPECT_EQ(v.reasons, (Reasons{"ingest blocked: the journal cannot write (MQTT waits with the frame in hand): "
                                "write: No space left on device",
                                "journal append failures: 1"}));
}

TEST(HealthPolicy, SeveralProblemsAtOnceListUnavailabilityFirstAndOneReasonEach) {
  // A database outage as the app sees it: writes fail, frames pile up, MQTT flaps.
  auto h = all_good();
  h.database_ok = false;
  h.database_error = "server closed the connection";
  h.mqtt_connected = false;
  h.mqtt_state = "connecting";
  h.journal_backlog = 250'000;
  h.commit_lag_ms = 60'000;
  auto v = assess_health(h);
  EXPECT_EQ(v.status, HealthStatus::unavailable);
  EXPECT_EQ(v.http_status, 503);
  EXPECT_EQ(v.reasons, (Reasons{"database unreachable: server closed the connection", "mqtt connecting",
                                "journal backlog 250000 frames",
                                "no commit for 60 s with frames waiting"}));
  std::size_t about_database = 0;
  for (const auto& r : v.reasons) about_database += r.find("database") != std::string::npos;
  EXPECT_EQ(about_database, 1u);

  h.ingest_paused = true;
  h.ingest_pause_reason = "journal full";
  v = assess_health(h);
  EXPECT_EQ(v.http_status, 503);
  EXPECT_EQ(v.reasons.at(0), "database unreachable: server closed the connection");
  EXPECT_EQ(v.reasons.at(1), "ingest paused: journal full");
  EXPECT_EQ(v.reasons.size(), 4u) << "no MQTT reason while paused";
}

}  // namespace
}  // namespace iotd
