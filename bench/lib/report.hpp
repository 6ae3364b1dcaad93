// Printing a tool's result: one JSON object on one line (--json, for scripts), or the
// same fields as "name: value" lines for people (nested objects as "a.b: value").
#pragma once

#include <cstdio>

#include <nlohmann/json.hpp>

namespace iotd::bench {

void print_report(const nlohmann::ordered_json& report, bool as_json, std::FILE* out = stdout);

// Rounds to 3 decimals (µs when the unit is ms) so reports stay readable.
double round3(double v);

}  // namespace iotd::bench
