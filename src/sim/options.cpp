// iotd-sim command line (see include/iotd/sim/options.hpp).
#include "iotd/sim/options.hpp"

#include <charconv>
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <string_view>

#include "iotd/core/text.hpp"
#include "iotd/sim/mqtt_wire.hpp"

namespace iotd::sim {

namespace {

constexpr std::size_t kMaxDevices = 10'000'000;
constexpr std::size_t kMaxConnections = 1024;
constexpr std::size_t kMaxWindow = 65'535;  // MQTT packet ids per connection

std::uint64_t parse_uint(std::string_view flag, std::string_view v, std::uint64_t min,
                         std::uint64_t max) {
  std::uint64_t out = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size()) {
    throw UsageError(std::string(flag) + " expects a whole number, got '" + std::string(v) + "'");
  }
  if (out < min || out > max) {
    throw UsageError(std::string(flag) + " must be between " + std::to_string(min) + " and " +
                     std::to_string(max) + ", got " + std::string(v));
  }
  return out;
}

double parse_non_negative(std::string_view flag, std::string_view v) {
  double out = 0;
  const auto r = std::from_chars(v.data(), v.data() + v.size(), out);
  if (v.empty() || r.ec != std::errc() || r.ptr != v.data() + v.size() || !std::isfinite(out) ||
      out < 0) {
    throw UsageError(std::string(flag) + " expects a number >= 0, got '" + std::string(v) + "'");
  }
  return out;
}

int parse_qos(std::string_view flag, std::string_view v) {
  if (v == "0") return 0;
  if (v == "1") return 1;
  throw UsageError(std::string(flag) + " must be 0 or 1, got '" + std::string(v) + "'");
}

bool has_wildcard(std::string_view topic) {
  return topic.find_first_of("+#") != std::string_view::npos;
}

using Setter = std::function<void(std::string_view flag, std::string_view value)>;

// Walks args: each `--flag value` / `--flag=value` goes to its setter, `--json` is a switch.
void parse_flags(const std::vector<std::string>& args, std::size_t first,
                 const std::map<std::string, Setter, std::less<>>& setters, bool& json) {
  for (std::size_t i = first; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg.substr(0, 2) != "--") {
      throw UsageError("unexpected argument '" + std::string(arg) + "'");
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (const auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
    }
    if (name == "--json") {
      if (value) throw UsageError("--json takes no value");
      json = true;
      continue;
    }
    const auto it = setters.find(name);
    if (it == setters.end()) throw UsageError("unknown option " + std::string(name));
    if (!value) {
      if (i + 1 >= args.size()) throw UsageError(std::string(name) + " needs a value");
      value = args[++i];
    }
    it->second(name, *value);
  }
}

PublishOptions parse_publish(const std::vector<std::string>& args, std::size_t first) {
  PublishOptions o;
  bool connections_set = false;
  const std::map<std::string, Setter, std::less<>> setters{
      {"--url", [&](auto, auto v) { o.url = v; }},
      {"--devices", [&](auto f, auto v) { o.devices = parse_uint(f, v, 1, kMaxDevices); }},
      {"--messages", [&](auto f, auto v) {
         o.messages = parse_uint(f, v, 0, std::numeric_limits<std::int64_t>::max());
       }},
      {"--duration", [&](auto f, auto v) { o.duration_s = parse_non_negative(f, v); }},
      {"--rate", [&](auto f, auto v) {
         o.rate = parse_non_negative(f, v);
         if (o.rate > 0 && o.rate < 1e-6) throw UsageError("--rate below 1e-6 msg/s");
       }},
      {"--qos", [&](auto f, auto v) { o.qos = parse_qos(f, v); }},
      {"--style", [&](auto, auto v) {
         if (v == "mixed") {
           o.style.reset();
         } else if (auto s = parse_style(v)) {
           o.style = *s;
         } else {
           throw UsageError("--style must be flat, nested, thingsboard, senml, measurements or "
                            "mixed, got '" + std::string(v) + "'");
         }
       }},
      {"--topic", [&](auto, auto v) { o.topic = v; }},
      {"--device-prefix", [&](auto, auto v) { o.device_prefix = v; }},
      {"--connections", [&](auto f, auto v) {
         o.connections = parse_uint(f, v, 1, kMaxConnections);
         connections_set = true;
       }},
      {"--window", [&](auto f, auto v) { o.window = parse_uint(f, v, 1, kMaxWindow); }},
      {"--client-id", [&](auto, auto v) { o.client_id = v; }},
      {"--seed", [&](auto f, auto v) {
         o.seed = parse_uint(f, v, 0, std::numeric_limits<std::uint64_t>::max());
       }},
      {"--engine", [&](auto, auto v) {
         if (v == "raw") {
           o.engine = Engine::raw;
         } else if (v == "paho") {
           o.engine = Engine::paho;
         } else {
           throw UsageError("--engine must be raw or paho, got '" + std::string(v) + "'");
         }
       }},
      {"--cafile", [&](auto, auto v) { o.cafile = v; }},
  };
  parse_flags(args, first, setters, o.json);
  if (!o.cafile.empty() && o.url.rfind("ssl://", 0) != 0) throw UsageError("--cafile needs an ssl:// --url");

  if (o.url.empty()) throw UsageError("--url must not be empty");
  if (o.engine == Engine::raw && !wire::parse_tcp_url(o.url)) {
    throw UsageError("--url '" + o.url + "' is not tcp://host[:port] (for ssl:// and other " +
                     "URLs Paho accepts, add --engine paho)");
  }
  if (o.topic.empty() || has_wildcard(o.topic)) {
    throw UsageError("--topic '" + o.topic + "' must be a topic name without + or #");
  }
  // The ids land in payloads and topics iotd decodes: keep them valid iotd device ids.
  const std::string widest = device_id(o.device_prefix, o.devices - 1, o.devices);
  if (!text::valid_device_id(widest)) {
    throw UsageError("--device-prefix '" + o.device_prefix + "' makes ids like '" + widest +
                     "', which iotd rejects (1-64 chars of A-Z a-z 0-9 _ . : -)");
  }
  if (o.connections > o.devices) {
    if (connections_set) {
      throw UsageError("--connections (" + std::to_string(o.connections) +
                       ") must not exceed --devices (" + std::to_string(o.devices) + ")");
    }
    o.connections = o.devices;
  }
  return o;
}

SinkOptions parse_sink(const std::vector<std::string>& args, std::size_t first) {
  SinkOptions o;
  const std::map<std::string, Setter, std::less<>> setters{
      {"--url", [&](auto, auto v) { o.url = v; }},
      {"--topic", [&](auto, auto v) { o.topic = v; }},
      {"--qos", [&](auto f, auto v) { o.qos = parse_qos(f, v); }},
      {"--count", [&](auto f, auto v) {
         o.count = parse_uint(f, v, 0, std::numeric_limits<std::int64_t>::max());
       }},
      {"--timeout", [&](auto f, auto v) { o.timeout_s = parse_non_negative(f, v); }},
      {"--client-id", [&](auto, auto v) { o.client_id = v; }},
  };
  parse_flags(args, first, setters, o.json);
  if (o.url.empty()) throw UsageError("--url must not be empty");
  if (o.topic.empty()) throw UsageError("--topic must not be empty");
  return o;
}

}  // namespace

