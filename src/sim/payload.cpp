// Simulated devices (see include/iotd/sim/payload.hpp). Payloads are appended by hand
// into a reused buffer: the simulator must format far faster than iotd ingests.
#include "iotd/sim/payload.hpp"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>

#include "iotd/core/time.hpp"

namespace iotd::sim {

namespace {

constexpr std::array<std::string_view, kStyleCount> kStyleNames{
    "flat", "nested", "thingsboard", "senml", "measurements"};

constexpr std::int64_t kMsPerDay = 86'400'000;

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

double round_to(double v, int decimals) {
  static constexpr double kScale[] = {1.0, 10.0, 100.0, 1000.0};
  // k / 10^d is the double nearest to the decimal text we print, so the value a
  // decoder parses back equals it exactly.
  return static_cast<double>(std::llround(v * kScale[decimals])) / kScale[decimals];
}

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

// v already rounded to `decimals`: printed as exactly that decimal ("21.50", "-3.0").
void append_fixed(std::string& out, double v, int decimals) {
  char buf[32];
  const auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed, decimals);
  out.append(buf, r.ptr);
}

// "2026-01-29T14:30:45.123Z". The date prefix changes once a day: cached per thread.
void append_iso(std::string& out, std::int64_t ms) {
  thread_local std::int64_t cached_day = INT64_MIN;
  thread_local std::string cached_prefix;  // "2026-01-29T"
  const std::int64_t day = ms >= 0 ? ms / kMsPerDay : (ms - kMsPerDay + 1) / kMsPerDay;
  if (day != cached_day) {
    cached_prefix = time::format_iso8601_ms(day * kMsPerDay).substr(0, 11);
    cached_day = day;
  }
  out += cached_prefix;
  auto rem = static_cast<int>(ms - day * kMsPerDay);
  const int fields[] = {rem / 3'600'000, rem / 60'000 % 60, rem / 1000 % 60};
  char buf[13] = {'0', '0', ':', '0', '0', ':', '0', '0', '.', '0', '0', '0', 'Z'};
  for (int i = 0; i < 3; ++i) {
    buf[i * 3] = static_cast<char>('0' + fields[i] / 10);
    buf[i * 3 + 1] = static_cast<char>('0' + fields[i] % 10);
  }
  rem %= 1000;
  buf[9] = static_cast<char>('0' + rem / 100);
  buf[10] = static_cast<char>('0' + rem / 10 % 10);
  buf[11] = static_cast<char>('0' + rem % 10);
  out.append(buf, sizeof buf);
}

// SenML "t": epoch seconds with the milliseconds as 3 decimals, printed from the integer.
void append_epoch_seconds(std::string& out, std::int64_t ms) {
  append_int(out, ms / 1000);
  const auto frac = static_cast<int>(ms % 1000);
  const char buf[4] = {'.', static_cast<char>('0' + frac / 100),
                       static_cast<char>('0' + frac / 10 % 10), static_cast<char>('0' + frac % 10)};
  out.append(buf, sizeof buf);
}

// `"key":value` for the five metrics, comma separated, in a fixed order.
void append_metric_fields(std::string& out, const Sample& s) {
  out += R"("temperature":)";
  append_fixed(out, s.temperature, 2);
  out += R"(,"humidity":)";
  append_fixed(out, s.humidity, 1);
  out += R"(,"pressure":)";
  append_fixed(out, s.pressure, 1);
  out += R"(,"battery":)";
  append_fixed(out, s.battery, 1);
  out += R"(,"rssi":)";
  append_int(out, s.rssi);
}

// `{"device_id":"<id>","seq":<n>,"timestamp":"<ISO>` (flat and nested styles; the
// closing quote of the time is the caller's).
void append_id_seq_time(std::string& out, std::string_view id, const Sample& s) {
  out += R"({"device_id":")";
  out += id;
  out += R"(","seq":)";
  append_int(out, static_cast<std::int64_t>(s.seq));
  out += R"(,"timestamp":")";
  append_iso(out, s.ts_ms);
}

struct Item {
  std::string_view name;
  std::string_view unit;
  double value;
  int decimals;
};

std::array<Item, 5> items(const Sample& s, bool senml_units) {
  return {{{"temperature", senml_units ? "Cel" : "C", s.temperature, 2},
           {"humidity", senml_units ? "%RH" : "%", s.humidity, 1},
           {"pressure", "hPa", s.pressure, 1},
           {"battery", senml_units ? "%EL" : "%", s.battery, 1},
           {"rssi", "dBm", static_cast<double>(s.rssi), 0}}};
}

}  // namespace

std::optional<Style> parse_style(std::string_view name) {
  for (int i = 0; i < kStyleCount; ++i) {
    if (kStyleNames[static_cast<std::size_t>(i)] == name) return static_cast<Style>(i);
  }
  return std::nullopt;
}

std::string_view style_name(Style s) { return kStyleNames[static_cast<std::size_t>(s)]; }

std::string device_id(std::string_view prefix, std::size_t index, std::size_t count) {
  std::size_t width = 1;
  for (std::size_t n = count > 0 ? count - 1 : 0; n >= 10; n /= 10) ++width;
  width = std::max<std::size_t>(width, 5);
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof buf, index);
  const auto digits = static_cast<std::size_t>(r.ptr - buf);
  std::string id(prefix);
  id.append(width > digits ? width - digits : 0, '0');
  id.append(buf, r.ptr);
  return id;
}

