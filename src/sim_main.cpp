// iotd-sim: args -> publish or sink run -> report -> exit code.
#include <csignal>
#include <cstdio>
#include <iostream>
#include <unistd.h>

#include "iotd/sim/options.hpp"
#include "iotd/sim/publisher.hpp"
#include "iotd/sim/sink.hpp"

namespace {

std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free);

// First SIGINT/SIGTERM: stop and report; a second one: leave now.
extern "C" void on_signal(int) {
  if (g_stop.exchange(true)) _exit(130);
}

void install_signal_handlers() {
  struct sigaction sa{};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace iotd::sim;
  Command cmd;
  try {
    cmd = parse_command_line(std::vector<std::string>(argv + 1, argv + argc));
  } catch (const UsageError& e) {
    std::fprintf(stderr, "iotd-sim: %s\nTry 'iotd-sim --help'.\n", e.what());
    return 2;
  }
  if (cmd.kind == Command::Kind::help) {
    std::cout << help_text();
    return 0;
  }
  install_signal_handlers();
  try {
    if (cmd.kind == Command::Kind::sink) {
      const SinkOptions& o = cmd.sink;
      const SinkReport r = run_sink(o, g_stop, [] { std::fputs("ready\n", stderr); });
      std::fprintf(stderr, "iotd-sim sink: %s\n", to_text(r).c_str());
      if (o.json) std::cout << to_json(r, o) << std::endl;
      return r.complete ? 0 : 1;
    }
    const PublishOptions& o = cmd.publish;
    char pace[64] = "as fast as possible";
    if (o.rate > 0) std::snprintf(pace, sizeof pace, "%g msg/s", o.rate);
    std::fprintf(stderr, "iotd-sim: %zu devices, %zu connection(s), QoS %d, %s to %s\n",
                 o.devices, o.connections, o.qos, pace, o.url.c_str());
    const PublishReport r = run_publisher(o, g_stop, [&o](const PublishReport& p) {
      std::fprintf(stderr, "iotd-sim: %s\n", to_text(p, o).c_str());
    });
    std::fprintf(stderr, "iotd-sim: %s\n", to_text(r, o).c_str());
    if (o.json) std::cout << to_json(r, o) << std::endl;
    return r.errors == 0 && r.unacknowledged() == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iotd-sim: error: %s\n", e.what());
    return 1;
  }
}
