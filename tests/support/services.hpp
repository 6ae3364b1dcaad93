// Throwaway services for integration tests (docs/architecture.md §13): free loopback ports,
// waiting for a TCP listener, program lookup that fails under CI, and a mosquitto broker built
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

// The directory holding PostgreSQL's server programs (initdb, pg_ctl, postgres, psql):
// pg_ctl on PATH, else the newest /usr/lib/postgresql/<version>/bin (Debian keeps them off
// PATH). Missing: nullopt, except under CI, where it throws (as find_program does).
std::optional<std::filesystem::path> find_postgres_bindir();
// True when mariadb-install-db, mariadbd, mariadb-admin and mariadb are installed; under CI a
// missing one throws.
bool mariadb_installed();

// A throwaway PostgreSQL cluster (docs/architecture.md §13): initdb into a TempDir (as user
// postgres when running as root: initdb refuses root), pg_ctl start on 127.0.0.1 with a
// free port and the unix socket in the TempDir, fsync/synchronous_commit/full_page_writes
// off (test data is disposable), role and database iotd/iotd with password iotd. Ready when
// the constructor returns (throws with the server log on failure); stopped (pg_ctl stop
// -m fast, which signals the postmaster PID) in the destructor. Not thread-safe.
class PostgresServer {
 public:
  struct Options {
    std::vector<std::string> settings;  // extra "-c name=value" server settings
    std::chrono::milliseconds start_timeout{30'000};
  };
  PostgresServer();
  explicit PostgresServer(Options opts);
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const {
    return "postgresql://iotd:iotd@127.0.0.1:" + std::to_string(port_) + "/iotd";
  }
  std::string read_log() const;
  pid_t pid() const;  // the postmaster's, -1 when stopped
  bool running() const { return running_; }
  // Fast shutdown (clients disconnected, no crash recovery needed); start() brings the same
  // cluster back on the same port (outage tests).
  void stop();
  void start();

 private:
  std::vector<std::string> as_owner(std::vector<std::string> argv) const;
  void run(std::vector<std::string> argv, const std::string& what,
           std::chrono::milliseconds timeout) const;

  Options opts_;
  TempDir dir_;
  std::filesystem::path bindir_, data_dir_, log_file_, setup_log_;
  std::uint16_t port_;
  bool running_ = false;
};

// A throwaway MariaDB server (docs/architecture.md §13): mariadb-install-db into a TempDir,
// mariadbd --no-defaults as a child process on 127.0.0.1 with a free port,
// innodb_flush_log_at_trx_commit=2 and no binary log, database and user iotd/iotd with
// password iotd. Ready when the constructor returns; the destructor shuts it down
// (mariadb-admin shutdown, then waits for the PID; SIGTERM/SIGKILL if it lingers).
class MariaDbServer {
 public:
  struct Options {
    std::vector<std::string> extra_args;  // extra mariadbd options
    std::chrono::milliseconds start_timeout{60'000};
  };
  MariaDbServer();
  explicit MariaDbServer(Options opts);
  ~MariaDbServer();
  MariaDbServer(const MariaDbServer&) = delete;
  MariaDbServer& operator=(const MariaDbServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string url() const { return "mysql://iotd:iotd@127.0.0.1:" + std::to_string(port_) + "/iotd"; }
  std::string read_log() const;
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  bool running() { return process_ && process_->running(); }
  void stop();
  void start();

 private:
  void run(std::vector<std::string> argv, const std::string& what,
           std::chrono::milliseconds timeout) const;
  std::vector<std::string> client(const std::string& program) const;

  Options opts_;
  TempDir dir_;
  std::filesystem::path data_dir_, log_file_, setup_log_;
  std::uint16_t port_;
  std::optional<Process> process_;
};

}  // namespace iotd::test
