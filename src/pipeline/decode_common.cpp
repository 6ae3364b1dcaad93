// What the decoder's two paths share (see decode_common.hpp). Pure functions.
#include "decode_common.hpp"

#include <charconv>
#include <cmath>

#include "iotd/core/hash.hpp"

namespace iotd::pipeline::detail {

std::string clean_detail(std::string_view s) {
  std::string out;
  out.reserve(std::min(s.size(), kMaxDetailBytes));
  for (const char c : s) {
    if (out.size() >= kMaxDetailBytes) {
      out += "...";
      break;
    }
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u >= 0x20 && u < 0x7f ? c : '?');
  }
  return out;
}

bool is_reserved(std::string_view k) {
  static constexpr std::string_view kReserved[] = {
      "device_id", "timestamp", "ts", "time", "values", "metrics",
      "measurements", "msg_id", "seq", "unit", "v"};
  for (const auto r : kReserved) {
    if (k == r) return true;
  }
  return false;
}

namespace {

// std::to_chars' shortest form, quicker, for what sensors send: |v| < 1e9 with at most 4
// decimals. False (nothing written) for anything else.
//
// Why it is the same text: k below is the fewest decimals whose nearest decimal m / 10^k
// reads back as v (IEEE division is correctly rounded, like from_chars). At |v| < 1e9 and
// k <= 4, decimals with k or fewer places lie 1e-4 apart, far more than v's rounding
// interval (about 1e-7 wide at most), so m / 10^k is the only decimal with so few
// significant digits that reads back as v: it is to_chars' shortest round-trip digit
// string. to_chars then prints it fixed ("21.53") or scientific ("1e+05"), whichever is
// shorter, fixed on a tie. tests/unit/pipeline/decode_common_test.cpp compares the two
// over more than a million values.
bool append_short_decimal(std::string& out, double v) {
  if (!(v > -1e9 && v < 1e9) || v == 0) return false;  // NaN, zero and -0 go to to_chars
  static constexpr double kScale[] = {1, 10, 100, 1000, 10000};
  for (int k = 0; k < 5; ++k) {
    const double r = std::nearbyint(v * kScale[k]);
    if (r / kScale[k] != v) continue;
    const bool negative = r < 0;
    const auto m = static_cast<std::uint64_t>(negative ? -r : r);
    char d[24];
    const int len = static_cast<int>(std::to_chars(d, d + sizeof d, m).ptr - d);
    int n = len;  // significant digits (only an integer can end in zeros)
    while (n > 1 && d[n - 1] == '0') --n;
    const int exp10 = len - 1 - k;
    const int fixed_len = k == 0 ? len : (len > k ? len + 1 : k + 2);
    const int sci_len = n + (n > 1 ? 1 : 0) + 4;  // d.ddde+XX: |exp10| < 100 here
    if (negative) out.push_back('-');
    if (fixed_len <= sci_len) {
      if (k == 0) {
        out.append(d, static_cast<std::size_t>(len));
      } else if (len > k) {
        out.append(d, static_cast<std::size_t>(len - k));
        out.push_back('.');
        out.append(d + len - k, static_cast<std::size_t>(k));
      } else {
        out += "0.";
        out.append(static_cast<std::size_t>(k - len), '0');
        out.append(d, static_cast<std::size_t>(len));
      }
    } else {
      out.push_back(d[0]);
      if (n > 1) {
        out.push_back('.');
        out.append(d + 1, static_cast<std::size_t>(n - 1));
      }
      out.push_back('e');
      out.push_back(exp10 < 0 ? '-' : '+');
      const int e = exp10 < 0 ? -exp10 : exp10;
      out.push_back(static_cast<char>('0' + e / 10));
      out.push_back(static_cast<char>('0' + e % 10));
    }
    return true;
  }
  return false;
}

}  // namespace

void append_number(std::string& out, double v) {
  if (append_short_decimal(out, v)) return;
  char buf[32];
  const auto res = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, res.ptr);
}

void NameNotes::note_non_numeric(std::string_view name) {
  if (non_numeric_count++ < kMaxDetailNames) {
    if (!non_numeric.empty()) non_numeric += ", ";
    non_numeric.append(name);
  }
}

void NameNotes::note_nonfinite(std::string_view name) {
  if (nonfinite_count++ < kMaxDetailNames) {
    if (!nonfinite.empty()) nonfinite += ", ";
    nonfinite.append(name);
  }
}

std::string NameNotes::no_metrics_detail() const {
  if (non_numeric_count == 0 && nonfinite_count == 0) return "no metric fields";
  std::string d = "no numeric fields";
  if (non_numeric_count > 0) {
    d += "; non-numeric: " + non_numeric;
    if (non_numeric_count > kMaxDetailNames) d += ", ...";
  }
  if (nonfinite_count > 0) {
    d += "; non-finite: " + nonfinite;
    if (nonfinite_count > kMaxDetailNames) d += ", ...";
  }
  return d;
}

