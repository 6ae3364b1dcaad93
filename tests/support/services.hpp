// Throwaway services for integration tests (DESIGN §9): free loopback ports, waiting
// for a TCP listener, program lookup that fails under CI, and a mosquitto broker built
// from the shipped docker/mosquitto.conf. Not thread-safe; stop everything by PID.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/process.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {

using Clock = std::chrono::steady_clock;

// A port nobody listens on right now: binds 127.0.0.1:0 and reads the port back.
std::uint16_t free_tcp_port();

// True once something accepts TCP connections on 127.0.0.1:port, false at the deadline.
bool wait_for_tcp(std::uint16_t port, Clock::time_point deadline);

// True when the CI environment variable says we run under CI (CI=true/1/yes).
bool under_ci();

// Absolute path of `name` from a PATH search. Missing: nullopt, so that the caller can
// skip — except under CI, where it throws std::runtime_error (the test FAILS, never skips).
// Use IOTD_REQUIRE_PROGRAM in a test body.
std::optional<std::filesystem::path> find_program(std::string_view name);

// In a TEST body: binds `var` to the program's path, or skips the test when it is missing
// (only outside CI; under CI find_program throws and the test fails).
#define IOTD_REQUIRE_PROGRAM(var, name)                                          \
  auto var##_found = ::iotd::test::find_program(name);                           \
  if (!var##_found) GTEST_SKIP() << "program not installed: " << (name);         \
  const std::filesystem::path var = *var##_found

// The broker config the tests and scripts/run.sh derive from docker/mosquitto.conf:
// listener -> 127.0.0.1:port, persistence_location -> data_dir, `user root` appended
// when running as root, plus extra_lines (later keys override earlier ones).
std::string mosquitto_config(std::uint16_t port, const std::filesystem::path& data_dir,
                             const std::vector<std::string>& extra_lines = {});

// mosquitto (Debian package) on 127.0.0.1 with a free port, the shipped config
// (persistence on, large queues), its data and log in a TempDir. Started by the
// constructor, ready when it returns (throws with the log on failure); stopped by PID
// in the destructor.
class MosquittoServer {
 public:
  struct Options {
    std::vector<std::string> extra_config;  // appended config lines
    std::chrono::milliseconds start_timeout{10'000};
  };
  MosquittoServer();
  explicit MosquittoServer(Options opts);
  ~MosquittoServer();
  MosquittoServer(const MosquittoServer&) = delete;
  MosquittoServer& operator=(const MosquittoServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "tcp://127.0.0.1:" + std::to_string(port_); }
  const std::filesystem::path& data_dir() const { return data_dir_; }
  const std::filesystem::path& log_file() const { return log_file_; }
  std::string read_log() const;
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  bool running() { return process_ && process_->running(); }

  // Graceful stop (SIGTERM: mosquitto saves its database), then start again on the same
  // port with the same persistence: sessions, queued and retained messages survive.
  void restart();
  // Graceful stop; start() brings it back (e.g. to test an outage of some length).
  void stop();
  void start();
  // kill -9: the broker loses what it has not autosaved (every 60 s in the shipped config).
  void kill_hard();

 private:
  Options opts_;
  TempDir dir_;
  std::filesystem::path data_dir_;
  std::filesystem::path config_file_;
  std::filesystem::path log_file_;
  std::uint16_t port_;
  std::optional<Process> process_;
};

}  // namespace iotd::test
