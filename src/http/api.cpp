// REST handlers (DESIGN §6): parameters validated by params.cpp, database reads on the
// blocking pool (Exec::blocking), latest values and health from memory on the io thread.
// JSON is written directly (json_writer.hpp); nlohmann only parses stored metric objects
// and request bodies.
#include "iotd/http/api.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <memory>
#include <set>
#include <utility>

#include "iotd/core/time.hpp"
#include "iotd/http/health_routes.hpp"
#include "json_writer.hpp"
#include "params.hpp"

namespace iotd::http {
namespace {

using api::ApiError;
using storage::StoredReading;

// Rows per repository call when exports and compat routes page through a range: keeps
// each read transaction short.
constexpr int kPage = 5000;
// Caps for the compatibility routes that return a whole range in one body.
constexpr std::int64_t kCompatMaxRows = 10'000;

// Error shapes: v1 {"error":{"code","message"}}; seed 000 (FastAPI) {"detail": msg};
// seeds 002 and 003 (Flask) {"error": msg}.
enum class Flavor { v1, seed000, seed002, seed003 };

Response render(Flavor f, const ApiError& e) {
  if (f == Flavor::v1) return e.to_response();
  JsonWriter w(64 + e.message.size());
  w.begin_object().key(f == Flavor::seed000 ? "detail" : "error").str(e.message).end_object();
  return json_response(e.status, w.take());
}

ApiError db_error() {
  return ApiError{503, "database_unavailable",
                  "the database query failed; try again later (details are in the server log)"};
}

template <class F>
Response guarded(Flavor f, const char* what, F&& body) {
  try {
    return body();
  } catch (const std::exception& e) {
    spdlog::warn("http: {} failed: {}", what, e.what());
    return render(f, db_error());
  }
}

// ---- stored values ---------------------------------------------------------------------

struct MetricValue {
  std::string name;
  std::optional<double> value;  // nullopt: not a number in storage
};

// A stored metrics object as (name, value) pairs sorted by name.
std::vector<MetricValue> parse_metrics(std::string_view json) {
  std::vector<MetricValue> out;
  if (json.empty()) return out;
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (!j.is_object()) return out;
  out.reserve(j.size());
  for (auto it = j.begin(); it != j.end(); ++it) {
    std::optional<double> v;
    if (it->is_number())
      v = it->get<double>();
    else if (it->is_boolean())
      v = it->get<bool>() ? 1.0 : 0.0;
    out.push_back({it.key(), v});
  }
  return out;
}

const std::optional<double>* find_metric(const std::vector<MetricValue>& ms, std::string_view name) {
  auto it = std::lower_bound(ms.begin(), ms.end(), name,
                             [](const MetricValue& m, std::string_view n) { return m.name < n; });
  if (it == ms.end() || it->name != name) return nullptr;
  return &it->value;
}

// Readings as columns (exports): each row's metrics parsed once, and the sorted union of
// metric names.
struct MetricColumns {
  std::vector<std::vector<MetricValue>> rows;
  std::set<std::string> names;
};

MetricColumns metric_columns(const std::vector<StoredReading>& rows) {
  MetricColumns c;
  c.rows.reserve(rows.size());
  for (const auto& r : rows) {
    c.rows.push_back(parse_metrics(r.metrics_json));
    for (const auto& m : c.rows.back()) c.names.insert(m.name);
  }
  return c;
}

// One metric's column: [v0, v1, …] with null where a row lacks it.
void write_column(JsonWriter& w, const MetricColumns& c, const std::string& name) {
  w.begin_array();
  for (const auto& ms : c.rows) {
    auto v = find_metric(ms, name);
    w.opt_num(v ? *v : std::nullopt);
  }
  w.end_array();
}

storage::Cursor cursor_of(const StoredReading& r) { return storage::Cursor{r.ts_ms, r.id}; }

// Up to `limit` rows in time order. With `from`: the first rows from `from` on; without:
// the most recent rows. Sets *truncated when more rows match.
std::vector<StoredReading> fetch_rows(storage::Repository& repo, storage::ReadingQuery base,
                                      std::int64_t limit, bool newest_when_open,
                                      bool* truncated) {
  std::vector<StoredReading> rows;
  const bool newest = newest_when_open && !base.from_ms;
  base.oldest_first = !newest;
  base.offset = 0;
  while (static_cast<std::int64_t>(rows.size()) < limit) {
    base.limit = static_cast<int>(std::min<std::int64_t>(kPage, limit - rows.size()));
    auto page = repo.readings(base);
    const std::size_t got = page.rows.size();
    for (auto& r : page.rows) rows.push_back(std::move(r));
    if (got < static_cast<std::size_t>(base.limit) || got == 0) break;
    if (newest)
      base.before = cursor_of(rows.back());
    else
      base.after = cursor_of(rows.back());
  }
  if (truncated) {
    *truncated = false;
    if (static_cast<std::int64_t>(rows.size()) == limit && !rows.empty()) {
      base.limit = 1;
      if (newest)
        base.before = cursor_of(rows.back());
      else
        base.after = cursor_of(rows.back());
      *truncated = !repo.readings(base).rows.empty();
    }
  }
  if (newest) std::reverse(rows.begin(), rows.end());
  return rows;
}

// ---- JSON pieces ---------------------------------------------------------------------

void write_reading(JsonWriter& w, const StoredReading& r) {
  w.begin_object();
  w.key("id").integer(r.id);
  w.key("device_id").str(r.device_id);
  w.key("timestamp").iso(r.ts_ms);
  w.key("received_at").iso(r.received_at_ms);
  w.key("metrics").raw(r.metrics_json.empty() ? std::string_view("{}") : r.metrics_json);
  w.end_object();
}

// Seed shape: metrics flattened into the row.
void write_flat_reading(JsonWriter& w, const StoredReading& r, std::string_view created_key) {
  w.begin_object();
  w.key("id").integer(r.id);
  w.key("device_id").str(r.device_id);
  for (const auto& m : parse_metrics(r.metrics_json)) {
    if (m.name == "id" || m.name == created_key) continue;  // never shadow the row's fields
    w.key(m.name).opt_num(m.value);
  }
  w.key("timestamp").iso(r.ts_ms);
  w.key(created_key).iso(r.received_at_ms);
  w.end_object();
}

void write_stat(JsonWriter& w, const storage::Stat& s) {
  w.begin_object().key("count").integer(s.count);
  if (s.count > 0) {
    w.key("min").num(s.min).key("max").num(s.max).key("avg").num(s.sum / static_cast<double>(s.count));
  } else {
    w.key("min").null().key("max").null().key("avg").null();
  }
  w.end_object();
}

void write_stats_object(JsonWriter& w, const std::map<std::string, storage::Stat>& m) {
  w.begin_object();
  for (const auto& [name, s] : m) {
    w.key(name);
    write_stat(w, s);
  }
  w.end_object();
}

void write_alert(JsonWriter& w, const storage::Alert& a, bool compat) {
  w.begin_object();
  w.key("id").integer(a.id);
  w.key("device_id").str(a.device_id);
  w.key("metric").str(a.metric);
  w.key("kind").str(a.kind);
  w.key("severity").str(a.severity);
  w.key("state").str(a.state);
  w.key("message").str(a.message);
  w.key("threshold_min").opt_num(a.threshold_min);
  w.key("threshold_max").opt_num(a.threshold_max);
  w.key("first_value").num(a.first_value);
  w.key("last_value").num(a.last_value);
  w.key("peak_value").num(a.peak_value);
  w.key("count").integer(a.count);
  w.key("raised_at").iso(a.raised_ts_ms);
  w.key("received_at").iso(a.raised_received_at_ms);
  w.key("updated_at").iso(a.updated_ts_ms);
  w.key("cleared_at").opt_iso(a.cleared_ts_ms);
  w.key("acknowledged").boolean(a.acknowledged);
  w.key("acknowledged_at").opt_iso(a.acknowledged_at_ms);
  w.key("acknowledged_by").str_or_null(a.acknowledged_by);
  if (compat) {  // seed 003's device_alerts columns
    w.key("alert_type").str(a.kind);
    w.key("created_at").iso(a.raised_received_at_ms);
  }
  w.end_object();
}

void write_device_latest(JsonWriter& w, const storage::DeviceLatest& d) {
  w.begin_object();
  w.key("device_id").str(d.device_id);
  w.key("last_seen_at").iso(d.last_seen_at_ms);
  w.key("metrics").begin_object();
  for (const auto& [name, v] : d.metrics) {
    w.key(name).begin_object().key("value").num(v.value).key("timestamp").iso(v.ts_ms).end_object();
  }
  w.end_object();
  w.end_object();
}

Response ok_json(JsonWriter& w) { return json_response(200, w.take()); }

ApiError not_found(std::string message) { return ApiError{404, "not_found", std::move(message)}; }

// ---- latest (memory, io thread) --------------------------------------------------------

Response latest(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto dev = api::device_param(req, pp);
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

// ---- readings, stats, aggregate --------------------------------------------------------

Response readings(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = api::parse_readings_query(req, pp, time::now_ms());
  if (!q) return q.error().to_response();
  auto page = ctx.repo->readings(*q);
  JsonWriter w(256 + page.rows.size() * 180);
  w.begin_object();
  w.key("count").integer(static_cast<std::int64_t>(page.rows.size()));
  w.key("limit").integer(q->limit);
  w.key("offset").integer(q->before ? 0 : q->offset);
  w.key("next");
  if (page.next && !page.rows.empty())
    w.str(api::encode_cursor(*page.next));
  else
    w.null();
  w.key("data").begin_array();
  for (const auto& r : page.rows) write_reading(w, r);
  w.end_array().end_object();
  return ok_json(w);
}

Response stats(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = api::parse_stats_query(req, pp, time::now_ms());
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
  auto p = api::parse_aggregate_query(req, pp, time::now_ms());
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

// ---- export -----------------------------------------------------------------------------

void append_csv_field(std::string& out, std::string_view s) {
  if (s.find_first_of(",\"\r\n") == std::string_view::npos) {
    out.append(s);
    return;
  }
  out.push_back('"');
  for (char c : s) {
    if (c == '"') out.push_back('"');
    out.push_back(c);
  }
  out.push_back('"');
}

struct ExportStream {
  storage::Repository* repo = nullptr;
  api::ExportFormat format = api::ExportFormat::csv;
  storage::ReadingQuery query;         // oldest first; `after` advances
  std::int64_t remaining = 0;
  std::vector<std::string> columns;    // csv metric columns
  bool header_done = false;

  // One chunk: the header (csv) and the next page of rows. False after the last one.
  bool next(std::string& out) {
    if (format == api::ExportFormat::csv && !header_done) {
      out.append("timestamp,device_id");
      for (const auto& c : columns) {
        out.push_back(',');
        append_csv_field(out, c);
      }
      out.push_back('\n');
    }
    header_done = true;
    if (remaining <= 0) return false;
    query.limit = static_cast<int>(std::min<std::int64_t>(kPage, remaining));
    auto page = repo->readings(query);
    out.reserve(out.size() + page.rows.size() * 120);
    JsonWriter w(0);
    for (const auto& r : page.rows) {
      if (format == api::ExportFormat::csv) {
        append_iso8601(out, r.ts_ms);
        out.push_back(',');
        append_csv_field(out, r.device_id);
        auto ms = parse_metrics(r.metrics_json);
        for (const auto& c : columns) {
          out.push_back(',');
          if (auto v = find_metric(ms, c); v && *v && std::isfinite(**v)) append_double(out, **v);
        }
        out.push_back('\n');
      } else {
        w.buffer().clear();
        write_reading(w, r);
        out.append(w.buffer());
        out.push_back('\n');
      }
    }
    remaining -= static_cast<std::int64_t>(page.rows.size());
    if (page.rows.size() < static_cast<std::size_t>(query.limit) || page.rows.empty()) return false;
    query.after = cursor_of(page.rows.back());
    return remaining > 0;
  }
};

Response export_data(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto p = api::parse_export_query(req, time::now_ms());
  if (!p) return p.error().to_response();
  storage::ReadingQuery base;
  base.device_id = p->device_id;
  base.metric = p->metric;
  base.from_ms = p->range.from;
  base.to_ms = p->range.to;

  if (p->format == api::ExportFormat::columnar) {
    bool truncated = false;
    auto rows = fetch_rows(*ctx.repo, base, p->limit, /*newest_when_open=*/true, &truncated);
    auto cols = metric_columns(rows);
    JsonWriter w(256 + rows.size() * (64 + cols.names.size() * 12));
    w.begin_object();
    w.key("sample_count").integer(static_cast<std::int64_t>(rows.size()));
    w.key("truncated").boolean(truncated);
    w.key("columns").begin_object();
    w.key("timestamp").begin_array();
    for (const auto& r : rows) w.iso(r.ts_ms);
    w.end_array();
    w.key("device_id").begin_array();
    for (const auto& r : rows) w.str(r.device_id);
    w.end_array();
    for (const auto& name : cols.names) {
      if (name == "timestamp" || name == "device_id") continue;
      w.key(name);
      write_column(w, cols, name);
    }
    w.end_object().end_object();
    return ok_json(w);
  }

  auto state = std::make_shared<ExportStream>();
  state->repo = ctx.repo;
  state->format = p->format;
  state->query = base;
  state->query.oldest_first = true;
  state->remaining = p->limit;
  if (p->format == api::ExportFormat::csv) {
    // The header needs every column up front: the metric filter, or the metrics the
    // rollups know in the range.
    if (p->metric) {
      state->columns.push_back(*p->metric);
    } else {
      storage::StatsQuery sq;
      sq.device_id = p->device_id;
      sq.from_ms = p->range.from;
      sq.to_ms = p->range.to;
      for (const auto& [name, _] : ctx.repo->stats(sq))
        if (name != "timestamp" && name != "device_id") state->columns.push_back(name);
    }
  }
  Response r;
  const bool csv = p->format == api::ExportFormat::csv;
  r.content_type = csv ? "text/csv; charset=utf-8" : "application/x-ndjson";
  r.headers.emplace_back("Content-Disposition", csv ? "attachment; filename=\"iotd-export.csv\""
                                                    : "attachment; filename=\"iotd-export.ndjson\"");
  r.stream = [state](std::string& chunk) { return state->next(chunk); };
  return r;
}

// ---- alerts, rules, rejects ----------------------------------------------------------

Response alerts(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = api::parse_alerts_query(req, pp, time::now_ms());
  if (!q) return q.error().to_response();
  auto list = ctx.repo->alerts(*q);
  JsonWriter w(128 + list.size() * 512);
  w.begin_object();
  w.key("count").integer(static_cast<std::int64_t>(list.size()));
  w.key("limit").integer(q->limit);
  w.key("offset").integer(q->offset);
  w.key("data").begin_array();
  for (const auto& a : list) write_alert(w, a, false);
  w.end_array().end_object();
  return ok_json(w);
}

Response alert_by_id(const ApiContext& ctx, const Request&, const PathParams& pp) {
  auto id = api::parse_id(pp.at("id"));
  if (!id) return api::bad_param("alert id must be a positive integer").to_response();
  auto a = ctx.repo->alert(*id);
  if (!a) return not_found("no alert with id " + std::to_string(*id)).to_response();
  JsonWriter w(512);
  write_alert(w, *a, false);
  return ok_json(w);
}

// Shared by POST /api/v1/alerts/{id}/ack and seed 003's /api/alerts/{id}/acknowledge.
Response acknowledge(const ApiContext& ctx, const Request& req, const PathParams& pp, Flavor f) {
  if (auto denied = api::check_admin(req, ctx.admin_key)) {
    auto r = render(f, *denied);
    if (denied->status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  auto id = api::parse_id(pp.at("id"));
  if (!id) {
    if (f != Flavor::v1) return render(f, not_found("Alert not found"));
    return api::bad_param("alert id must be a positive integer").to_response();
  }
  std::string by = "admin";
  std::string_view body = req.body;
  while (!body.empty() && (body.front() == ' ' || body.front() == '\n' || body.front() == '\r' ||
                           body.front() == '\t'))
    body.remove_prefix(1);
  if (!body.empty()) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object())
      return render(f, api::bad_param("the body must be a JSON object such as {\"by\": \"alice\"}, or empty"));
    if (auto it = j.find("by"); it != j.end() && !it->is_null()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
          it->get_ref<const std::string&>().size() > 128)
        return render(f, api::bad_param("by must be a string of 1-128 characters"));
      by = it->get<std::string>();
    }
  }
  if (!ctx.repo->acknowledge_alert(*id, by, time::now_ms()))
    return render(f, not_found(f == Flavor::v1 ? "no alert with id " + std::to_string(*id)
                                               : std::string("Alert not found")));
  auto a = ctx.repo->alert(*id);
  if (!a)
    return render(f, not_found(f == Flavor::v1 ? "no alert with id " + std::to_string(*id)
                                               : std::string("Alert not found")));
  JsonWriter w(512);
  write_alert(w, *a, f != Flavor::v1);
  return ok_json(w);
}

Response rules(const ApiContext& ctx, const Request&, const PathParams&) {
  auto list = ctx.repo->rules();
  JsonWriter w(64 + list.size() * 160);
  w.begin_object().key("data").begin_array();
  for (const auto& r : list) {
    w.begin_object();
    w.key("metric").str(r.metric);
    w.key("scope").str(r.scope);
    w.key("scope_value").str_or_null(r.scope_value);
    w.key("min").opt_num(r.min);
    w.key("max").opt_num(r.max);
    w.key("severity").str(r.severity);
    w.key("hysteresis").num(r.hysteresis);
    w.end_object();
  }
  w.end_array().end_object();
  return ok_json(w);
}

Response rejects(const ApiContext& ctx, const Request& req, const PathParams&) {
  if (auto denied = api::check_admin(req, ctx.admin_key)) {
    auto r = denied->to_response();
    if (denied->status == 401) r.headers.emplace_back("WWW-Authenticate", "Bearer");
    return r;
  }
  auto q = api::parse_rejects_query(req);
  if (!q) return q.error().to_response();
  auto list = ctx.repo->rejects(*q);
  JsonWriter w(128 + list.size() * 512);
  w.begin_object();
  w.key("count").integer(static_cast<std::int64_t>(list.size()));
  w.key("limit").integer(q->limit);
  w.key("offset").integer(q->offset);
  w.key("data").begin_array();
  for (const auto& r : list) {
    w.begin_object();
    w.key("id").integer(r.id);
    w.key("source").str(r.source);
    w.key("topic").str_or_null(r.topic);
    w.key("reason").str(r.reason);
    w.key("detail").str_or_null(r.detail);
    w.key("received_at").iso(r.received_at_ms);
    w.key("payload_size").integer(r.payload_size);
    if (valid_utf8(r.payload))
      w.key("payload").str(r.payload);
    else
      w.key("payload_base64").str(base64_encode(r.payload));
    w.end_object();
  }
  w.end_array().end_object();
  return ok_json(w);
}

// ---- seed 002 (Flask, /api/sensors/*) ------------------------------------------------

// Seed 002 clamps limit/offset instead of rejecting them; a non-integer is a 400.
std::optional<std::int64_t> clamped(const Request& req, const char* name, std::int64_t def,
                                    std::int64_t min, std::int64_t max, bool* bad) {
  auto v = req.param(name);
  if (!v || v->empty()) return def;
  auto n = api::parse_int(*v);
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
  if (!api::valid_device_id(*v)) *invalid = true;
  return v;
}

Response seed002_latest(const ApiContext& ctx, const Request& req, const PathParams&) {
  bool invalid = false;
  auto dev = seed_device(req, &invalid);
  std::optional<StoredReading> row;
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
  if (bad) return render(Flavor::seed002, api::bad_param("Invalid limit parameter"));
  auto offset = clamped(req, "offset", 0, 0, 10'000'000, &bad);
  if (bad) return render(Flavor::seed002, api::bad_param("Invalid offset parameter"));
  bool invalid = false;
  auto dev = seed_device(req, &invalid);
  std::vector<StoredReading> rows;
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
  if (bad) return render(Flavor::seed002, api::bad_param("Invalid limit parameter"));
  bool invalid = false;
  auto dev = seed_device(req, &invalid);
  std::vector<StoredReading> rows;
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
    auto key = api::metric_plural(name);
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

// ---- seed 000 (FastAPI: /sensors/*, /alerts, /stats) ---------------------------------

Response seed000_latest(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto dev = api::device_param(req, {});
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
  auto q = api::parse_readings_query(req, {}, time::now_ms());
  if (!q) return render(Flavor::seed000, ApiError{422, "invalid_parameter", q.error().message});
  auto page = ctx.repo->readings(*q);
  JsonWriter w(64 + page.rows.size() * 200);
  w.begin_array();
  for (const auto& r : page.rows) write_flat_reading(w, r, "received_at");
  w.end_array();
  return ok_json(w);
}

Response seed000_alerts(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = api::parse_alerts_query(req, pp, time::now_ms());
  if (!q) return render(Flavor::seed000, ApiError{422, "invalid_parameter", q.error().message});
  auto list = ctx.repo->alerts(*q);
  JsonWriter w(64 + list.size() * 512);
  w.begin_array();
  for (const auto& a : list) write_alert(w, a, true);
  w.end_array();
  return ok_json(w);
}

Response seed000_stats(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto q = api::parse_stats_query(req, {}, time::now_ms());
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

// ---- seed 003 (Flask device manager: /api/devices/{id}/..., /api/stats) ---------------

Response seed003_metrics(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (!api::valid_device_id(id))
    return render(Flavor::seed003, api::bad_param("Invalid device_id: " + id));
  const std::int64_t now = time::now_ms();
  auto start = api::time_param(req, {"start"}, now);
  if (!start) return render(Flavor::seed003, start.error());
  auto stop = api::time_param(req, {"stop"}, now);
  if (!stop) return render(Flavor::seed003, stop.error());
  auto metric = api::metric_param(req);
  if (!metric) return render(Flavor::seed003, metric.error());
  storage::ReadingQuery q;
  q.device_id = id;
  q.metric = *metric;
  q.from_ms = start->value_or(now - 3'600'000);  // the seed's default range: the last hour
  q.to_ms = stop->value_or(now);
  if (*q.from_ms >= *q.to_ms)
    return render(Flavor::seed003, api::bad_param("start must be earlier than stop"));
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
  if (api::valid_device_id(id)) {
    storage::AlertQuery q;
    q.device_id = id;
    if (auto a = req.param("acknowledged")) {  // the seed: anything but "true" is false
      std::string l = *a;
      for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      q.acknowledged = l == "true";
    }
    q.limit = static_cast<int>(kCompatMaxRows);
    list = ctx.repo->alerts(q);
  }
  JsonWriter w(64 + list.size() * 512);
  w.begin_array();
  for (const auto& a : list) write_alert(w, a, true);
  w.end_array();
  return ok_json(w);
}

Response seed003_stats(const ApiContext& ctx, const Request&, const PathParams&) {
  storage::AlertQuery q;
  q.acknowledged = false;
  q.limit = static_cast<int>(kCompatMaxRows);
  const auto unacknowledged = ctx.repo->alerts(q).size();
  JsonWriter w(128);
  w.begin_object();
  w.key("total_devices").integer(ctx.latest ? static_cast<std::int64_t>(ctx.latest->device_count()) : 0);
  w.key("device_by_status").begin_array().end_array();
  w.key("unacknowledged_alerts").integer(static_cast<std::int64_t>(unacknowledged));
  w.end_object();
  return ok_json(w);
}

using Fn = Response (*)(const ApiContext&, const Request&, const PathParams&);

}  // namespace

void register_api_routes(Router& router, ApiContext ctx_in) {
  auto ctx = std::make_shared<const ApiContext>(std::move(ctx_in));

  // From memory, on the io thread.
  auto io = [&](const char* path, Fn fn) {
    router.add("GET", path, Exec::io,
               [ctx, fn](const Request& req, const PathParams& pp, Respond respond) {
                 respond(fn(*ctx, req, pp));
               });
  };
  // Database reads, on the blocking pool.
  auto db = [&](const char* method, const char* path, Flavor f, Fn fn) {
    router.add(method, path, Exec::blocking,
               [ctx, f, fn, path](const Request& req, const PathParams& pp, Respond respond) {
                 if (!ctx->repo) {
                   respond(render(f, ApiError{503, "database_unavailable", "no database is configured"}));
                   return;
                 }
                 respond(guarded(f, path, [&] { return fn(*ctx, req, pp); }));
               });
  };

  register_health_routes(router, *ctx);
  io("/api/v1/readings/latest", latest);
  db("GET", "/api/v1/readings", Flavor::v1, readings);
  db("GET", "/api/v1/stats", Flavor::v1, stats);
  db("GET", "/api/v1/aggregate", Flavor::v1, aggregate);
  db("GET", "/api/v1/export", Flavor::v1, export_data);
  db("GET", "/api/v1/alerts", Flavor::v1, alerts);
  db("GET", "/api/v1/alerts/{id}", Flavor::v1, alert_by_id);
  db("POST", "/api/v1/alerts/{id}/ack", Flavor::v1,
     [](const ApiContext& c, const Request& r, const PathParams& p) {
       return acknowledge(c, r, p, Flavor::v1);
     });
  db("GET", "/api/v1/rejects", Flavor::v1, rejects);
  db("GET", "/api/v1/rules", Flavor::v1, rules);
  // Seed 001 per-device paths: the same handlers, device from the path.
  db("GET", "/api/v1/devices/{id}/history", Flavor::v1, readings);
  db("GET", "/api/v1/devices/{id}/aggregate", Flavor::v1, aggregate);

  // Seed 002.
  db("GET", "/api/sensors/latest", Flavor::seed002, seed002_latest);
  db("GET", "/api/sensors/history", Flavor::seed002, seed002_history);
  db("GET", "/api/sensors/stats", Flavor::seed002, seed002_stats);
  db("GET", "/api/sensors/ml-data", Flavor::seed002, seed002_ml_data);
  // Seed 000.
  io("/sensors/latest", seed000_latest);
  db("GET", "/sensors/history", Flavor::seed000, seed000_history);
  db("GET", "/alerts", Flavor::seed000, seed000_alerts);
  db("GET", "/stats", Flavor::seed000, seed000_stats);
  // Seed 003.
  db("GET", "/api/devices/{id}/metrics", Flavor::seed003, seed003_metrics);
  db("GET", "/api/devices/{id}/alerts", Flavor::seed003, seed003_alerts);
  db("POST", "/api/alerts/{id}/acknowledge", Flavor::seed003,
     [](const ApiContext& c, const Request& r, const PathParams& p) {
       return acknowledge(c, r, p, Flavor::seed003);
     });
  db("GET", "/api/stats", Flavor::seed003, seed003_stats);
}

}  // namespace iotd::http
