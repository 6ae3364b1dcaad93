// iotd-sim's command line: `iotd-sim [publish] ...` (the load generator) and
// `iotd-sim sink ...` (a subscriber that only counts). Pure parsing; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "iotd/sim/payload.hpp"

namespace iotd::sim {

// A bad flag or value; main prints it with a pointer to --help and exits 2.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// raw: iotd-sim's own lock-free MQTT 3.1.1 publisher (tcp:// only, the default);
// paho: Paho MQTT C++ (any URL Paho takes, e.g. ssl://), slower.
enum class Engine { raw, paho };

struct PublishOptions {
  std::string url = "tcp://127.0.0.1:1883";
  std::size_t devices = 100;
  std::uint64_t messages = 0;      // total over all devices; 0 = until duration or SIGINT
  double duration_s = 0;           // 0 = no time limit
  double rate = 0;                 // total messages per second; 0 = as fast as possible
  int qos = 1;
  std::optional<Style> style;      // nullopt = mixed: styles rotate over devices
  std::string topic = "sensors/{device_id}/data";
  std::string device_prefix = "sim-";
  std::size_t connections = 1;     // devices are split among them, one thread each
  std::size_t window = 100;        // unacknowledged publishes per connection
  std::string client_id;           // prefix; empty = "iotd-sim-<pid>"
  std::uint64_t seed = 1;
  Engine engine = Engine::raw;
  bool json = false;
  std::string cafile;  // ssl:// (paho engine): CA that verifies the broker; empty: system CAs
};

struct SinkOptions {
  std::string url = "tcp://127.0.0.1:1883";
  std::string topic = "sensors/+/data";
  int qos = 1;
  std::uint64_t count = 0;         // stop after this many messages; 0 = no count
  double timeout_s = 0;            // stop this long after "ready"; 0 = no time limit
  std::string client_id;           // empty = "iotd-sim-sink-<pid>"
  bool json = false;
};

struct Command {
  enum class Kind { publish, sink, help };
  Kind kind = Kind::publish;
  PublishOptions publish;
  SinkOptions sink;
};

// args without argv[0]. Flags take `--flag value` or `--flag=value`. Throws UsageError.
Command parse_command_line(const std::vector<std::string>& args);

std::string help_text();

}  // namespace iotd::sim
