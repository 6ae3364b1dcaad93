// The store benchmark's synthetic telemetry (bench/store.cpp): N messages from D devices on
// "sensors/<device>/data", each device reporting once a second, M numeric metrics per
// message, a `seq` and a ms `timestamp` (so every message is unique and content-dedup keyed).
// Deterministic for given sizes and base time. Pure; thread-compatible.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace iotd::bench {

enum class PayloadStyle { flat, nested };  // {"temperature":…} | {"metrics":{"temperature":…}}

struct Workload {
  std::size_t messages = 0;
  std::size_t devices = 0;
  std::size_t metrics = 5;
  PayloadStyle style = PayloadStyle::flat;
  std::int64_t base_ms = 0;  // device time of message 0; later messages are newer

  std::string device_id(std::size_t device) const;  // "dev-0007"
  std::size_t device_of(std::size_t i) const { return i % devices; }
  std::string topic(std::size_t i) const;
  std::int64_t ts_ms(std::size_t i) const;
  std::int64_t received_at_ms(std::size_t i) const;  // ts + 40 ms of "network"
  std::string payload(std::size_t i) const;
  // Metric names in payload order: temperature, humidity, pressure, voltage, current,
  // then metric_05, metric_06, … Values stay inside iotd's default alarm ranges.
  std::string metric_name(std::size_t k) const;
};

// A workload whose newest message is about `now_ms`, as a live fleet would have sent it.
Workload make_workload(std::size_t messages, std::size_t devices, std::size_t metrics,
                       PayloadStyle style, std::int64_t now_ms);

// "flat" | "nested"; throws std::invalid_argument otherwise.
PayloadStyle parse_payload_style(const std::string& s);
const char* to_string(PayloadStyle s);

}  // namespace iotd::bench