Command parse_command_line(const std::vector<std::string>& args) {
  Command c;
  for (const auto& a : args) {
    if (a == "--help" || a == "-h" || a == "help") {
      c.kind = Command::Kind::help;
      return c;
    }
  }
  std::size_t first = 0;
  if (!args.empty() && args[0] == "sink") {
    c.kind = Command::Kind::sink;
    c.sink = parse_sink(args, 1);
    return c;
  }
  if (!args.empty() && args[0] == "publish") first = 1;
  c.kind = Command::Kind::publish;
  c.publish = parse_publish(args, first);
  return c;
}

std::string help_text() {
  return R"(iotd-sim: device simulator and load generator for iotd (MQTT).

Usage:
  iotd-sim [publish] [options]   N virtual devices publish drifting sensor values
  iotd-sim sink [options]        subscribe and count (the broker's own pub->sub rate)
  iotd-sim --help

publish options:
  --url URL            broker (default tcp://127.0.0.1:1883)
  --devices N          virtual devices (default 100); ids <prefix><zero-padded index>
  --messages N         total messages over all devices; 0 = until --duration or Ctrl-C (default 0)
  --duration S         stop after S seconds (default 0: no limit)
  --rate R             total messages per second on an absolute schedule;
                       0 = as fast as possible with --window in flight (default 0)
  --qos 0|1            (default 1)
  --style STYLE        flat | nested | thingsboard | senml | measurements | mixed
                       (default mixed: the styles rotate over devices)
  --topic T            topic template, {device_id} is replaced (default sensors/{device_id}/data)
  --device-prefix P    (default sim-, giving sim-00000, sim-00001, ...)
  --connections C      MQTT connections, one thread each; devices are split among them (default 1)
  --window W           unacknowledged publishes per connection (default 100)
  --client-id P        client id prefix, "-<n>" appended per connection (default iotd-sim-<pid>)
  --seed S             random walk seed (default 1): same seed, same values
  --engine raw|paho    raw: iotd-sim's own MQTT 3.1.1 publisher, tcp:// URLs (default);
                       paho: Paho MQTT C++ (also ssl://), about half as fast at QoS 1
  --cafile FILE        ssl:// brokers: the CA (PEM) that verifies the broker's certificate
                       and host name (default: the system CAs)
  --json               final report as one JSON line on stdout (human lines go to stderr)

  Every payload carries a per-device sequence number (seq, from 1) and the device time.
  Report: published, acknowledged (QoS 1: PUBACK; QoS 0: written to the socket), errors,
  first publish and last acknowledgement (epoch microseconds) and the rate between them.
  Exit status 0; 1 when a publish failed or stayed unacknowledged, or the broker is
  unreachable; 2 for a bad command line.

sink options:
  --url URL            broker (default tcp://127.0.0.1:1883)
  --topic FILTER       (default sensors/+/data)
  --qos 0|1            subscription QoS (default 1)
  --count N            stop after N messages (default 0: no count)
  --timeout S          stop S seconds after subscribing (default 0: no limit)
  --client-id ID       (default iotd-sim-sink-<pid>)
  --json               final report as one JSON line on stdout

  Prints "ready" on stderr once the broker has acknowledged the subscription (SUBACK).
  Report: received, first and last receive (epoch microseconds), rate between them.
  Exit status 0; 1 when --count was not reached, or the broker is unreachable.

Examples:
  iotd-sim sink --count 100000 --json &          # wait for "ready", then:
  iotd-sim --messages 100000 --devices 100 --qos 1 --json
  iotd-sim --devices 10 --rate 2 --style mixed   # a slow demo feed, until Ctrl-C
)";
}

}  // namespace iotd::sim
