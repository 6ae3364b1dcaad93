// Seed 003's device registry (Flask device manager): /api/devices, /api/devices/{id},
// heartbeat, manual alerts and raw data, in its shapes (device_name, device_type,
// last_seen; errors as {"error": msg}). Thin adapters over the v1 device handlers' helpers;
// writes need the admin key (the documented deviation: the seed had no auth).
#include <nlohmann/json.hpp>

#include "api_json.hpp"
#include "device_body.hpp"
#include "handlers.hpp"
#include "iotd/core/time.hpp"
#include "rule_params.hpp"

namespace iotd::http::api {
namespace {

Response seed_error(const ApiError& e) { return render(Flavor::seed003, e); }

std::optional<ApiError> bad_id(const std::string& id) {
  if (valid_device_id(id)) return std::nullopt;
  return not_found("Device not found");
}

Response one_device(int status, const storage::Device& d, const std::string* key = nullptr) {
  JsonWriter w(512);
  write_device_seed003(w, d);
  // The key shown once, as on v1's create.
  return json_response(status, key ? with_api_key(w.take(), *key) : w.take());
}

Response message(std::string_view text) {
  JsonWriter w(96);
  w.begin_object().key("message").str(text).end_object();
  return ok_json(w);
}

}  // namespace

// The seed's filters (status, type) plus v1's location, limit and offset.
Response seed003_devices(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto q = parse_devices_query(req);
  if (!q) return seed_error(q.error());
  auto list = ctx.repo->devices(*q);
  JsonWriter w(64 + list.size() * 320);
  w.begin_array();
  for (const auto& d : list) write_device_seed003(w, d);
  w.end_array();
  return ok_json(w);
}

Response seed003_device(const ApiContext& ctx, const Request&, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_id(id)) return seed_error(*e);
  auto d = ctx.repo->device(id);
  if (!d) return seed_error(not_found("Device not found"));
  return one_device(200, *d);
}

Response seed003_create_device(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto f = parse_device_fields(req.body);
  if (!f) return seed_error(f.error());
  std::string key;
  ApiError err;
  auto d = store_new_device(ctx, *f, key, err);
  if (!d) return seed_error(err);
  return one_device(201, *d, &key);
}

// The seed's PUT changes the fields given (its example sends two).
Response seed003_update_device(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_id(id)) return seed_error(*e);
  auto f = parse_device_fields(req.body);
  if (!f) return seed_error(f.error());
  if (f->device_id && *f->device_id != id)
    return seed_error(bad_param("device_id cannot change"));
  auto d = ctx.repo->device(id);
  if (!d) return seed_error(not_found("Device not found"));
  apply_device_fields(*d, *f, false);
  d->updated_at_ms = time::now_ms();
  if (!ctx.repo->update_device(*d)) return seed_error(not_found("Device not found"));
  device_changed(ctx, id);
  auto stored = ctx.repo->device(id);
  if (!stored) return seed_error(not_found("Device not found"));
  return one_device(200, *stored);
}

// Readings stay unless ?purge=true, as on v1.
Response seed003_delete_device(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_id(id)) return seed_error(*e);
  auto purge = bool_param(req, "purge");
  if (!purge) return seed_error(purge.error());
  if (!remove_device(ctx, id, purge->value_or(false))) return seed_error(not_found("Device not found"));
  return message("Device deleted successfully");
}

Response seed003_heartbeat(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_id(id)) return seed_error(*e);
  if (!may_act_for(req, id))
    return error_response(403, "forbidden", "this device key belongs to another device");
  const std::int64_t now = time::now_ms();
  if (!ctx.repo->device_heartbeat(id, now)) return seed_error(not_found("Device not found"));
  JsonWriter w(128);
  w.begin_object().key("message").str("Heartbeat recorded").key("device_id").str(id);
  w.key("last_seen").iso(now).end_object();
  return ok_json(w);
}

// {"alert_type", "severity", "message"}: a manual alert on the device (alert_type is kept as
// its metric name).
Response seed003_create_alert(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_id(id)) return seed_error(*e);
  auto j = nlohmann::json::parse(req.body, nullptr, false);
  if (!j.is_object())
    return seed_error(bad_param(
        R"(the body must be a JSON object such as {"alert_type": "high_temperature", "severity": "warning", "message": "Temperature exceeded threshold"})"));
  if (!ctx.repo->device(id)) return seed_error(not_found("Device not found"));
  nlohmann::json v1 = {{"device_id", id}};
  for (const auto& [k, v] : j.items()) {
    if (k == "alert_type") v1["metric"] = v;
    else if (k == "severity" || k == "message") v1[k] = v;
    else return seed_error(bad_param(k + " is not a known field (expected alert_type, severity, message)"));
  }
  if (!v1.contains("severity")) v1["severity"] = "warning";
  auto a = parse_manual_alert(v1.dump(), time::now_ms());
  if (!a) return seed_error(a.error());
  const std::int64_t alert_id = ctx.repo->insert_alert(*a);
  auto stored = ctx.repo->alert(alert_id);
  if (!stored) return seed_error(db_error());
  JsonWriter w(512);
  write_alert(w, *stored, true);
  return json_response(201, w.take());
}

// The device's messages as received, newest first, paged by limit (1-1000, default 100) and
// offset: the stored metrics and the other fields the payload carried (extra), merged.
Response seed003_raw_data(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_id(id)) return seed_error(*e);
  auto limit = int_param(req, "limit", 1, 1'000, 100);
  if (!limit) return seed_error(limit.error());
  auto offset = int_param(req, "offset", 0, 1'000'000, 0);
  if (!offset) return seed_error(offset.error());
  storage::ReadingQuery q;
  q.device_id = id;
  q.limit = static_cast<int>(*limit);
  q.offset = static_cast<int>(*offset);
  auto page = ctx.repo->readings(q);
  JsonWriter w(64 + page.rows.size() * 256);
  w.begin_array();
  for (const auto& r : page.rows) {
    auto data = nlohmann::json::parse(r.extra_json.empty() ? std::string_view("{}") : r.extra_json,
                                      nullptr, false);
    if (!data.is_object()) data = nlohmann::json::object();
    auto metrics = nlohmann::json::parse(r.metrics_json, nullptr, false);
    if (metrics.is_object()) data.update(metrics);
    w.begin_object();
    w.key("id").integer(r.id);
    w.key("device_id").str(r.device_id);
    w.key("timestamp").iso(r.ts_ms);
    w.key("received_at").iso(r.received_at_ms);
    w.key("data").raw(data.dump());
    w.end_object();
  }
  w.end_array();
  return ok_json(w);
}

}  // namespace iotd::http::api
