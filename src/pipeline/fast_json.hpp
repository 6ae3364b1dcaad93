// Private to the decoder: a fast path for the JSON most devices send (plain ASCII strings
// without escapes, ordinary numbers). It builds exactly the document nlohmann/json's parser
// would (same value types, last duplicate key wins, same number conversions) or declines,
// and the caller then parses with nlohmann as before; it never reports an error itself.
// Declined: escapes or bytes outside printable ASCII in strings, a byte-order mark, nesting
// deeper than max_depth, and anything that is not strict JSON.
#pragma once

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

namespace iotd::pipeline::detail {

// True when `text` was parsed into `out`; false (out unspecified) when declined.
bool fast_parse_json(std::string_view text, std::size_t max_depth, nlohmann::json& out);

}  // namespace iotd::pipeline::detail
