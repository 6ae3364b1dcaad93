#include "api_json.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace iotd::http::api {

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

MetricColumns metric_columns(const std::vector<storage::StoredReading>& rows) {
  MetricColumns c;
  c.rows.reserve(rows.size());
  for (const auto& r : rows) {
    c.rows.push_back(parse_metrics(r.metrics_json));
    for (const auto& m : c.rows.back()) c.names.insert(m.name);
  }
  return c;
}

void write_column(JsonWriter& w, const MetricColumns& c, const std::string& name) {
  w.begin_array();
  for (const auto& ms : c.rows) {
    auto v = find_metric(ms, name);
    w.opt_num(v ? *v : std::nullopt);
  }
  w.end_array();
}

void write_reading(JsonWriter& w, const storage::StoredReading& r) {
  w.begin_object();
  w.key("id").integer(r.id);
  w.key("device_id").str(r.device_id);
  w.key("timestamp").iso(r.ts_ms);
  w.key("received_at").iso(r.received_at_ms);
  w.key("metrics").raw(r.metrics_json.empty() ? std::string_view("{}") : r.metrics_json);
  w.end_object();
}

void write_flat_reading(JsonWriter& w, const storage::StoredReading& r,
                        std::string_view created_key) {
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

void begin_page(JsonWriter& w, std::size_t count, std::int64_t limit, std::int64_t offset) {
  w.begin_object();
  w.key("count").integer(static_cast<std::int64_t>(count));
  w.key("limit").integer(limit);
  w.key("offset").integer(offset);
  w.key("data").begin_array();
}

}  // namespace iotd::http::api
