// The process's metrics, each declared once here with its name, help and unit; the health
// JSON and the Prometheus text are visitors over this registry. Thread-safe: call sites
// update the member they hold (relaxed atomics), never a map or a lock on a hot path.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>

#include "iotd/core/metrics.hpp"

namespace iotd {

class Counters : public metrics::Registry {
 public:
  using Counter = metrics::Counter;
  using Unit = metrics::Unit;

  Counter mqtt_received{*this, {"mqtt_received", "MQTT frames appended to the journal"}};
  Counter mqtt_duplicates{*this, {"mqtt_duplicates", "MQTT frames flagged dup=1 and dropped by the duplicate window"}};
  Counter mqtt_retained_ignored{*this, {"mqtt_retained_ignored", "Retained MQTT messages ignored"}};
  Counter journal_append_failures{*this, {"journal_append_failures", "MQTT frames the journal failed to append"}};
  Counter messages_stored{*this, {"messages_stored", "Message rows committed to the database"}};
  Counter messages_deduplicated{*this, {"messages_deduplicated", "Messages already stored (content deduplication)"}};
  Counter nonfinite_dropped{*this, {"nonfinite_dropped", "Non-finite metric values dropped by the decoder"}};
  Counter clock_skew{*this, {"clock_skew", "Messages whose device time was beyond the allowed clock skew"}};
  Counter bad_timestamp{*this, {"bad_timestamp", "Messages with an unusable timestamp"}};
  Counter device_id_mismatch{*this, {"device_id_mismatch", "Messages whose payload device id differs from the topic's"}};
  Counter alerts_raised{*this, {"alerts_raised", "Alerts raised by the rules"}};
  Counter alerts_cleared{*this, {"alerts_cleared", "Alerts cleared by the rules"}};
  Counter commits{*this, {"commits", "Writer transactions committed"}};
  Counter commit_failures{*this, {"commit_failures", "Writer transactions that failed (each retry counts)"}};
  Counter http_requests{*this, {"http_requests", "HTTP requests answered"}};
  Counter command_acks{*this, {"command_acks", "Device command acks committed"}};
  metrics::Gauge last_commit_at_ms{*this, {"last_commit_at", "Wall-clock time of the last commit", Unit::unix_ms}};
  metrics::LabelledCounter rejects_by_reason{
      *this, {"rejects", "Messages rejected, by reason"}, "reason", kMaxRejectReasons};
  metrics::Histogram commit_duration{
      *this,
      {"commit_duration", "Writer transaction time, from BEGIN to the commit published", Unit::seconds},
      {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5}};
  metrics::Histogram commit_batch_size{
      *this,
      {"commit_batch_size", "Rows (readings and rejects) per writer transaction"},
      {1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000}};
  metrics::RouteStatusCounter http_responses{
      *this, {"http_responses", "HTTP responses by route pattern and status class"}};
  // Commands to devices (issue 9): transitions into each state (pending = issued), and the
  // device acks that changed nothing.
  metrics::LabelledCounter commands_by_state{
      *this, {"commands", "Commands that entered each state (pending: issued)"}, "state", 8};
  Counter command_acks_unmatched{*this, {"command_acks_unmatched", "Command acks naming no command of their device"}};
  Counter command_acks_late{*this, {"command_acks_late", "Command acks for a command that had already finished"}};

