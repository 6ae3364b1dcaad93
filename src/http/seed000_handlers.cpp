// Seed 000 compatibility (FastAPI: /sensors/*, /alerts, /stats): bare arrays, flattened
// rows, errors as 422 {"detail": msg}.
#include "handlers.hpp"

#include <algorithm>

#include "api_json.hpp"
#include "iotd/core/time.hpp"

namespace iotd::http::api {

Response seed000_latest(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto dev = device_param(req, {});
  if (!dev) return render(Flavor::seed000, ApiError{422, "invalid_parameter", dev.error().message});
  std::vector<storage::DeviceLatest> list;
  if (ctx.latest) {
    if (*dev) {
      if (auto d = ctx.latest->device(**dev)) list.push_back(std::move(*d));
    } else {
      list = ctx.latest->all();
    }
  }
  JsonWriter w(64 + list.size() * 160);
  w.begin_array();
  for (const auto& d : list) {
    std::int64_t ts = 0;
    w.begin_object().key("device_id").str(d.device_id);
    for (const auto& [name, v] : d.metrics) {
      if (name == "timestamp" || name == "received_at") continue;
      w.key(name).num(v.value);
      ts = std::max(ts, v.ts_ms);
    }
    w.key("timestamp").iso(ts).key("received_at").iso(d.last_seen_at_ms).end_object();
  }
  w.end_array();
  return ok_json(w);
}

Response seed000_history(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto q = parse_readings_query(req, {}, time::now_ms());
  if (!q) return render(Flavor::seed000, ApiError{422, "invalid_parameter", q.error().message});
  auto page = ctx.repo->readings(*q);
  JsonWriter w(64 + page.rows.size() * 200);
  w.begin_array();
  for (const auto& r : page.rows) write_flat_reading(w, r, "received_at");
  w.end_array();
  return ok_json(w);
}

Response seed000_alerts(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = parse_alerts_query(req, pp, time::now_ms());
  if (!q) return render(Flavor::seed000, ApiError{422, "invalid_parameter", q.error().message});
  auto list = ctx.repo->alerts(*q);
  JsonWriter w(64 + list.size() * 512);
  w.begin_array();
  for (const auto& a : list) write_alert(w, a, true);
  w.end_array();
  return ok_json(w);
}

Response seed000_stats(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto q = parse_stats_query(req, {}, time::now_ms());
  if (!q) return render(Flavor::seed000, ApiError{422, "invalid_parameter", q.error().message});
  auto m = ctx.repo->stats(*q);
  JsonWriter w(128 + m.size() * 96);
  w.begin_object();
  w.key("total_devices").integer(ctx.latest ? static_cast<std::int64_t>(ctx.latest->device_count()) : 0);
  w.key("metrics");
  write_stats_object(w, m);
  w.end_object();
  return ok_json(w);
}

}  // namespace iotd::http::api
