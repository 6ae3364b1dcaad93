#include "lib/report.hpp"

#include <cmath>
#include <string>

namespace iotd::bench {
namespace {

void print_lines(const nlohmann::ordered_json& j, const std::string& prefix, std::FILE* out) {
  for (const auto& [key, value] : j.items()) {
    std::string name = prefix.empty() ? key : prefix + "." + key;
    if (value.is_object()) {
      print_lines(value, name, out);
    } else {
      std::string text = value.is_string() ? value.get<std::string>() : value.dump();
      std::fprintf(out, "%s: %s\n", name.c_str(), text.c_str());
    }
  }
}

}  // namespace

void print_report(const nlohmann::ordered_json& report, bool as_json, std::FILE* out) {
  if (as_json)
    std::fprintf(out, "%s\n", report.dump().c_str());
  else
    print_lines(report, "", out);
  std::fflush(out);
}

double round3(double v) { return std::round(v * 1000.0) / 1000.0; }

}  // namespace iotd::bench
