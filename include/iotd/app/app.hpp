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

// The checks App's start-up makes on the configuration beyond each setting's own parse
// (topic templates, aliases, database URL syntax, ...), without opening a socket, a file for
// writing or the database. Throws config::ConfigError naming the setting.
void check_startup_config(const config::Config& cfg);

// `iotd check-config` (alias `iotd config`): check_startup_config, then the effective
// configuration with sources and secrets masked on stdout; 0 if valid, 2 if not.
int run_check_config(const config::Invocation& inv);

// `iotd replay-journal --journal-dir DIR [--instance-id ID]` (issue 13, docs/scaling.md §2):
// commits a dead instance's journal into the database under that instance's checkpoint,
// then renames DIR to DIR.replayed-<UTC time>. ID defaults to the one recorded in DIR.
// Returns 0 when done, 2 on a usage error, 1 when the journal cannot be committed.
int run_replay_journal(const config::Invocation& inv);

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
