// The real iotd binary under test: free HTTP port, its own data directory (SQLite file and
// journal), an MQTT broker URL, stdout/stderr in a log file. Started by the constructor and
// ready (HTTP live) when it returns; stopped by PID (SIGTERM, then SIGKILL) when destroyed.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.hpp"

namespace iotd::test {

struct HttpReply {
  int status = 0;
  std::string body;
  std::map<std::string, std::string> headers;
  nlohmann::json json() const;  // parses body; fails the test (throws) on bad JSON
};

inline constexpr const char* kTestAdminKey = "test-admin-key-0123456789abcdef";

class IotdProcess {
 public:
  struct Options {
    std::filesystem::path data_dir;  // required; reused across restarts
    std::string mqtt_url;            // empty: MQTT disabled
    std::map<std::string, std::string> env;  // extra IOTD_* settings
    std::chrono::milliseconds start_timeout{20'000};
  };
  explicit IotdProcess(Options opts);
  ~IotdProcess();

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return process_ ? process_->pid() : -1; }
  std::filesystem::path db_path() const { return opts_.data_dir / "iotd.db"; }
  // IOTD_DATABASE_URL as started: Options.env's, else the SQLite file db_path().
  std::string database_url() const;
  std::string log() const;

  void start();
  // SIGTERM and wait for a clean exit; returns the exit code.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(60));
  void kill9();
  // Sends `sig` and returns at once (stop() then waits for the exit).
  void signal(int sig);
  void restart() { stop(); start(); }

  HttpReply get(const std::string& target, const std::map<std::string, std::string>& headers = {});
  HttpReply post(const std::string& target, const std::string& body,
                 const std::map<std::string, std::string>& headers = {});
  HttpReply request(const std::string& method, const std::string& target, const std::string& body,
                    const std::map<std::string, std::string>& headers);

 private:
  Options opts_;
  std::uint16_t port_ = 0;
  std::optional<Process> process_;
};

// Polls `pred` every 20 ms until it is true or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

// The single number a query like "SELECT COUNT(*) FROM messages" returns, from the database
// at `database_url` (an IOTD_DATABASE_URL: sqlite, postgresql or mysql), opened for this call.
std::int64_t db_count(const std::string& database_url, const std::string& sql_count_query);
// Every value of metric `name` over all stored messages (for exact-count assertions).
std::vector<double> db_metric_values(const std::string& database_url, const std::string& name);
// The iotd binary run to completion in `dir` with only the given IOTD_* settings (the test's
// own environment may hold some): its exit code and its stdout and stderr together.
struct IotdRun {
  int code = -1;
  std::string out;
};
IotdRun run_iotd(const std::filesystem::path& dir, const std::vector<std::string>& args,
                 const std::map<std::string, std::string>& env = {},
                 std::chrono::milliseconds timeout = std::chrono::seconds(60));

// A whole file as text ("" when it cannot be read).
std::string read_file(const std::filesystem::path& p);

// Asserts (gtest) that metric "n" of the stored messages is exactly the numbers
// [0, expected), each once: none lost, none stored twice.
void expect_each_n_once(const std::string& database_url, int expected);

// The same on a SQLite file (opened next to a running iotd).
std::string sqlite_url(const std::filesystem::path& db);
std::int64_t sqlite_count(const std::filesystem::path& db, const std::string& sql_count_query);
std::vector<double> sqlite_metric_values(const std::filesystem::path& db, const std::string& name);

}  // namespace iotd::test
