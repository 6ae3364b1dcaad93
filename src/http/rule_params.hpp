// Body and scope validation for the write side of rules and alerts: PUT|DELETE
// /api/v1/rules/{metric} and POST /api/v1/alerts (manual alerts). Pure functions from a
// request to the value to store, or a 400 ApiError whose message starts with the field.
#pragma once

#include <cstdint>
#include <string_view>

#include "iotd/http/router.hpp"
#include "iotd/storage/types.hpp"
#include "params.hpp"

namespace iotd::http::api {

// The severities a rule or a manual alert may carry.
bool valid_severity(std::string_view s);  // info | warning | critical

// The rule's key: {metric} from the path; device_id=X -> scope device, device_type=T ->
// scope type, neither -> global; both -> 400. Only metric, scope and scope_value are set.
Parsed<storage::Rule> parse_rule_target(const Request& req, const PathParams& path);

// PUT's body {"min", "max", "hysteresis", "severity"} applied to `target`: min and/or max
// (at least one, finite, min < max), hysteresis finite, >= 0 and < max - min (default 0),
// severity (default warning). Unknown fields are refused (a typo would otherwise be a rule
// without the intended limit).
Parsed<storage::Rule> parse_rule_body(std::string_view body, storage::Rule target);

// POST /api/v1/alerts: {"device_id", "metric"?, "severity", "message", "value"?} -> an
// active, unacknowledged alert of kind "manual" raised at `now_ms` (value, when given, is
// its first/last/peak value; 0 otherwise).
Parsed<storage::Alert> parse_manual_alert(std::string_view body, std::int64_t now_ms);

}  // namespace iotd::http::api
