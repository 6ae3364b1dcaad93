// Shared subscriptions (IOTD_MQTT_SHARE_GROUP, docs/scaling.md §2): N instances subscribe
// every filter as "$share/<group>/<filter>" and the broker gives each message to one of them.
// Pure.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "iotd/pipeline/topic.hpp"

namespace iotd::pipeline {

// Throws std::invalid_argument when `group` cannot name a share group: empty, or holding
// '/', '+' or '#' (MQTT 5 §4.8.2), or a character outside printable ASCII.
void validate_share_group(std::string_view group);

// The subscription filter of each template: its own filter when `group` is empty, else
// "$share/<group>/<filter>". A template that already starts with "$share/" is refused when a
// group is set (std::invalid_argument naming it): two groups for one filter is a mistake.
std::vector<std::string> subscription_filters(const std::vector<TopicTemplate>& templates,
                                              std::string_view group);

}  // namespace iotd::pipeline
