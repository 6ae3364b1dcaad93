// Wires every module into the running service (STYLE: only `app` knows every module) and
// owns the start-up and shutdown order. Constructed and run from main's thread.
#pragma once

#include <memory>

#include "iotd/config/config.hpp"

namespace iotd::app {

// Sets up spdlog (console or JSON lines, optional file) for the process.
void setup_logging(const config::Config& cfg);

// `iotd migrate`: applies migrations and returns the exit code.
int run_migrate(const config::Config& cfg);

class App {
 public:
  // Starts everything (database, migrations, journal, writer, HTTP, MQTT) and prints the
  // ready line; throws with a message naming the cause when something cannot start.
  explicit App(config::Config cfg);
  ~App();
  App(const App&) = delete;
  App& operator=(const App&) = delete;

  // Blocks until SIGINT/SIGTERM, then stops intake, drains the journal into the database
  // and stops. Returns the process exit code.
  int wait_for_shutdown();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Blocks SIGINT/SIGTERM (and ignores SIGPIPE) in the calling thread; call before any
// thread starts so that they all inherit the mask and main can sigwait().
void block_shutdown_signals();

}  // namespace iotd::app
