// Reading HTTP ingest bodies (issue 9), pure functions: a batch body is split into its
// array elements as raw bytes, so each reaches the writer exactly as sent and is decoded
// there like an MQTT payload (firmware quirks such as bare `nan` included); an element
// that is not JSON is that item's rejection, not the whole batch's.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "params.hpp"

namespace iotd::http::api {

// The most messages one POST /api/v1/ingest/batch may carry (README, "HTTP ingest").
inline constexpr std::size_t kMaxIngestBatch = 1000;

// The elements of a top-level JSON array, whitespace trimmed, at most `max_items`.
// Errors: 400 not_json (empty, unbalanced brackets or quotes, an empty element, bytes after
// the array), 400 not_an_array (a body that is no array), 413 too_many_items.
tl::expected<std::vector<std::string_view>, ApiError> split_json_array(std::string_view body,
                                                                       std::size_t max_items);

// True when `body` holds nothing but whitespace.
bool blank(std::string_view body);

// A device id the payload names (top-level "device_id", or that of a top-level array's
// object elements) other than `device`; nullopt when it names none or only `device`, or
// does not parse (the decoder then rejects it). Only string ids are compared.
std::optional<std::string> other_device(std::string_view payload, std::string_view device);

}  // namespace iotd::http::api
