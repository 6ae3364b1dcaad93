#include "lib/store_workload.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <stdexcept>

namespace iotd::bench {
namespace {

constexpr std::int64_t kReportEveryMs = 1000;  // each device, once a second
constexpr std::int64_t kNetworkDelayMs = 40;

struct MetricShape {
  const char* name;
  std::int64_t lo_cents, hi_cents;  // inside the seeded default rules (no alarms)
};
constexpr std::array<MetricShape, 5> kShapes{{
    {"temperature", 1500, 3500},
    {"humidity", 3000, 7000},
    {"pressure", 98000, 104000},
    {"voltage", 21500, 23500},
    {"current", 50, 800},
}};

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9E3779B97F4A7C15ull;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// Two decimals, from whole cents: the text a sensor would send ("21.37", "-0.5", "7").
void append_cents(std::string& out, std::int64_t cents) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<double>(cents) / 100.0);
  out.append(buf, end);
}

}  // namespace

std::string Workload::device_id(std::size_t device) const {
  char buf[32];
  std::snprintf(buf, sizeof buf, "dev-%04zu", device);
  return buf;
}

std::string Workload::topic(std::size_t i) const {
  return "sensors/" + device_id(device_of(i)) + "/data";
}

std::int64_t Workload::ts_ms(std::size_t i) const {
  // Round r of the fleet at base + r s; devices spread over the second.
  const auto round = static_cast<std::int64_t>(i / devices);
  const auto offset = static_cast<std::int64_t>(device_of(i) * 997 / devices);
  return base_ms + round * kReportEveryMs + offset;
}

std::int64_t Workload::received_at_ms(std::size_t i) const { return ts_ms(i) + kNetworkDelayMs; }

std::string Workload::metric_name(std::size_t k) const {
  if (k < kShapes.size()) return kShapes[k].name;
  char buf[32];
  std::snprintf(buf, sizeof buf, "metric_%02zu", k);
  return buf;
}

std::string Workload::payload(std::size_t i) const {
  std::string out;
  out.reserve(48 + metrics * 24);
  out += "{\"seq\":";
  append_int(out, static_cast<std::int64_t>(i));
  out += ",\"timestamp\":";
  append_int(out, ts_ms(i));
  out += style == PayloadStyle::nested ? ",\"metrics\":{" : ",";
  for (std::size_t k = 0; k < metrics; ++k) {
    if (k) out += ',';
    out += '"';
    out += metric_name(k);
    out += "\":";
    const std::uint64_t h = splitmix64(i * 1315423911ull + k);
    const std::int64_t lo = k < kShapes.size() ? kShapes[k].lo_cents : 0;
    const std::int64_t hi = k < kShapes.size() ? kShapes[k].hi_cents : 10000;
    append_cents(out, lo + static_cast<std::int64_t>(h % static_cast<std::uint64_t>(hi - lo + 1)));
  }
  out += style == PayloadStyle::nested ? "}}" : "}";
  return out;
}

Workload make_workload(std::size_t messages, std::size_t devices, std::size_t metrics,
                       PayloadStyle style, std::int64_t now_ms) {
  if (devices == 0) throw std::invalid_argument("--devices must be at least 1");
  if (metrics == 0) throw std::invalid_argument("--metrics must be at least 1");
  Workload w;
  w.messages = messages;
  w.devices = devices;
  w.metrics = metrics;
  w.style = style;
  const auto rounds = static_cast<std::int64_t>((messages + devices - 1) / devices);
  w.base_ms = now_ms - rounds * kReportEveryMs - kReportEveryMs;
  return w;
}

PayloadStyle parse_payload_style(const std::string& s) {
  if (s == "flat") return PayloadStyle::flat;
  if (s == "nested") return PayloadStyle::nested;
  throw std::invalid_argument("--style must be flat or nested, not '" + s + "'");
}

const char* to_string(PayloadStyle s) { return s == PayloadStyle::flat ? "flat" : "nested"; }

}  // namespace iotd::bench
