// Shared-subscription filters (include/iotd/pipeline/share_group.hpp).
#include "iotd/pipeline/share_group.hpp"

#include <stdexcept>

namespace iotd::pipeline {

void validate_share_group(std::string_view group) {
  if (group.empty()) throw std::invalid_argument("a share group name must not be empty");
  for (const char ch : group) {
    if (ch == '/' || ch == '+' || ch == '#')
      throw std::invalid_argument("a share group name cannot hold '/', '+' or '#'");
    if (static_cast<unsigned char>(ch) <= ' ' || static_cast<unsigned char>(ch) >= 0x7f)
      throw std::invalid_argument("a share group name is printable ASCII without spaces");
  }
}

std::vector<std::string> subscription_filters(const std::vector<TopicTemplate>& templates,
                                              std::string_view group) {
  std::vector<std::string> out;
  out.reserve(templates.size());
  if (!group.empty()) validate_share_group(group);
  for (const auto& t : templates) {
    if (group.empty()) {
      out.push_back(t.filter());
      continue;
    }
    if (t.filter().rfind("$share/", 0) == 0)
      throw std::invalid_argument("the template '" + t.text() +
                                  "' is already a shared subscription; with a share group set, "
                                  "list plain templates (iotd adds $share/<group>/ itself)");
    std::string f = "$share/";
    f.append(group);
    f.push_back('/');
    f.append(t.filter());
    out.push_back(std::move(f));
  }
  return out;
}

}  // namespace iotd::pipeline
