// The devices API's bodies and shapes (issue 9): the fields of POST/PUT/PATCH bodies, parsed
// and validated (a 400 naming the field), and a device written as v1 JSON or in seed 003's
// columns. Pure functions; shared by device_handlers.cpp and seed003_device_handlers.cpp.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "iotd/storage/device.hpp"
#include "json_writer.hpp"
#include "params.hpp"

namespace iotd::http::api {

// The fields a body gave. An outer nullopt: absent; an inner nullopt: JSON null (cleared).
// name/type also arrive as seed 003's device_name/device_type.
struct DeviceFields {
  std::optional<std::string> device_id;
  std::optional<std::optional<std::string>> name, type, location;
  std::optional<std::string> status;
  std::optional<std::string> metadata_json;  // a JSON object's text; "" for null
};

// A JSON object of those fields (unknown fields are refused): device_id 1-64 of
// [A-Za-z0-9_.:-], name and location up to 255 characters, type like a device id (it names
// rules' device_type scope), status active|inactive|maintenance, metadata a JSON object.
Parsed<DeviceFields> parse_device_fields(std::string_view body);
bool valid_device_status(std::string_view s);

// Applies the given fields to `d`. `replace`: absent fields are cleared (PUT), status back
// to active; otherwise they are kept (PATCH, seed 003's PUT).
void apply_device_fields(storage::Device& d, const DeviceFields& f, bool replace);

// {"device_id","name","type","location","status","is_active","metadata","has_key",
//  "created_at","updated_at","last_seen_at"} (seed 001's is_active included).
void write_device(JsonWriter& w, const storage::Device& d);
// Seed 003's devices row: device_id, device_name, device_type, location, status,
// metadata, created_at, updated_at, last_seen.
void write_device_seed003(JsonWriter& w, const storage::Device& d);

// A written device object with "api_key" added: the create and rotate responses, the only
// ones that carry a key.
std::string with_api_key(std::string device_json, std::string_view key);

}  // namespace iotd::http::api
