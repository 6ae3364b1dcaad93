#include "iotd/core/text.hpp"

namespace iotd::text {
namespace {

constexpr std::size_t kMaxNameLength = 64;

// What std::isspace accepts in the C locale, without depending on the locale.
bool is_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

bool is_name_char(char c, bool allow_colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         c == '_' || c == '.' || c == '-' || (allow_colon && c == ':');
}

bool valid_name(std::string_view s, bool allow_colon) {
  if (s.empty() || s.size() > kMaxNameLength) return false;
  for (const char c : s)
    if (!is_name_char(c, allow_colon)) return false;
  return true;
}

}  // namespace

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

bool valid_device_id(std::string_view id) { return valid_name(id, /*allow_colon=*/true); }

bool valid_metric_name(std::string_view name) { return valid_name(name, /*allow_colon=*/false); }

}  // namespace iotd::text
