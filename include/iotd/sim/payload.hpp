// Simulated devices for iotd-sim: a bounded random walk of realistic sensor values per
// device and its payload in one of the forms iotd decodes. Pure; a Device is a value
// type, use each from one thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iotd::sim {

// Payload forms (README "Payloads"); `mixed` on the command line rotates them over devices.
enum class Style { flat, nested, thingsboard, senml, measurements };
inline constexpr int kStyleCount = 5;

std::optional<Style> parse_style(std::string_view name);
std::string_view style_name(Style s);

// Bounds of the walk: every value the simulator writes lies within them.
struct Range {
  double min;
  double max;
};
inline constexpr Range kTemperature{-10.0, 45.0};  // °C, 2 decimals
inline constexpr Range kHumidity{5.0, 95.0};       // %RH, 1 decimal
inline constexpr Range kPressure{950.0, 1050.0};   // hPa, 1 decimal
inline constexpr Range kBattery{0.0, 100.0};       // %, 1 decimal; drains, swapped at 5 %
inline constexpr Range kRssi{-100.0, -30.0};       // dBm, integer

// One message's worth of values, exactly as written into the payload (already rounded).
struct Sample {
  std::uint64_t seq = 0;    // per device, 1 for the first message
  std::int64_t ts_ms = 0;   // device time, UTC epoch ms
  double temperature = 0;
  double humidity = 0;
  double pressure = 0;
  double battery = 0;
  int rssi = 0;
};

// "sim-00042": prefix + index zero-padded to at least 5 digits (more when count needs it).
std::string device_id(std::string_view prefix, std::size_t index, std::size_t count);

// Replaces every "{device_id}" in the template.
std::string expand_topic(std::string_view tmpl, std::string_view id);

class Device {
 public:
  // Same id, style and seed give the same sequence of values.
  Device(std::string id, Style style, std::uint64_t seed);

  // Advances the walk one step and the sequence number; ts_ms becomes the device time.
  const Sample& step(std::int64_t now_ms);
  // The current sample as a payload, written into out (cleared first, capacity reused).
  void write_payload(std::string& out) const;

  const std::string& id() const { return id_; }
  Style style() const { return style_; }
  const Sample& sample() const { return sample_; }

 private:
  double uniform();  // [-1, 1)
  double walk(double x, double centre, double step, double reversion, Range r);

  std::string id_;
  Style style_;
  std::uint64_t rng_;
  double temperature_centre_;
  double temperature_, humidity_, pressure_, battery_, rssi_;  // unrounded walk state
  Sample sample_;
};

}  // namespace iotd::sim
