// Telemetry payload decoder (docs/architecture.md §6): raw bytes -> readings, or a rejection
// with a reason. Pure and thread-safe: no I/O, no globals; never throws on any input.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <tl/expected.hpp>

#include "iotd/core/reading.hpp"
#include "iotd/core/text.hpp"

namespace iotd::pipeline {

enum class DeviceIdSource { payload_then_topic, topic, payload };

struct DecoderOptions {
  DeviceIdSource id_source = DeviceIdSource::payload_then_topic;
  std::unordered_map<std::string, std::string> aliases{{"temp", "temperature"},
                                                       {"hum", "humidity"}};
  std::int64_t max_clock_skew_ms = 24LL * 3600 * 1000;
  std::size_t max_extra_bytes = 4096;  // cap on Reading::extra_json
  std::size_t max_metrics = 256;       // per reading; more -> rejected "too_many_metrics"
  std::size_t max_payload_bytes = 256 * 1024;
};

// Stable reason codes stored in rejects.reason and used as metric labels.
namespace reason {
inline constexpr std::string_view not_json = "not_json";
inline constexpr std::string_view not_object = "not_object";          // JSON, but not an object/array of objects
inline constexpr std::string_view no_device_id = "no_device_id";
inline constexpr std::string_view invalid_device_id = "invalid_device_id";
inline constexpr std::string_view no_metrics = "no_metrics";
inline constexpr std::string_view too_many_metrics = "too_many_metrics";
inline constexpr std::string_view payload_too_large = "payload_too_large";
inline constexpr std::string_view unmatched_topic = "unmatched_topic";  // set by the caller
inline constexpr std::string_view device_limit = "device_limit";        // set by the writer
}  // namespace reason

struct Rejection {
  std::string reason;  // one of reason::*
  std::string detail;  // human-readable, e.g. "parse error at byte 14: unexpected 'n'"
};

// What the decoder noticed but did not reject for; the caller adds them to counters.
struct DecodeNotes {
  std::uint32_t nonfinite_dropped = 0;   // metrics dropped for nan/inf/overflow
  std::uint32_t clock_skew = 0;          // readings whose device time was replaced
  std::uint32_t bad_timestamp = 0;       // unparseable timestamps replaced by received_at
  bool device_id_mismatch = false;       // payload id != topic id (payload_then_topic)
};

struct Decoded {
  std::vector<Reading> readings;  // >= 1
  DecodeNotes notes;
};

struct DecodeInput {
  std::string_view payload;
  // Device id from the topic template, or from an HTTP device key; empty when none.
  std::string_view fallback_device_id;
  std::int64_t received_at_ms = 0;
};

tl::expected<Decoded, Rejection> decode(const DecodeInput& in, const DecoderOptions& opts);

// Parses "temp:temperature,hum:humidity"; throws std::invalid_argument when malformed.
std::unordered_map<std::string, std::string> parse_aliases(std::string_view csv);

// The name rules live in core/text; here for the decoder's callers and tests.
using text::valid_device_id;
using text::valid_metric_name;

}  // namespace iotd::pipeline
