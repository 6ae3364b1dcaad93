// Small ASCII text helpers shared by the parsers (config, database URLs, dialects, query
// strings, payloads) and iotd's name rules. Pure; locale-independent.
#pragma once

#include <string>
#include <string_view>

namespace iotd::text {

std::string lower(std::string_view s);        // ASCII A-Z to a-z; other bytes unchanged
std::string_view trim(std::string_view s);    // without leading/trailing ASCII white space

// iotd's name rules (docs/architecture.md §6), shared by the decoder, the HTTP parameters
// and the simulator.
bool valid_device_id(std::string_view id);      // 1-64 characters of [A-Za-z0-9_.:-]
bool valid_metric_name(std::string_view name);  // 1-64 characters of [A-Za-z0-9_.-]

}  // namespace iotd::text