std::string expand_topic(std::string_view tmpl, std::string_view id) {
  static constexpr std::string_view kPlaceholder = "{device_id}";
  std::string out;
  std::size_t pos = 0;
  while (true) {
    const std::size_t at = tmpl.find(kPlaceholder, pos);
    out.append(tmpl.substr(pos, at == std::string_view::npos ? tmpl.npos : at - pos));
    if (at == std::string_view::npos) break;
    out.append(id);
    pos = at + kPlaceholder.size();
  }
  return out;
}

Device::Device(std::string id, Style style, std::uint64_t seed)
    : id_(std::move(id)), style_(style), rng_(0) {
  std::uint64_t s = seed;
  rng_ = splitmix64(s) | 1;  // xorshift needs a non-zero state
  auto pick = [this](double lo, double hi) { return lo + (uniform() + 1.0) / 2.0 * (hi - lo); };
  temperature_centre_ = pick(15.0, 28.0);
  temperature_ = temperature_centre_ + pick(-2.0, 2.0);
  humidity_ = pick(30.0, 65.0);
  pressure_ = pick(995.0, 1030.0);
  battery_ = pick(40.0, 100.0);
  rssi_ = pick(-85.0, -50.0);
}

double Device::uniform() {
  // xorshift64*: 8 bytes of state per device, plenty for a load generator.
  rng_ ^= rng_ >> 12;
  rng_ ^= rng_ << 25;
  rng_ ^= rng_ >> 27;
  const std::uint64_t r = rng_ * 0x2545f4914f6cdd1dULL;
  return static_cast<double>(r >> 11) * 0x1.0p-52 - 1.0;
}

// A step of at most `step`, pulled towards `centre`, kept inside r.
double Device::walk(double x, double centre, double step, double reversion, Range r) {
  x += (centre - x) * reversion + uniform() * step;
  return std::clamp(x, r.min, r.max);
}

const Sample& Device::step(std::int64_t now_ms) {
  temperature_ = walk(temperature_, temperature_centre_, 0.05, 0.002, kTemperature);
  humidity_ = walk(humidity_, 50.0, 0.2, 0.001, kHumidity);
  pressure_ = walk(pressure_, 1013.0, 0.1, 0.001, kPressure);
  rssi_ = walk(rssi_, -67.0, 2.0, 0.05, kRssi);
  // Batteries drain (with a little measurement noise) and are swapped when nearly empty.
  battery_ = std::clamp(battery_ - 0.002 + uniform() * 0.01, kBattery.min, kBattery.max);
  if (battery_ <= 5.0) battery_ = 100.0;

  ++sample_.seq;
  sample_.ts_ms = now_ms;
  sample_.temperature = round_to(temperature_, 2);
  sample_.humidity = round_to(humidity_, 1);
  sample_.pressure = round_to(pressure_, 1);
  sample_.battery = round_to(battery_, 1);
  sample_.rssi = static_cast<int>(std::lround(rssi_));
  return sample_;
}

void Device::write_payload(std::string& out) const {
  const Sample& s = sample_;
  out.clear();
  switch (style_) {
    case Style::flat:  // IoT-Shield / ESP32 firmware: one flat object
      append_id_seq_time(out, id_, s);
      out += R"(",)";
      append_metric_fields(out, s);
      out += '}';
      break;
    case Style::nested:  // telemetry_app DTO: metrics in their own object
      append_id_seq_time(out, id_, s);
      out += R"(","metrics":{)";
      append_metric_fields(out, s);
      out += "}}";
      break;
    case Style::thingsboard:  // id from the topic (ThingsBoard knows it from the token)
      out += R"({"ts":)";
      append_int(out, s.ts_ms);
      out += R"(,"seq":)";
      append_int(out, static_cast<std::int64_t>(s.seq));
      out += R"(,"values":{)";
      append_metric_fields(out, s);
      out += "}}";
      break;
    case Style::senml: {  // RFC 8428 pack, id from the topic; no envelope, so seq is a record
      out += '[';
      for (const Item& i : items(s, /*senml_units=*/true)) {
        out += R"({"n":")";
        out += i.name;
        out += R"(","u":")";
        out += i.unit;
        out += R"(","v":)";
        append_fixed(out, i.value, i.decimals);
        out += R"(,"t":)";
        append_epoch_seconds(out, s.ts_ms);
        out += "},";
      }
      out += R"({"n":"seq","v":)";
      append_int(out, static_cast<std::int64_t>(s.seq));
      out += R"(,"t":)";
      append_epoch_seconds(out, s.ts_ms);
      out += "}]";
      break;
    }
    case Style::measurements: {  // iot-meter v2 envelope with typed measurements
      out += R"({"v":2,"device_id":")";
      out += id_;
      out += R"(","ts":")";
      append_iso(out, s.ts_ms);
      out += R"(","seq":)";
      append_int(out, static_cast<std::int64_t>(s.seq));
      out += R"(,"msg_type":"telemetry","measurements":[)";
      bool first = true;
      for (const Item& i : items(s, /*senml_units=*/false)) {
        if (!first) out += ',';
        first = false;
        out += R"({"ts":")";
        append_iso(out, s.ts_ms);
        out += R"(","type":")";
        out += i.name;
        out += R"(","val":)";
        append_fixed(out, i.value, i.decimals);
        out += R"(,"unit":")";
        out += i.unit;
        out += R"("})";
      }
      out += "]}";
      break;
    }
  }
}

}  // namespace iotd::sim
