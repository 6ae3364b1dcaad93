// A child process for tests (servers, CLIs): fork/execve with arguments, environment
// overrides, working directory and stdout+stderr appended to a log file. The destructor
// never leaks it: SIGTERM, up to 5 s, then SIGKILL, always reaped (by PID).
// Not thread-safe: use one Process from one thread. Spawn from the test's main thread:
// the child gets PR_SET_PDEATHSIG(SIGKILL), tied to the spawning thread, so it also dies
// if the test process is killed before the destructor can run.
#pragma once

#include <chrono>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

namespace iotd::test {

struct ProcessOptions {
  // Set (value) or unset (nullopt) variables on top of the test's own environment.
  std::map<std::string, std::optional<std::string>> env{};
  std::filesystem::path cwd{};       // empty: the test's working directory
  std::filesystem::path log_file{};  // stdout and stderr, appended; empty: /dev/null
};

class Process {
 public:
  // argv[0] is a path or a name looked up on PATH (the overridden PATH if opts sets one).
  // Throws std::runtime_error naming the program if it cannot be found or started.
  explicit Process(std::vector<std::string> argv, ProcessOptions opts = {});
  ~Process();
  Process(Process&& other) noexcept;
  Process& operator=(Process&& other) noexcept;
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  pid_t pid() const { return pid_; }
  const std::filesystem::path& log_file() const { return opts_.log_file; }
  const std::vector<std::string>& argv() const { return argv_; }

  // Sends sig unless the process has already been reaped.
  void kill(int sig);
  // True until the process has exited (reaps it if it has).
  bool running();
  // Waits up to timeout for exit; returns the raw waitpid status (see exit_code()),
  // or nullopt if it is still running. Returns the same status again once reaped.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  // kill(SIGTERM), wait up to grace, then SIGKILL and reap. Returns the raw status.
  int stop(std::chrono::milliseconds grace = std::chrono::seconds(5));

  // Whole log file (empty if none); for diagnostics in assertion messages.
  std::string read_log() const;

  // Shell convention: exit code, or 128 + signal number if killed by a signal.
  static int exit_code(int raw_status);
  // "exit 0", "signal 9 (Killed)".
  static std::string describe(int raw_status);

 private:
  bool try_reap();
  void destroy() noexcept;

  std::vector<std::string> argv_;
  ProcessOptions opts_;
  pid_t pid_ = -1;
  std::optional<int> status_;  // set once reaped
};

// Runs argv to completion (with the same options) and returns its raw status; kills it
// and throws std::runtime_error if it runs longer than timeout.
int run_process(std::vector<std::string> argv, ProcessOptions opts,
                std::chrono::milliseconds timeout);

}  // namespace iotd::test
