// Health handlers: readiness, liveness and the seeds' health routes, from memory on the
// io thread. The other REST handlers live in one file per resource (handlers.hpp); the
// route table is routes.cpp.
#include "iotd/http/api.hpp"

#include <algorithm>
#include <memory>
#include <utility>

#include "handlers.hpp"
#include "json_writer.hpp"

namespace iotd::http::api {
namespace {

HealthSnapshot snapshot(const ApiContext& ctx) {
  HealthSnapshot h = ctx.health ? ctx.health() : HealthSnapshot{};
  if (h.version.empty()) h.version = ctx.version;
  return h;
}

void write_counters(JsonWriter& w, const Counters& c) {
  auto u = [&](const char* name, const std::atomic<std::uint64_t>& v) {
    w.key(name).integer(static_cast<std::int64_t>(v.load(std::memory_order_relaxed)));
  };
  w.begin_object();
  u("mqtt_received", c.mqtt_received);
  u("mqtt_duplicates", c.mqtt_duplicates);
  u("mqtt_retained_ignored", c.mqtt_retained_ignored);
  u("journal_append_failures", c.journal_append_failures);
  u("messages_stored", c.messages_stored);
  u("messages_deduplicated", c.messages_deduplicated);
  u("nonfinite_dropped", c.nonfinite_dropped);
  u("clock_skew", c.clock_skew);
  u("bad_timestamp", c.bad_timestamp);
  u("device_id_mismatch", c.device_id_mismatch);
  u("alerts_raised", c.alerts_raised);
  u("alerts_cleared", c.alerts_cleared);
  u("commits", c.commits);
  u("commit_failures", c.commit_failures);
  u("http_requests", c.http_requests);
  auto last = c.last_commit_at_ms.load(std::memory_order_relaxed);
  w.key("last_commit_at");
  if (last > 0)
    w.iso(last);
  else
    w.null();
  auto rejects = c.rejects();
  std::uint64_t total = 0;
  w.key("rejects").begin_object();
  for (const auto& [reason, n] : rejects) {
    w.key(reason).integer(static_cast<std::int64_t>(n));
    total += n;
  }
  w.end_object();
  w.key("rejects_total").integer(static_cast<std::int64_t>(total));
  w.end_object();
}

Response health(const ApiContext& ctx, const Request&, const PathParams&) {
  HealthSnapshot h = snapshot(ctx);
  std::vector<std::string> reasons = h.degraded_reasons;
  auto add_reason = [&](std::string r) {
    if (std::find(reasons.begin(), reasons.end(), r) == reasons.end()) reasons.push_back(std::move(r));
  };
  if (!h.database_ok)
    add_reason(h.database_error.empty() ? "database unreachable"
                                        : "database unreachable: " + h.database_error);
  if (h.ingest_paused)
    add_reason(h.ingest_pause_reason.empty() ? "ingest paused"
                                             : "ingest paused: " + h.ingest_pause_reason);
  const bool unavailable = !h.database_ok || h.ingest_paused;
  const char* status = unavailable ? "unavailable" : reasons.empty() ? "ok" : "degraded";

  JsonWriter w(1024);
  w.begin_object();
  w.key("status").str(status);
  w.key("reasons").begin_array();
  for (const auto& r : reasons) w.str(r);
  w.end_array();
  w.key("database").begin_object();
  w.key("ok").boolean(h.database_ok);
  w.key("backend").str_or_null(h.database_backend);
  w.key("error").str_or_null(h.database_ok ? std::string_view() : std::string_view(h.database_error));
  w.end_object();
  w.key("mqtt").begin_object();
  w.key("enabled").boolean(h.mqtt_enabled);
  w.key("connected").boolean(h.mqtt_connected);
  w.key("url").str_or_null(h.mqtt_url);
  w.end_object();
  w.key("journal").begin_object();
  w.key("backlog").integer(static_cast<std::int64_t>(h.journal_backlog));
  w.key("bytes").integer(static_cast<std::int64_t>(h.journal_bytes));
  w.key("commit_lag_ms").integer(h.commit_lag_ms);
  w.end_object();
  w.key("ingest").begin_object();
  w.key("paused").boolean(h.ingest_paused);
  w.key("reason").str_or_null(h.ingest_paused ? std::string_view(h.ingest_pause_reason) : std::string_view());
  w.end_object();
  w.key("uptime_s").integer(h.uptime_ms / 1000);
  w.key("version").str(h.version);
  w.key("counters");
  if (ctx.counters)
    write_counters(w, *ctx.counters);
  else
    w.begin_object().end_object();
  w.end_object();
  auto r = json_response(unavailable ? 503 : 200, w.take());
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response health_live(const ApiContext&, const Request&, const PathParams&) {
  return json_response(200, "{\"status\":\"alive\"}");
}

Response compat_health(const ApiContext& ctx, const Request&, const PathParams&) {
  JsonWriter w(96);
  w.begin_object().key("status").str("healthy").key("service").str("iotd").key("version").str(ctx.version).end_object();
  return ok_json(w);
}

}  // namespace

void register_health_routes(Router& router, std::shared_ptr<const ApiContext> ctx) {
  // From memory, on the io thread.
  auto io = [&](const char* path, Fn fn) {
    router.add("GET", path, Exec::io,
               [ctx, fn](const Request& req, const PathParams& pp, Respond respond) {
                 respond(fn(*ctx, req, pp));
               });
  };

  io("/api/v1/health", health);
  io("/api/v1/health/live", health_live);
  io("/api/health", compat_health);
  io("/health", compat_health);
}

}  // namespace iotd::http::api
