// Seed 003 compatibility (Flask device manager: /api/devices/{id}/..., /api/stats): flat
// metric rows, device_alerts columns, errors as {"error": msg}.
#include "handlers.hpp"

#include "api_json.hpp"
#include "iotd/core/text.hpp"
#include "iotd/core/time.hpp"

namespace iotd::http::api {

Response seed003_metrics(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (!valid_device_id(id))
    return render(Flavor::seed003, bad_param("Invalid device_id: " + id));
  const std::int64_t now = time::now_ms();
  auto start = time_param(req, {"start"}, now);
  if (!start) return render(Flavor::seed003, start.error());
  auto stop = time_param(req, {"stop"}, now);
  if (!stop) return render(Flavor::seed003, stop.error());
  auto metric = metric_param(req);
  if (!metric) return render(Flavor::seed003, metric.error());
  storage::ReadingQuery q;
  q.device_id = id;
  q.metric = *metric;
  q.from_ms = start->value_or(now - 3'600'000);  // the seed's default range: the last hour
  q.to_ms = stop->value_or(now);
  if (*q.from_ms >= *q.to_ms)
    return render(Flavor::seed003, bad_param("start must be earlier than stop"));
  auto rows = fetch_rows(*ctx.repo, q, kCompatMaxRows, false, nullptr);
  JsonWriter w(64 + rows.size() * 120);
  w.begin_array();
  for (const auto& r : rows) {
    for (const auto& m : parse_metrics(r.metrics_json)) {
      w.begin_object();
      w.key("time").iso(r.ts_ms);
      w.key("device_id").str(r.device_id);
      w.key("metric").str(m.name);
      w.key("value").opt_num(m.value);
      w.end_object();
    }
  }
  w.end_array();
  return ok_json(w);
}

Response seed003_alerts(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  std::vector<storage::Alert> list;
  if (valid_device_id(id)) {
    storage::AlertQuery q;
    q.device_id = id;
    if (auto a = req.param("acknowledged"))  // the seed: anything but "true" is false
      q.acknowledged = text::lower(*a) == "true";
    q.limit = static_cast<int>(kCompatMaxRows);
    list = ctx.repo->alerts(q);
  }
  JsonWriter w(64 + list.size() * 512);
  w.begin_array();
  for (const auto& a : list) write_alert(w, a, true);
  w.end_array();
  return ok_json(w);
}

Response seed003_acknowledge(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  return acknowledge(ctx, req, pp, Flavor::seed003);
}

Response seed003_stats(const ApiContext& ctx, const Request&, const PathParams&) {
  storage::AlertQuery q;
  q.acknowledged = false;
  q.limit = static_cast<int>(kCompatMaxRows);
  const auto unacknowledged = ctx.repo->alerts(q).size();
  // Registered devices by status (a device deleted without purge is not counted).
  const auto by_status = ctx.repo->devices_by_status();
  std::int64_t total = 0;
  for (const auto& [status, n] : by_status) total += n;
  JsonWriter w(128 + by_status.size() * 48);
  w.begin_object();
  w.key("total_devices").integer(total);
  w.key("device_by_status").begin_array();
  for (const auto& [status, n] : by_status)
    w.begin_object().key("status").str(status).key("count").integer(n).end_object();
  w.end_array();
  w.key("unacknowledged_alerts").integer(static_cast<std::int64_t>(unacknowledged));
  w.end_object();
  return ok_json(w);
}

}  // namespace iotd::http::api
