// The device registry and its keys (issue 9, DESIGN §6): list, read, create (the key shown
// once), replace, patch, delete (?purge=true), heartbeat and key rotation. After every
// change the key map (ctx.device_keys) and the writer's device cache (ctx.device_changed)
// hear of it before the response, so a rotated key fails and a new type applies at once.
#include "api_json.hpp"
#include "device_body.hpp"
#include "handlers.hpp"
#include "iotd/core/time.hpp"

namespace iotd::http::api {
namespace {

// Device ids in paths follow the payload rule; anything else cannot be registered.
std::optional<ApiError> bad_path_id(const std::string& id) {
  if (valid_device_id(id)) return std::nullopt;
  return bad_param("device id must be 1-64 characters of A-Z a-z 0-9 _ . : -");
}

ApiError no_device(const std::string& id) { return not_found("no device " + id); }

// The key, once: the create response is the only one that carries it.
Response device_json(int status, const storage::Device& d, const std::string* key) {
  JsonWriter w(512);
  write_device(w, d);
  return json_response(status, key ? with_api_key(w.take(), *key) : w.take());
}

}  // namespace

void device_changed(const ApiContext& ctx, const std::string& device_id) {
  if (ctx.device_changed) ctx.device_changed(device_id);
}

std::optional<storage::Device> store_new_device(const ApiContext& ctx, const DeviceFields& f,
                                                std::string& key, ApiError& err) {
  if (!f.device_id) {
    err = bad_param("device_id is required: 1-64 characters of A-Z a-z 0-9 _ . : -");
    return std::nullopt;
  }
  storage::Device d;
  d.device_id = *f.device_id;
  apply_device_fields(d, f, true);
  d.created_at_ms = d.updated_at_ms = time::now_ms();
  key = generate_device_key();
  const std::string hash = to_hex(sha256(key));
  if (!ctx.repo->create_device(d, hash)) {
    err = ApiError{409, "conflict",
                   "device " + d.device_id +
                       " is already registered: PUT or PATCH it, or POST /api/v1/devices/" +
                       d.device_id + "/key for a new key"};
    return std::nullopt;
  }
  if (ctx.device_keys) ctx.device_keys->set(d.device_id, hash);
  device_changed(ctx, d.device_id);
  auto stored = ctx.repo->device(d.device_id);
  if (!stored) {
    err = db_error();
    return std::nullopt;
  }
  return stored;
}

bool remove_device(const ApiContext& ctx, const std::string& id, bool purge) {
  if (!ctx.repo->delete_device(id, purge, time::now_ms())) return false;
  if (ctx.device_keys) ctx.device_keys->remove(id);
  if (ctx.latest) ctx.latest->erase(id);
  device_changed(ctx, id);
  return true;
}

Parsed<storage::DeviceQuery> parse_devices_query(const Request& req) {
  storage::DeviceQuery q;
  if (auto s = req.param("status"); s && !s->empty()) {
    if (!valid_device_status(*s))
      return tl::unexpected(bad_param("status must be one of active, inactive, maintenance"));
    q.status = *s;
  }
  if (auto t = req.param("type"); t && !t->empty()) q.type = *t;
  if (auto l = req.param("location"); l && !l->empty()) q.location = *l;
  auto limit = int_param(req, "limit", 1, 1'000, 100);
  if (!limit) return tl::unexpected(limit.error());
  auto offset = int_param(req, "offset", 0, 1'000'000, 0);
  if (!offset) return tl::unexpected(offset.error());
  q.limit = static_cast<int>(*limit);
  q.offset = static_cast<int>(*offset);
  return q;
}

Response devices(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto q = parse_devices_query(req);
  if (!q) return q.error().to_response();
  auto list = ctx.repo->devices(*q);
  JsonWriter w(128 + list.size() * 320);
  begin_page(w, list.size(), q->limit, q->offset);
  for (const auto& d : list) write_device(w, d);
  w.end_array().end_object();
  return ok_json(w);
}

Response device(const ApiContext& ctx, const Request&, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_path_id(id)) return e->to_response();
  auto d = ctx.repo->device(id);
  if (!d) return no_device(id).to_response();
  return device_json(200, *d, nullptr);
}

Response create_device(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto f = parse_device_fields(req.body);
  if (!f) return f.error().to_response();
  std::string key;
  ApiError err;
  auto d = store_new_device(ctx, *f, key, err);
  if (!d) return err.to_response();
  return device_json(201, *d, &key);
}

// PUT replaces every field (absent ones are cleared); PATCH changes the fields given.
Response change_device(const ApiContext& ctx, const Request& req, const PathParams& pp,
                       bool replace) {
  const std::string& id = pp.at("id");
  if (auto e = bad_path_id(id)) return e->to_response();
  auto f = parse_device_fields(req.body);
  if (!f) return f.error().to_response();
  if (f->device_id && *f->device_id != id)
    return bad_param("device_id in the body (" + *f->device_id + ") differs from the path (" +
                     id + "); a device id cannot change")
        .to_response();
  auto d = ctx.repo->device(id);
  if (!d) return no_device(id).to_response();
  apply_device_fields(*d, *f, replace);
  d->updated_at_ms = time::now_ms();
  if (!ctx.repo->update_device(*d)) return no_device(id).to_response();
  device_changed(ctx, id);
  auto stored = ctx.repo->device(id);
  if (!stored) return no_device(id).to_response();
  return device_json(200, *stored, nullptr);
}

Response put_device(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  return change_device(ctx, req, pp, true);
}

Response patch_device(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  return change_device(ctx, req, pp, false);
}

// 204. Without purge the readings, rollups, latest values and alerts stay (reachable by
// the device id); with ?purge=true they are deleted with the device.
Response delete_device(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_path_id(id)) return e->to_response();
  auto purge = bool_param(req, "purge");
  if (!purge) return purge.error().to_response();
  if (!remove_device(ctx, id, purge->value_or(false))) return no_device(id).to_response();
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

// Access::device_or_admin: the admin key, or the device's own key (another device's: 403).
Response device_heartbeat(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_path_id(id)) return e->to_response();
  if (!may_act_for(req, id))
    return error_response(403, "forbidden", "this device key belongs to another device");
  const std::int64_t now = time::now_ms();
  if (!ctx.repo->device_heartbeat(id, now)) return no_device(id).to_response();
  JsonWriter w(128);
  w.begin_object().key("device_id").str(id).key("last_seen_at").iso(now).end_object();
  return ok_json(w);
}

// A new key, shown once; the old one stops resolving before the response is sent.
Response rotate_device_key(const ApiContext& ctx, const Request&, const PathParams& pp) {
  const std::string& id = pp.at("id");
  if (auto e = bad_path_id(id)) return e->to_response();
  const std::string key = generate_device_key();
  const std::string hash = to_hex(sha256(key));
  if (!ctx.repo->set_device_key(id, hash, time::now_ms())) return no_device(id).to_response();
  if (ctx.device_keys) ctx.device_keys->set(id, hash);
  device_changed(ctx, id);  // other instances reload their keys (docs/architecture.md §21)
  JsonWriter w(160);
  w.begin_object().key("device_id").str(id).key("api_key").str(key).end_object();
  return ok_json(w);
}

}  // namespace iotd::http::api
