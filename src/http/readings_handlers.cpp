// Readings: latest values from memory (on the io thread, rendered once per change), and
// history, stats and aggregates from the database.
#include "handlers.hpp"

#include <memory>

#include "api_json.hpp"
#include "iotd/core/time.hpp"

namespace iotd::http::api {

Response latest(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto dev = device_param(req, pp);
  if (!dev) return dev.error().to_response();
  if (*dev) {
    // Rendered once per change of the device's values, not per request (the hot path).
    std::shared_ptr<const std::string> body;
    if (ctx.latest)
      body = ctx.latest->rendered(**dev, [](const storage::DeviceLatest& d) {
        JsonWriter w(128 + d.metrics.size() * 80);
        write_device_latest(w, d);
        return w.take();
      });
    if (!body) return not_found("no readings from device '" + **dev + "' yet").to_response();
    return json_response(200, *body);
  }
  std::vector<storage::DeviceLatest> all;
  if (ctx.latest) all = ctx.latest->all();
  JsonWriter w(64 + all.size() * 200);
  w.begin_object().key("count").integer(static_cast<std::int64_t>(all.size())).key("data").begin_array();
  for (const auto& d : all) write_device_latest(w, d);
  w.end_array().end_object();
  return ok_json(w);
}

Response readings(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = parse_readings_query(req, pp, time::now_ms());
  if (!q) return q.error().to_response();
  auto page = ctx.repo->readings(*q);
  JsonWriter w(256 + page.rows.size() * 180);
  w.begin_object();
  w.key("count").integer(static_cast<std::int64_t>(page.rows.size()));
  w.key("limit").integer(q->limit);
  w.key("offset").integer(q->before ? 0 : q->offset);
  w.key("next");
  if (page.next && !page.rows.empty())
    w.str(encode_cursor(*page.next));
  else
    w.null();
  w.key("data").begin_array();
  for (const auto& r : page.rows) write_reading(w, r);
  w.end_array().end_object();
  return ok_json(w);
}

Response stats(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = parse_stats_query(req, pp, time::now_ms());
  if (!q) return q.error().to_response();
  auto m = ctx.repo->stats(*q);
  JsonWriter w(128 + m.size() * 96);
  w.begin_object();
  w.key("device_id").opt_str(q->device_id);
  w.key("from").opt_iso(q->from_ms);
  w.key("to").opt_iso(q->to_ms);
  w.key("metrics");
  write_stats_object(w, m);
  w.end_object();
  return ok_json(w);
}

Response aggregate(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto p = parse_aggregate_query(req, pp, time::now_ms());
  if (!p) return p.error().to_response();
  auto buckets = ctx.repo->aggregate(p->query);
  JsonWriter w(256 + buckets.size() * 160);
  w.begin_object();
  w.key("device_id").opt_str(p->query.device_id);
  w.key("interval").str(p->interval);
  w.key("from").iso(p->query.from_ms);
  w.key("to").iso(p->query.to_ms);
  w.key("buckets").begin_array();
  for (const auto& b : buckets) {
    w.begin_object().key("start").iso(b.start_ms).key("metrics");
    write_stats_object(w, b.metrics);
    w.end_object();
  }
  w.end_array().end_object();
  return ok_json(w);
}

}  // namespace iotd::http::api