  // ---- Operations (issue 11): what GET /metrics adds (docs/architecture.md §11) ----------
  // Per route pattern (label `route`, as http_responses), 0.1 ms to 10 s.
  metrics::RouteHistogram http_request_duration{
      *this,
      {"http_request_duration", "HTTP request time by route pattern, from the request read to the response handed to the socket",
       Unit::seconds},
      {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}};
  Counter mqtt_reconnects{*this, {"mqtt_reconnects", "MQTT connections re-established after the first"}};
  // Sampled from the components' atomics (App's sample_metrics, before each /metrics
  // rendering and by the monitor every 200 ms): copies, never a lock the writer or the MQTT
  // callback takes.
  metrics::Gauge mqtt_connected{*this, {"mqtt_connected", "1 while connected to the MQTT broker, else 0"}};
  metrics::Gauge journal_backlog_frames{
      *this, {"journal_backlog_frames", "Journal frames appended but not yet committed"}};
  metrics::Gauge journal_size{*this, {"journal_size", "Bytes in the journal's live segments", Unit::bytes}};
  Counter journal_fsyncs{*this, {"journal_fsyncs", "fdatasync calls on journal segments"}};
  metrics::Gauge db_pool_in_use{*this, {"db_pool_in_use", "Read-pool database sessions leased right now"}};
  metrics::Gauge db_pool_size{*this, {"db_pool_size", "Database sessions in the read pool"}};
  // Live stream (issue 10).
  metrics::Gauge ws_clients{*this, {"ws_clients", "WebSocket stream clients connected"}};
  Counter ws_frames_sent{*this, {"ws_frames_sent", "WebSocket stream frames written to clients"}};
  Counter ws_clients_dropped{*this, {"ws_clients_dropped", "WebSocket stream clients closed (1008) for falling behind"}};
  // HTTP limits (issue 12, docs/architecture.md §20). http_connections is sampled from the
  // server's own count (App::sample_metrics).
  metrics::Gauge http_connections{
      *this, {"http_connections", "Open HTTP connections, upgraded WebSocket ones included"}};
  Counter http_connections_refused{
      *this, {"http_connections_refused", "HTTP connections refused (503, then closed) at IOTD_HTTP_MAX_CONNECTIONS"}};
  Counter http_rate_limited{
      *this, {"http_rate_limited", "HTTP writes answered 429 by IOTD_RATE_LIMIT_WRITES"}};
  // Several instances (docs/architecture.md §21): whether the relay listens (sampled, as
  // mqtt_connected) and how many of the other instances' readings it brought here.
  metrics::Gauge cluster_relay_connected{
      *this, {"cluster_relay_connected", "1 while the cluster relay listens to the other instances (IOTD_CLUSTER on PostgreSQL), else 0"}};
  Counter cluster_relayed_readings{
      *this, {"cluster_relayed_readings", "Readings committed by other instances and relayed to this one's live streams and latest values"}};
  // TLS (docs/architecture.md §19): untrusted certificates, old protocols, scanners.
  Counter http_tls_handshake_failures{
      *this, {"http_tls_handshake_failures", "HTTPS connections closed because their TLS handshake failed"}};

  // Retention (docs/architecture.md §17): rows deleted by table, and the runs.
  metrics::LabelledCounter retention_deleted_rows{
      *this, {"retention_deleted_rows", "Rows deleted by retention, by table"}, "table", 8};
  Counter retention_runs{*this, {"retention_runs", "Retention runs completed (every expired row deleted)"}};
  metrics::Gauge retention_last_run_at_ms{
      *this, {"retention_last_run", "Wall-clock time the last retention run completed", Unit::unix_ms}};
  metrics::Histogram retention_run_duration{
      *this,
      {"retention_run_duration", "Retention run time, from its first step to its last (pauses included)",
       Unit::seconds},
      {0.01, 0.1, 1, 10, 60, 600, 3600}};
  // Fault handling (issue 12); sampled like the gauges above.
  metrics::Gauge journal_quarantined_files{
      *this, {"journal_quarantined_files", "Quarantined journal files (*.bad), kept for inspection"}};
  metrics::Gauge journal_quarantined_size{
      *this,
      {"journal_quarantined_size", "Bytes in quarantined journal files; they count toward the bound", Unit::bytes}};
  metrics::Gauge journal_filesystem_free{
      *this, {"journal_filesystem_free", "Bytes free for iotd on the journal's filesystem", Unit::bytes}};
  metrics::Gauge mqtt_intake_paused{
      *this, {"mqtt_intake_paused", "1 while MQTT intake is paused (journal bound or free space), else 0"}};
  metrics::Gauge mqtt_intake_blocked{
      *this, {"mqtt_intake_blocked", "1 while the journal refuses frames and MQTT waits, else 0"}};

  // Reject reasons are a small open set (decoder and writer reasons).
  void add_reject(std::string_view reason, std::uint64_t n = 1) { rejects_by_reason.add(reason, n); }
  std::map<std::string, std::uint64_t> rejects() const { return rejects_by_reason.values(); }
  std::uint64_t rejects_total() const { return rejects_by_reason.total(); }

  // The writer, once a transaction has committed.
  void record_commit(std::chrono::steady_clock::duration took, std::size_t rows) noexcept {
    commit_duration.observe(std::chrono::duration<double>(took).count());
    commit_batch_size.observe(static_cast<double>(rows));
  }

  // Names the HTTP routes by their index in the router (http_responses' route label).
  void set_http_routes(std::span<const std::string> patterns) {
    http_responses.set_routes(patterns);
    http_request_duration.set_routes(patterns);
  }
  // The HTTP session, when it sends a response: `route` is the matched route's index in the
  // router, or RouteStatusCounter::kUnmatched.
  void record_http_response(std::size_t route, int status) noexcept {
    http_requests.fetch_add(1, std::memory_order_relaxed);
    http_responses.record(route, status);
  }
  // The HTTP session, with the time from the request read to the response handed over;
  // `route` as in record_http_response.
  void record_http_duration(std::size_t route, std::chrono::steady_clock::duration took) noexcept {
    http_request_duration.observe(route, std::chrono::duration<double>(took).count());
  }

 private:
  static constexpr std::size_t kMaxRejectReasons = 64;
};

}  // namespace iotd