tl::expected<std::string, Rejection> choose_device_id(const std::string* payload_id,
                                                      std::string_view used_key,
                                                      const DecodeInput& in,
                                                      const DecoderOptions& opts,
                                                      DecodeNotes& notes) {
  const std::string_view fallback = in.fallback_device_id;
  if (payload_id) {
    if (!valid_device_id(*payload_id)) {
      return reject(reason::invalid_device_id,
                    std::string(used_key) + " '" + payload_id->substr(0, 80) +
                        "' is not 1-64 chars of [A-Za-z0-9_.:-]");
    }
    if (!fallback.empty() && fallback != *payload_id) notes.device_id_mismatch = true;
    return *payload_id;
  }
  if (opts.id_source != DeviceIdSource::payload && !fallback.empty()) {
    if (!valid_device_id(fallback)) {
      return reject(reason::invalid_device_id,
                    "device id '" + std::string(fallback.substr(0, 80)) +
                        "' from the topic or key is not 1-64 chars of [A-Za-z0-9_.:-]");
    }
    return std::string(fallback);
  }
  switch (opts.id_source) {
    case DeviceIdSource::topic:
      return reject(reason::no_device_id, "no device id from the topic or device key");
    case DeviceIdSource::payload:
      return reject(reason::no_device_id, "no device_id in the payload");
    case DeviceIdSource::payload_then_topic: break;
  }
  return reject(reason::no_device_id, "no device_id in the payload, none from topic or key");
}

TimeStatus time_status(std::optional<std::int64_t> ms, bool parsed_number, bool sentinel,
                       const DecodeInput& in, const DecoderOptions& opts) {
  if (ms && *ms >= kMinDeviceTimeMs && *ms <= in.received_at_ms + opts.max_clock_skew_ms) {
    return TimeStatus::device;
  }
  return (ms || parsed_number) && !sentinel ? TimeStatus::skewed : TimeStatus::bad;
}

std::optional<Rejection> finish_metrics(Metrics& metrics, const DecoderOptions& opts) {
  small_stable_sort(metrics.begin(), metrics.end(),
                    [](const auto& a, const auto& b) { return a.first < b.first; });
  std::size_t out = 0;
  for (std::size_t i = 0; i < metrics.size(); ++i) {
    if (i + 1 < metrics.size() && metrics[i + 1].first == metrics[i].first) continue;
    if (out != i) metrics[out] = std::move(metrics[i]);
    ++out;
  }
  metrics.resize(out);
  if (metrics.size() > opts.max_metrics) {
    return Rejection{std::string(reason::too_many_metrics),
                     clean_detail(std::to_string(metrics.size()) + " metrics in one reading, max " +
                                  std::to_string(opts.max_metrics))};
  }
  return std::nullopt;
}

std::int64_t dedup_hash(std::string_view source_json, const Metrics& metrics,
                        std::string& scratch) {
  std::string& buf = scratch;
  buf.clear();
  buf += source_json;
  buf.push_back('|');
  for (const auto& [name, value] : metrics) {
    buf += name;
    buf.push_back('=');
    append_number(buf, value);
    buf.push_back(';');
  }
  return static_cast<std::int64_t>(hash64(buf));
}

std::string assemble_extra(std::vector<ExtraEntry>& entries, std::size_t max_bytes) {
  small_stable_sort(entries.begin(), entries.end(),
                    [](const ExtraEntry& a, const ExtraEntry& b) { return a.key < b.key; });
  std::size_t n = 0;
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (i + 1 < entries.size() && entries[i + 1].key == entries[i].key) continue;
    if (n != i) entries[n] = std::move(entries[i]);
    ++n;
  }
  entries.resize(n);

  std::size_t total = 2 + (entries.empty() ? 0 : entries.size() - 1);
  for (const ExtraEntry& e : entries) total += e.text.size();
  bool truncated = false;
  if (total > max_bytes) {
    truncated = true;
    total += kTruncatedField.size() + (entries.empty() ? 0 : 1);
    // Drop the largest fields first (original_ts last): keeps the most fields.
    std::vector<std::size_t> order(entries.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
      if (entries[a].keep_first != entries[b].keep_first) return !entries[a].keep_first;
      return entries[a].text.size() > entries[b].text.size();
    });
    std::vector<bool> dropped(entries.size(), false);
    for (const std::size_t i : order) {
      if (total <= max_bytes) break;
      dropped[i] = true;
      total -= entries[i].text.size() + 1;
    }
    std::size_t k = 0;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      if (dropped[i]) continue;
      if (k != i) entries[k] = std::move(entries[i]);
      ++k;
    }
    entries.resize(k);
    if (total > max_bytes) return {};  // even {"_truncated":true} is too big
  }
  std::string out;
  out.reserve(total);
  out.push_back('{');
  for (const ExtraEntry& e : entries) {
    if (out.size() > 1) out.push_back(',');
    out += e.text;
  }
  if (truncated) {
    if (out.size() > 1) out.push_back(',');
    out += kTruncatedField;
  }
  out.push_back('}');
  return out;
}

}  // namespace iotd::pipeline::detail
