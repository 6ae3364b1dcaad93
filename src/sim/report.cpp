// Run reports (see include/iotd/sim/report.hpp).
#include "iotd/sim/report.hpp"

#include <chrono>
#include <cstdio>

#include <nlohmann/json.hpp>

namespace iotd::sim {

namespace {

double span_seconds(std::int64_t from_us, std::int64_t to_us) {
  if (from_us == 0 || to_us <= from_us) return 0;
  return static_cast<double>(to_us - from_us) / 1e6;
}

double per_second(std::uint64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0;
}

}  // namespace

double PublishReport::seconds() const { return span_seconds(first_publish_us, last_ack_us); }
double PublishReport::rate() const { return per_second(acknowledged, seconds()); }
double SinkReport::seconds() const { return span_seconds(first_receive_us, last_receive_us); }
double SinkReport::rate() const { return per_second(received, seconds()); }

std::string to_json(const PublishReport& r, const PublishOptions& o) {
  nlohmann::ordered_json j{
      {"mode", "publish"},
      {"published", r.published},
      {"acknowledged", r.acknowledged},
      {"errors", r.errors},
      {"unacknowledged", r.unacknowledged()},
      {"first_publish_us", r.first_publish_us},
      {"last_ack_us", r.last_ack_us},
      {"seconds", r.seconds()},
      {"rate", r.rate()},
      {"interrupted", r.interrupted},
      {"qos", o.qos},
      {"devices", o.devices},
      {"connections", o.connections},
      {"window", o.window},
      {"target_rate", o.rate},
      {"style", o.style ? std::string(style_name(*o.style)) : std::string("mixed")},
      {"url", o.url},
  };
  return j.dump();
}

std::string to_json(const SinkReport& r, const SinkOptions& o) {
  nlohmann::ordered_json j{
      {"mode", "sink"},
      {"received", r.received},
      {"first_receive_us", r.first_receive_us},
      {"last_receive_us", r.last_receive_us},
      {"seconds", r.seconds()},
      {"rate", r.rate()},
      {"complete", r.complete},
      {"interrupted", r.interrupted},
      {"qos", o.qos},
      {"count", o.count},
      {"topic", o.topic},
  };
  return j.dump();
}

std::string to_text(const PublishReport& r, const PublishOptions& o) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "published %llu, acknowledged %llu, errors %llu, unacknowledged %llu at QoS %d "
                "in %.3f s: %.0f msg/s%s",
                static_cast<unsigned long long>(r.published),
                static_cast<unsigned long long>(r.acknowledged),
                static_cast<unsigned long long>(r.errors),
                static_cast<unsigned long long>(r.unacknowledged()), o.qos, r.seconds(), r.rate(),
                r.interrupted ? " (interrupted)" : "");
  return buf;
}

std::string to_text(const SinkReport& r) {
  char buf[160];
  std::snprintf(buf, sizeof buf, "received %llu in %.3f s: %.0f msg/s%s%s",
                static_cast<unsigned long long>(r.received), r.seconds(), r.rate(),
                r.complete ? "" : " (count not reached)", r.interrupted ? " (interrupted)" : "");
  return buf;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace iotd::sim
