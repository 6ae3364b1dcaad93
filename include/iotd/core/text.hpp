// Small ASCII text helpers shared by the parsers (config, database URLs, dialects). Pure.
#pragma once

#include <string>
#include <string_view>

namespace iotd::text {

std::string lower(std::string_view s);        // ASCII lower case
std::string_view trim(std::string_view s);    // without leading/trailing white space

}  // namespace iotd::text
