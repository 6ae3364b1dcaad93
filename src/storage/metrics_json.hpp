// Private to src/storage: the compact JSON stored in messages.metrics ({"name":number,...})
// and its parsing for the edge scans and the metric filter. Pure functions.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iotd::storage::detail {

void append_json_string(std::string& out, std::string_view s);
// Shortest text that reads back as the same double; null for non-finite values.
void append_json_number(std::string& out, double v);
// Replaces `out` (its capacity is reused) with the object of `metrics`.
void write_metrics_json(std::string& out, const std::vector<std::pair<std::string, double>>& metrics);

// Calls f(name, value) for each numeric member of a JSON object; malformed text is skipped.
template <class F>
void for_each_metric(std::string_view json, F&& f);

// The object reduced to one metric ({"name":value}); false if it does not carry it.
bool filter_metrics_json(std::string_view json, std::string_view metric, std::string& out);

}  // namespace iotd::storage::detail

#include <nlohmann/json.hpp>

namespace iotd::storage::detail {

template <class F>
void for_each_metric(std::string_view json, F&& f) {
  auto j = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end(); ++it)
    if (it.value().is_number()) f(std::string_view(it.key()), it.value().template get<double>());
}

}  // namespace iotd::storage::detail
