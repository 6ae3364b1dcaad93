// Private to the decoder: what its two paths share (docs/architecture.md §6). The DOM path
// (decoder.cpp) walks nlohmann's document; the direct path (direct_decode.cpp) reads the
// common flat payload straight from the bytes. Both end here, so a reading's metrics,
// dedup key, extra JSON and every reject message are built by the same code.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <tl/expected.hpp>

#include "iotd/pipeline/decoder.hpp"

namespace iotd::pipeline::detail {

using Metrics = std::vector<std::pair<std::string, double>>;

inline constexpr std::int64_t kMinDeviceTimeMs = 946'684'800'000;  // 2000-01-01T00:00:00Z
inline constexpr std::size_t kMaxDetailNames = 6;  // field names listed in a no_metrics detail
inline constexpr std::size_t kMaxDetailBytes = 240;
inline constexpr std::string_view kTruncatedField = R"("_truncated":true)";

// A stable sort without std::stable_sort's temporary buffer (a malloc per call, on the
// hot path per message): the ranges sorted here hold a handful of metrics or fields.
template <class It, class Less>
void small_stable_sort(It first, It last, Less less) {
  if (last - first > 32) return std::stable_sort(first, last, less);
  if (first == last) return;
  for (It i = first + 1; i != last; ++i) {
    if (!less(*i, *(i - 1))) continue;
    auto v = std::move(*i);
    It j = i;
    do {
      *j = std::move(*(j - 1));
      --j;
    } while (j != first && less(v, *(j - 1)));
    *j = std::move(v);
  }
}

// Keeps a detail printable ASCII and short: it lands in logs and in rejects.reason_detail.
std::string clean_detail(std::string_view s);

inline tl::unexpected<Rejection> reject(std::string_view reason, std::string detail) {
  return tl::unexpected<Rejection>(Rejection{std::string(reason), clean_detail(detail)});
}

// Keys with a meaning of their own: never a top-level metric.
bool is_reserved(std::string_view k);

// Shortest round-trip form: as exact as "%.17g", and equal doubles print equally. Exactly
// std::to_chars' text (it is in stored dedup keys), with a quicker path for short decimals.
void append_number(std::string& out, double v);

// The names a no_metrics rejection lists.
struct NameNotes {
  std::string non_numeric;
  std::size_t non_numeric_count = 0;
  std::string nonfinite;
  std::uint32_t nonfinite_count = 0;

  void note_non_numeric(std::string_view name);
  void note_nonfinite(std::string_view name);
  std::string no_metrics_detail() const;
};

// Payload id (when the payload names one; used_key is its key) or the topic/key fallback,
// validated, as the options' id source says.
tl::expected<std::string, Rejection> choose_device_id(const std::string* payload_id,
                                                      std::string_view used_key,
                                                      const DecodeInput& in,
                                                      const DecoderOptions& opts,
                                                      DecodeNotes& notes);

enum class TimeStatus { device, none, skewed, bad };

// The device time when ms is in [2000, received_at + max skew]; else skewed (a number or
// date out of range) or bad (no date at all).
TimeStatus time_status(std::optional<std::int64_t> ms, bool parsed_number, bool sentinel,
                       const DecodeInput& in, const DecoderOptions& opts);

// Sorted by name, unique (last wins); a rejection when over max_metrics.
std::optional<Rejection> finish_metrics(Metrics& metrics, const DecoderOptions& opts);

// docs/architecture.md §5: hash of msg_id/seq (its JSON text, empty when none) and the
// canonical metrics. scratch is reused between calls.
std::int64_t dedup_hash(std::string_view source_json, const Metrics& metrics, std::string& scratch);

// One extra field: text is `"key":value` as JSON.
struct ExtraEntry {
  std::string_view key;
  std::string text;
  bool keep_first;  // original_ts goes last when dropping
};

// The extra-fields object: unique keys (last wins), sorted, the largest fields dropped
// (and "_truncated":true added) over max_bytes; empty when nothing fits.
std::string assemble_extra(std::vector<ExtraEntry>& entries, std::size_t max_bytes);

// The direct path (direct_decode.cpp): the decoded payload, or nullopt when it declines
// (nested values, escapes, odd shapes), and the DOM path then decodes it.
std::optional<tl::expected<Decoded, Rejection>> decode_direct(const DecodeInput& in,
                                                              const DecoderOptions& opts);

// The DOM path alone (decoder.cpp); decode() tries decode_direct first. For tests.
tl::expected<Decoded, Rejection> decode_dom(const DecodeInput& in, const DecoderOptions& opts);

}  // namespace iotd::pipeline::detail
