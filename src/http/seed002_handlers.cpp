// Seed 002 compatibility (Flask, /api/sensors/*): its shapes and its clamping of limit and
// offset; errors as {"error": msg}.
#include "handlers.hpp"

#include <algorithm>

#include "api_json.hpp"

namespace iotd::http::api {
namespace {

// Seed 002 clamps limit/offset instead of rejecting them; a non-integer is a 400.
std::optional<std::int64_t> clamped(const Request& req, const char* name, std::int64_t def,
                                    std::int64_t min, std::int64_t max, bool* bad) {
  auto v = req.param(name);
  if (!v || v->empty()) return def;
  auto n = parse_int(*v);
  if (!n) {
    *bad = true;
    return std::nullopt;
  }
  return std::clamp(*n, min, max);
}

// device_id for seed routes: absent -> nullopt; invalid -> *invalid (no row can match).
std::optional<std::string> seed_device(const Request& req, bool* invalid) {
  auto v = req.param("device_id");
  *invalid = false;
  if (!v || v->empty()) return std::nullopt;
  if (!valid_device_id(*v)) *invalid = true;
  return v;
}

}  // namespace

Response seed002_latest(const ApiContext& ctx, const Request& req, const PathParams&) {
  bool invalid = false;
  auto dev = seed_device(req, &invalid);
  std::optional<storage::StoredReading> row;
  if (!invalid) {
    storage::ReadingQuery q;
    q.device_id = dev;
    q.limit = 1;
    auto page = ctx.repo->readings(q);
    if (!page.rows.empty()) row = std::move(page.rows.front());
  }
  JsonWriter w(256);
  if (!row) {
    w.begin_object().key("message").str("No sensor readings found").key("device_id").opt_str(dev).end_object();
    return json_response(404, w.take());
  }
  w.begin_object().key("data");
  write_flat_reading(w, *row, "created_at");
  w.end_object();
  return ok_json(w);
}

Response seed002_history(const ApiContext& ctx, const Request& req, const PathParams&) {
  bool bad = false;
  auto limit = clamped(req, "limit", 100, 1, 10'000, &bad);
  if (bad) return render(Flavor::seed002, bad_param("Invalid limit parameter"));
  auto offset = clamped(req, "offset", 0, 0, 10'000'000, &bad);
  if (bad) return render(Flavor::seed002, bad_param("Invalid offset parameter"));
  bool invalid = false;
  auto dev = seed_device(req, &invalid);
  std::vector<storage::StoredReading> rows;
  if (!invalid) {
    storage::ReadingQuery q;
    q.device_id = dev;
    q.limit = static_cast<int>(*limit);
    q.offset = static_cast<int>(*offset);
    rows = ctx.repo->readings(q).rows;
  }
  JsonWriter w(256 + rows.size() * 200);
  w.begin_object();
  w.key("count").integer(static_cast<std::int64_t>(rows.size()));
  w.key("limit").integer(*limit);
  w.key("offset").integer(*offset);
  w.key("device_id").opt_str(dev);
  w.key("data").begin_array();
  for (const auto& r : rows) write_flat_reading(w, r, "created_at");
  w.end_array().end_object();
  return ok_json(w);
}

Response seed002_stats(const ApiContext& ctx, const Request& req, const PathParams&) {
  bool invalid = false;
  auto dev = seed_device(req, &invalid);
  std::map<std::string, storage::Stat> m;
  if (!invalid) {
    storage::StatsQuery q;
    q.device_id = dev;
    m = ctx.repo->stats(q);
  }
  // Seed 002 counted rows; a message carries each of its metrics once, so the largest
  // per-metric count is the message count when every message has the busiest metric.
  std::int64_t count = 0;
  for (const auto& [_, s] : m) count = std::max(count, s.count);
  JsonWriter w(128 + m.size() * 48);
  w.begin_object().key("stats").begin_object().key("count").integer(count);
  for (const auto& [name, s] : m)
    if (s.count > 0) w.key("avg_" + name).num(s.sum / static_cast<double>(s.count));
  w.end_object().key("device_id").opt_str(dev).end_object();
  return ok_json(w);
}

Response seed002_ml_data(const ApiContext& ctx, const Request& req, const PathParams&) {
  bool bad = false;
  auto limit = clamped(req, "limit", 1000, 1, 100'000, &bad);
  if (bad) return render(Flavor::seed002, bad_param("Invalid limit parameter"));
  bool invalid = false;
  auto dev = seed_device(req, &invalid);
  std::vector<storage::StoredReading> rows;
  if (!invalid) {
    storage::ReadingQuery q;
    q.device_id = dev;
    rows = fetch_rows(*ctx.repo, q, *limit, true, nullptr);
    std::reverse(rows.begin(), rows.end());  // seed 002 lists newest first
  }
  auto cols = metric_columns(rows);
  JsonWriter w(256 + rows.size() * (48 + cols.names.size() * 12));
  w.begin_object();
  w.key("sample_count").integer(static_cast<std::int64_t>(rows.size()));
  w.key("device_id").opt_str(dev);
  w.key("data").begin_object();
  w.key("timestamps").begin_array();
  for (const auto& r : rows) w.iso(r.ts_ms);
  w.end_array();
  for (const auto& name : cols.names) {
    auto key = metric_plural(name);
    if (key == "timestamps" || key == "device_ids") continue;
    w.key(key);
    write_column(w, cols, name);
  }
  w.key("device_ids").begin_array();
  for (const auto& r : rows) w.str(r.device_id);
  w.end_array();
  w.end_object().end_object();
  return ok_json(w);
}

}  // namespace iotd::http::api
