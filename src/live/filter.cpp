// Stream filters from the query string (docs/architecture.md §15).
#include "iotd/live/filter.hpp"

#include <algorithm>

#include "iotd/core/text.hpp"

namespace iotd::live {
namespace {

// "a,b" -> sorted unique names; an empty or invalid name is an error.
tl::expected<std::vector<std::string>, std::string> parse_list(std::string_view name,
                                                               std::string_view value) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    auto comma = value.find(',', start);
    auto item = text::trim(value.substr(start, comma == std::string_view::npos ? value.npos : comma - start));
    if (item.empty())
      return tl::unexpected(std::string(name) + " has an empty name; give names separated by commas");
    const bool valid = name == "metrics" ? text::valid_metric_name(item) : text::valid_device_id(item);
    if (!valid)
      return tl::unexpected(std::string(name) + " has an invalid name \"" +
                            std::string(item.substr(0, 64)) + "\" (" +
                            (name == "metrics" ? "1-64 of A-Z a-z 0-9 _ . -" : "1-64 of A-Z a-z 0-9 _ . : -") + ")");
    out.emplace_back(item);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  if (out.size() > kMaxFilterItems)
    return tl::unexpected(std::string(name) + " names more than " + std::to_string(kMaxFilterItems));
  return out;
}

}  // namespace

bool StreamFilter::wants_device(std::string_view device) const {
  return devices.empty() || std::binary_search(devices.begin(), devices.end(), device);
}

bool StreamFilter::wants_metric(std::string_view metric) const {
  return metrics.empty() || std::binary_search(metrics.begin(), metrics.end(), metric);
}

tl::expected<StreamFilter, std::string> parse_filter(
    const std::multimap<std::string, std::string>& query, std::optional<std::string> path_device) {
  StreamFilter f;
  for (const auto& [key, value] : query)
    if (key != "device_id" && key != "metrics" && key != "alerts")
      return tl::unexpected("unknown parameter " + key + "; the stream takes device_id, metrics and alerts");
  for (const char* key : {"device_id", "metrics", "alerts"})
    if (query.count(key) > 1) return tl::unexpected(std::string(key) + " is given more than once");

  if (path_device) {
    if (query.count("device_id"))
      return tl::unexpected(std::string("the device comes from the path; drop the device_id parameter"));
    auto list = parse_list("device_id", *path_device);
    if (!list) return tl::unexpected(list.error());
    if (list->size() != 1) return tl::unexpected(std::string("the path names one device"));
    f.devices = std::move(*list);
  } else if (auto it = query.find("device_id"); it != query.end()) {
    auto list = parse_list("device_id", it->second);
    if (!list) return tl::unexpected(list.error());
    f.devices = std::move(*list);
  }
  if (auto it = query.find("metrics"); it != query.end()) {
    auto list = parse_list("metrics", it->second);
    if (!list) return tl::unexpected(list.error());
    f.metrics = std::move(*list);
    for (const auto& m : f.metrics) {
      if (!f.metrics_key.empty()) f.metrics_key += ',';
      f.metrics_key += m;
    }
  }
  if (auto it = query.find("alerts"); it != query.end()) {
    if (it->second == "true") {
      f.alerts = true;
    } else if (it->second == "false") {
      f.alerts = false;
    } else {
      return tl::unexpected("alerts must be true or false, not \"" + it->second.substr(0, 32) + "\"");
    }
  }
  return f;
}

}  // namespace iotd::live
