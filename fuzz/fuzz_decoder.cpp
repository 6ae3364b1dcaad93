// Fuzz target: the payload decoder (docs/architecture.md §6), both JSON paths.
// Input: the raw payload. Checks, beyond "no crash, no leak, no UB":
//  - the fast JSON path either declines or builds exactly nlohmann/json's document (the
//    same contract tests/unit/pipeline/fast_json_test.cpp checks on chosen inputs);
//  - the direct path (no DOM) either declines or decodes exactly as the DOM path does;
//  - decode() never throws and returns readings with a valid device id and 1..max_metrics
//    valid metric names, or a rejection with a known reason code.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "iotd/pipeline/decoder.hpp"
#include "pipeline/decode_common.hpp"
#include "pipeline/fast_json.hpp"

namespace {

using Json = nlohmann::json;

bool identical(const Json& a, const Json& b) {
  if (a.type() != b.type()) return false;
  switch (a.type()) {
    case Json::value_t::object: {
      if (a.size() != b.size()) return false;
      auto ib = b.begin();
      for (auto ia = a.begin(); ia != a.end(); ++ia, ++ib)
        if (ia.key() != ib.key() || !identical(*ia, *ib)) return false;
      return true;
    }
    case Json::value_t::array:
      if (a.size() != b.size()) return false;
      for (std::size_t i = 0; i < a.size(); ++i)
        if (!identical(a[i], b[i])) return false;
      return true;
    case Json::value_t::number_float: {
      const double x = a.get<double>(), y = b.get<double>();
      return std::memcmp(&x, &y, sizeof x) == 0;
    }
    default:
      return a == b;
  }
}

bool known_reason(std::string_view r) {
  namespace rs = iotd::pipeline::reason;
  for (std::string_view k : {rs::not_json, rs::not_object, rs::no_device_id, rs::invalid_device_id,
                             rs::no_metrics, rs::too_many_metrics, rs::payload_too_large}) {
    if (r == k) return true;
  }
  return false;
}

bool same_outcome(const tl::expected<iotd::pipeline::Decoded, iotd::pipeline::Rejection>& a,
                  const tl::expected<iotd::pipeline::Decoded, iotd::pipeline::Rejection>& b) {
  if (a.has_value() != b.has_value()) return false;
  if (!a) return a.error().reason == b.error().reason && a.error().detail == b.error().detail;
  const auto &na = a->notes, &nb = b->notes;
  if (na.nonfinite_dropped != nb.nonfinite_dropped || na.clock_skew != nb.clock_skew ||
      na.bad_timestamp != nb.bad_timestamp || na.device_id_mismatch != nb.device_id_mismatch ||
      a->readings.size() != b->readings.size())
    return false;
  for (std::size_t i = 0; i < a->readings.size(); ++i) {
    const auto &x = a->readings[i], &y = b->readings[i];
    if (x.device_id != y.device_id || x.ts_ms != y.ts_ms || x.received_at_ms != y.received_at_ms ||
        x.has_device_time != y.has_device_time || x.dedup_key != y.dedup_key ||
        x.extra_json != y.extra_json || x.metrics.size() != y.metrics.size())
      return false;
    for (std::size_t m = 0; m < x.metrics.size(); ++m) {
      if (x.metrics[m].first != y.metrics[m].first ||
          std::memcmp(&x.metrics[m].second, &y.metrics[m].second, sizeof(double)) != 0)
        return false;
    }
  }
  return true;
}

[[noreturn]] void fail(const char* what) {
  std::fprintf(stderr, "fuzz_decoder: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);

  Json fast;
  if (iotd::pipeline::detail::fast_parse_json(text, 16, fast)) {
    const Json ref = Json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    if (ref.is_discarded()) fail("fast path accepted what nlohmann/json refuses");
    if (!identical(fast, ref)) fail("fast path and nlohmann/json built different documents");
  }

  static const iotd::pipeline::DecoderOptions options[] = {
      {}, {.id_source = iotd::pipeline::DeviceIdSource::topic},
      {.id_source = iotd::pipeline::DeviceIdSource::payload}};
  // The fallback id (from the topic or an HTTP key) only matters for some inputs: use the
  // payload's size to vary it without spending input bytes on it.
  const auto& opts = options[size % 3];
  const iotd::pipeline::DecodeInput in{text, size % 2 ? "dev-1" : "", 1'769'644'800'000};
  if (const auto direct = iotd::pipeline::detail::decode_direct(in, opts)) {
    if (!same_outcome(*direct, iotd::pipeline::detail::decode_dom(in, opts)))
      fail("direct path and DOM path decoded differently");
  }
  const auto out = iotd::pipeline::decode(in, opts);
  if (!out) {
    if (!known_reason(out.error().reason)) fail("rejection with an unknown reason code");
    return 0;
  }
  if (out->readings.empty()) fail("decoded without readings");
  for (const auto& r : out->readings) {
    if (!iotd::pipeline::valid_device_id(r.device_id)) fail("reading with an invalid device id");
    if (r.metrics.empty() || r.metrics.size() > opts.max_metrics) fail("metric count out of range");
    for (const auto& [name, value] : r.metrics) {
      if (!iotd::pipeline::valid_metric_name(name)) fail("invalid metric name");
      if (!std::isfinite(value)) fail("non-finite metric value");
    }
    if (r.extra_json.size() > opts.max_extra_bytes) fail("extra JSON over its cap");
  }
  return 0;
}
