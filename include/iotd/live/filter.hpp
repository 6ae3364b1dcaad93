// What a live-stream client asked for (docs/architecture.md §15): devices, metrics, alerts.
// Parsed from the query string (and the seed 001 path's device) before the WebSocket
// upgrade, so a bad filter is a 400. Plain value; immutable once parsed.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace iotd::live {

struct StreamFilter {
  std::vector<std::string> devices;  // sorted, unique; empty: every device
  std::vector<std::string> metrics;  // sorted, unique; empty: every metric
  bool alerts = true;                // alert frames too
  // The metrics joined by ','; frames rendered for one key are shared by every client
  // with the same key ("" for all metrics).
  std::string metrics_key;

  bool wants_device(std::string_view device) const;
  bool wants_metric(std::string_view metric) const;
};

inline constexpr std::size_t kMaxFilterItems = 100;  // devices or metrics per filter

// `query`: the request's decoded query parameters: device_id (a,b), metrics (a,b),
// alerts (true|false). `path_device`: seed 001's /realtime/subscribe/{device_id}; with it a
// device_id parameter is an error. Unknown parameters, empty or invalid names (the
// rules of text::valid_device_id / valid_metric_name), more than
// kMaxFilterItems of either and a bad alerts value are errors (the message says which).
tl::expected<StreamFilter, std::string> parse_filter(
    const std::multimap<std::string, std::string>& query,
    std::optional<std::string> path_device = std::nullopt);

}  // namespace iotd::live
