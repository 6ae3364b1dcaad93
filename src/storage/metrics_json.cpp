#include "metrics_json.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace iotd::storage::detail {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (u < 0x20) {
          out += "\\u00";
          out.push_back(kHex[u >> 4]);
          out.push_back(kHex[u & 0xf]);
        } else {
          out.push_back(c);
        }
    }
  }
  out.push_back('"');
}

void append_json_number(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);  // shortest round-trip form
  out.append(buf, ec == std::errc{} ? end : buf);
}

void write_metrics_json(std::string& out,
                        const std::vector<std::pair<std::string, double>>& metrics) {
  out.clear();
  out.push_back('{');
  bool first = true;
  for (const auto& [name, value] : metrics) {
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, name);
    out.push_back(':');
    append_json_number(out, value);
  }
  out.push_back('}');
}

bool filter_metrics_json(std::string_view json, std::string_view metric, std::string& out) {
  // Cheap pre-check before parsing: the name must appear somewhere in the text.
  bool plain = std::none_of(metric.begin(), metric.end(), [](char c) {
    return c == '"' || c == '\\' || static_cast<unsigned char>(c) < 0x20;
  });
  if (plain && json.find(metric) == std::string_view::npos) return false;
  bool found = false;
  for_each_metric(json, [&](std::string_view name, double value) {
    if (found || name != metric) return;
    found = true;
    out.clear();
    out.push_back('{');
    append_json_string(out, name);
    out.push_back(':');
    append_json_number(out, value);
    out.push_back('}');
  });
  return found;
}

}  // namespace iotd::storage::detail
