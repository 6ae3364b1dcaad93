#include "rule_params.hpp"

#include <nlohmann/json.hpp>

#include <array>
#include <cmath>
#include <string>
#include <utility>

namespace iotd::http::api {
namespace {

using nlohmann::json;

constexpr std::size_t kMaxMessage = 1024;

Parsed<json> parse_object(std::string_view body, std::string_view example) {
  auto j = json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return tl::unexpected(bad_param("the body must be a JSON object such as " + std::string(example)));
  return j;
}

// The field's value when present and not null: a finite number, or a 400 naming it.
Parsed<std::optional<double>> finite_number(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::optional<double>{};
  if (!it->is_number() || !std::isfinite(it->get<double>()))
    return tl::unexpected(bad_param(std::string(field) + " must be a finite number"));
  return std::optional<double>{it->get<double>()};
}

// A present, non-null field must be a string.
Parsed<std::optional<std::string>> string_field(const json& j, const char* field) {
  auto it = j.find(field);
  if (it == j.end() || it->is_null()) return std::optional<std::string>{};
  if (!it->is_string()) return tl::unexpected(bad_param(std::string(field) + " must be a string"));
  return std::optional<std::string>{it->get<std::string>()};
}

Parsed<void> only_fields(const json& j, std::initializer_list<std::string_view> allowed) {
  for (const auto& [key, value] : j.items()) {
    bool known = false;
    for (auto a : allowed) known = known || key == a;
    if (!known) {
      std::string list;
      for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return tl::unexpected(bad_param(key + " is not a known field (expected " + list + ")"));
    }
  }
  return {};
}

ApiError bad_severity() {
  return bad_param("severity must be one of info, warning, critical");
}

}  // namespace

bool valid_severity(std::string_view s) {
  return s == "info" || s == "warning" || s == "critical";
}

Parsed<storage::Rule> parse_rule_target(const Request& req, const PathParams& path) {
  storage::Rule r;
  r.metric = path.at("metric");
  if (!valid_metric_name(r.metric))
    return tl::unexpected(bad_param("metric must be 1-64 characters of A-Z a-z 0-9 _ . -"));
  auto device = req.param("device_id");
  auto type = req.param("device_type");
  if (device && type)
    return tl::unexpected(
        bad_param("device_id and device_type: give one of them (or neither for the global rule)"));
  if (device) {
    if (!valid_device_id(*device))
      return tl::unexpected(bad_param("device_id must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    r.scope = "device";
    r.scope_value = *device;
  } else if (type) {
    if (!valid_device_id(*type))
      return tl::unexpected(
          bad_param("device_type must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    r.scope = "type";
    r.scope_value = *type;
  } else {
    r.scope = "global";
    r.scope_value.clear();
  }
  return r;
}

Parsed<storage::Rule> parse_rule_body(std::string_view body, storage::Rule r) {
  auto j = parse_object(body, R"({"min": 0, "max": 30, "hysteresis": 1, "severity": "warning"})");
  if (!j) return tl::unexpected(j.error());
  if (auto ok = only_fields(*j, {"min", "max", "hysteresis", "severity"}); !ok)
    return tl::unexpected(ok.error());
  auto min = finite_number(*j, "min");
  if (!min) return tl::unexpected(min.error());
  auto max = finite_number(*j, "max");
  if (!max) return tl::unexpected(max.error());
  if (!*min && !*max) return tl::unexpected(bad_param("min or max: give at least one limit"));
  if (*min && *max && !(**min < **max))
    return tl::unexpected(bad_param("min must be smaller than max"));
  auto hyst = finite_number(*j, "hysteresis");
  if (!hyst) return tl::unexpected(hyst.error());
  double h = hyst->value_or(0);
  if (h < 0) return tl::unexpected(bad_param("hysteresis must be >= 0"));
  if (*min && *max && !(h < **max - **min))
    return tl::unexpected(bad_param("hysteresis must be smaller than max - min"));
  auto sev = string_field(*j, "severity");
  if (!sev) return tl::unexpected(sev.error());
  if (*sev && !valid_severity(**sev)) return tl::unexpected(bad_severity());
  r.min = *min;
  r.max = *max;
  r.hysteresis = h;
  r.severity = sev->value_or("warning");
  return r;
}

Parsed<storage::Alert> parse_manual_alert(std::string_view body, std::int64_t now_ms) {
  auto j = parse_object(
      body, R"({"device_id": "esp32-01", "severity": "warning", "message": "door open"})");
  if (!j) return tl::unexpected(j.error());
  if (auto ok = only_fields(*j, {"device_id", "metric", "severity", "message", "value"}); !ok)
    return tl::unexpected(ok.error());
  storage::Alert a;
  auto device = string_field(*j, "device_id");
  if (!device) return tl::unexpected(device.error());
  if (!*device || !valid_device_id(**device))
    return tl::unexpected(bad_param("device_id is required: 1-64 characters of A-Z a-z 0-9 _ . : -"));
  a.device_id = **device;
  auto metric = string_field(*j, "metric");
  if (!metric) return tl::unexpected(metric.error());
  if (*metric && !valid_metric_name(**metric))
    return tl::unexpected(bad_param("metric must be 1-64 characters of A-Z a-z 0-9 _ . -"));
  a.metric = metric->value_or("");
  auto sev = string_field(*j, "severity");
  if (!sev) return tl::unexpected(sev.error());
  if (!*sev || !valid_severity(**sev))
    return tl::unexpected(bad_param("severity is required: one of info, warning, critical"));
  a.severity = **sev;
  auto message = string_field(*j, "message");
  if (!message) return tl::unexpected(message.error());
  if (!*message || (*message)->empty() || (*message)->size() > kMaxMessage)
    return tl::unexpected(bad_param("message is required: a string of 1-1024 characters"));
  a.message = **message;
  auto value = finite_number(*j, "value");
  if (!value) return tl::unexpected(value.error());
  a.kind = "manual";
  a.state = "active";
  a.first_value = a.last_value = a.peak_value = value->value_or(0);
  a.count = 1;
  a.raised_ts_ms = a.raised_received_at_ms = a.updated_ts_ms = now_ms;
  return a;
}

}  // namespace iotd::http::api
