#include "device_body.hpp"

#include <nlohmann/json.hpp>

#include <utility>

namespace iotd::http::api {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxText = 255;
constexpr std::size_t kMaxMetadata = 16 * 1024;

// A present field: a string of 1..max characters or null.
Parsed<std::optional<std::string>> text_field(const json& v, const std::string& field,
                                              std::size_t max) {
  if (v.is_null()) return std::optional<std::string>{};
  if (!v.is_string() || v.get_ref<const std::string&>().empty() ||
      v.get_ref<const std::string&>().size() > max)
    return tl::unexpected(bad_param(field + " must be a string of 1-" + std::to_string(max) +
                                    " characters, or null"));
  return std::optional<std::string>{v.get<std::string>()};
}

}  // namespace

bool valid_device_status(std::string_view s) {
  for (auto st : storage::kDeviceStatuses)
    if (s == st) return true;
  return false;
}

Parsed<DeviceFields> parse_device_fields(std::string_view body) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return tl::unexpected(bad_param(
        R"(the body must be a JSON object such as {"device_id": "esp32-01", "name": "Boiler room", "type": "esp32", "location": "B1", "status": "active", "metadata": {"fw": "1.2"}})"));
  DeviceFields f;
  for (const auto& [key, v] : j.items()) {
    if (key == "device_id") {
      if (!v.is_string() || !valid_device_id(v.get_ref<const std::string&>()))
        return tl::unexpected(bad_param("device_id must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
      f.device_id = v.get<std::string>();
    } else if (key == "name" || key == "device_name") {
      auto t = text_field(v, key, kMaxText);
      if (!t) return tl::unexpected(t.error());
      f.name = std::move(*t);
    } else if (key == "location") {
      auto t = text_field(v, key, kMaxText);
      if (!t) return tl::unexpected(t.error());
      f.location = std::move(*t);
    } else if (key == "type" || key == "device_type") {
      if (!v.is_null() && (!v.is_string() || !valid_device_id(v.get_ref<const std::string&>())))
        return tl::unexpected(
            bad_param(key + " must be 1-64 characters of A-Z a-z 0-9 _ . : -, or null"));
      f.type = v.is_null() ? std::optional<std::string>{} : v.get<std::string>();
    } else if (key == "status") {
      if (!v.is_string() || !valid_device_status(v.get_ref<const std::string&>()))
        return tl::unexpected(bad_param("status must be one of active, inactive, maintenance"));
      f.status = v.get<std::string>();
    } else if (key == "metadata") {
      if (!v.is_null() && !v.is_object())
        return tl::unexpected(bad_param("metadata must be a JSON object, or null"));
      f.metadata_json = v.is_null() ? std::string() : v.dump();
      if (f.metadata_json->size() > kMaxMetadata)
        return tl::unexpected(bad_param("metadata must be at most 16384 bytes of JSON"));
    } else {
      return tl::unexpected(bad_param(
          key + " is not a known field (expected device_id, name, type, location, status, metadata)"));
    }
  }
  return f;
}

void apply_device_fields(storage::Device& d, const DeviceFields& f, bool replace) {
  auto set = [replace](std::optional<std::string>& dst,
                       const std::optional<std::optional<std::string>>& src) {
    if (src) dst = *src;
    else if (replace) dst.reset();
  };
  set(d.name, f.name);
  set(d.type, f.type);
  set(d.location, f.location);
  if (f.status) d.status = *f.status;
  else if (replace) d.status = "active";
  if (f.metadata_json) d.metadata_json = *f.metadata_json;
  else if (replace) d.metadata_json.clear();
}

void write_device(JsonWriter& w, const storage::Device& d) {
  w.begin_object();
  w.key("device_id").str(d.device_id);
  w.key("name").opt_str(d.name);
  w.key("type").opt_str(d.type);
  w.key("location").opt_str(d.location);
  w.key("status").str(d.status);
  w.key("is_active").boolean(d.status == "active");
  w.key("metadata").raw(d.metadata_json.empty() ? std::string_view("{}") : d.metadata_json);
  w.key("has_key").boolean(d.has_key);
  w.key("created_at").iso(d.created_at_ms);
  w.key("updated_at").iso(d.updated_at_ms);
  w.key("last_seen_at").opt_iso(d.last_seen_at_ms);
  w.end_object();
}

void write_device_seed003(JsonWriter& w, const storage::Device& d) {
  w.begin_object();
  w.key("device_id").str(d.device_id);
  w.key("device_name").opt_str(d.name);
  w.key("device_type").opt_str(d.type);
  w.key("location").opt_str(d.location);
  w.key("status").str(d.status);
  w.key("metadata").raw(d.metadata_json.empty() ? std::string_view("{}") : d.metadata_json);
  w.key("created_at").iso(d.created_at_ms);
  w.key("updated_at").iso(d.updated_at_ms);
  w.key("last_seen").opt_iso(d.last_seen_at_ms);
  w.end_object();
}

std::string with_api_key(std::string device_json, std::string_view key) {
  device_json.pop_back();  // the object's closing brace
  JsonWriter k(80);
  k.str(key);
  device_json += ",\"api_key\":" + k.take() + '}';
  return device_json;
}

}  // namespace iotd::http::api
