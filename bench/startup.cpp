// iotd-bench-startup: start-to-ready of a server command (BENCHMARKS.md target: "< 200 ms").
// Each run forks and execs the command, polls a URL every millisecond until it answers
// 200, then stops the child by PID (SIGTERM, SIGKILL after 10 s) and reaps it.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "lib/args.hpp"
#include "lib/clock.hpp"
#include "lib/http_get.hpp"
#include "lib/percentiles.hpp"
#include "lib/report.hpp"

namespace {

using namespace iotd::bench;
using namespace std::chrono_literals;

constexpr const char* kUsage =
    R"(usage: iotd-bench-startup [options] -- COMMAND [ARGS...]
  --runs N             start the command N times (default 5)
  --url URL            readiness URL, polled every 1 ms until it answers 200
                       (default http://127.0.0.1:8080/api/v1/health/live)
  --ready-timeout S    give up on a run after S seconds (default 30)
  --child-log FILE     the command's stdout and stderr (default: a temporary file,
                       shown when a run fails)
  --json               one JSON object instead of lines
The command inherits the environment. Time runs from just before fork/exec to the 200.)";

struct Options {
  int runs = 5;
  Url url = *parse_url("http://127.0.0.1:8080/api/v1/health/live");
  double ready_timeout_s = 30;
  std::string child_log;
  bool json = false;
  std::vector<std::string> command;
};

struct Run {
  double ready_ms = 0;
  double stop_ms = 0;
  std::string exit;  // how the child ended after SIGTERM
  int polls = 0;
  pid_t pid = -1;
};

struct RunFailed : std::runtime_error {
  using std::runtime_error::runtime_error;
};

Options parse(int argc, char** argv) {
  Options o;
  Args a(argc, argv);
  while (!a.done()) {
    if (auto v = a.value("--runs")) {
      o.runs = static_cast<int>(to_integer(*v, "--runs", 1, 10'000));
    } else if (auto v = a.value("--url")) {
      auto url = parse_url(*v);
      if (!url) throw UsageError("--url: not an http:// URL: " + *v);
      o.url = *url;
    } else if (auto v = a.value("--ready-timeout")) {
      o.ready_timeout_s = to_double(*v, "--ready-timeout", 0.001, 3600);
    } else if (auto v = a.value("--child-log")) {
      o.child_log = *v;
    } else if (a.flag("--json")) {
      o.json = true;
    } else if (auto cmd = a.command()) {
      o.command = std::move(*cmd);
    } else if (a.flag("--help") || a.flag("-h")) {
      std::puts(kUsage);
      std::exit(0);
    } else {
      throw UsageError("unknown argument: " + a.peek());
    }
  }
  if (o.command.empty()) throw UsageError("no command: put it after --");
  return o;
}

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status))
    return "signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "status " + std::to_string(status);
}

std::string tail_of(const std::string& path, std::size_t max_bytes = 4000) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? "...\n" + s.substr(s.size() - max_bytes) : s;
}

// A started child that is always stopped and reaped, even when a run fails.
class Child {
 public:
  // Returns after exec succeeded; throws RunFailed if it did not.
  Child(const std::vector<std::string>& command, const std::string& log_path) {
    std::vector<char*> argv;
    for (const auto& s : command) argv.push_back(const_cast<char*>(s.c_str()));
    argv.push_back(nullptr);
    int pipe_fds[2];  // close-on-exec: EOF means exec worked, an int means errno
    if (::pipe2(pipe_fds, O_CLOEXEC) != 0) throw RunFailed(std::string("pipe: ") + std::strerror(errno));
    int log_fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw RunFailed("cannot open " + log_path + ": " + std::strerror(errno));
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(log_fd, STDOUT_FILENO);
      ::dup2(log_fd, STDERR_FILENO);
      int null_fd = ::open("/dev/null", O_RDONLY);
      if (null_fd >= 0) ::dup2(null_fd, STDIN_FILENO);
      ::execvp(argv[0], argv.data());
      int err = errno;
      [[maybe_unused]] auto n = ::write(pipe_fds[1], &err, sizeof err);
      ::_exit(127);
    }
    const int fork_errno = errno;
    ::close(log_fd);
    ::close(pipe_fds[1]);
    if (pid_ < 0) {
      ::close(pipe_fds[0]);
      throw RunFailed(std::string("fork: ") + std::strerror(fork_errno));
    }
    int err = 0;
    ssize_t n;
    do n = ::read(pipe_fds[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    ::close(pipe_fds[0]);
    if (n == sizeof err) {
      reap(10s);
      throw RunFailed("cannot exec " + command[0] + ": " + std::strerror(err));
    }
  }
  ~Child() {
    if (!reaped_) stop();
  }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // The raw wait status if the child has exited (reaping it), else nullopt.
  std::optional<int> exited() {
    if (reaped_) return status_;
    int st = 0;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = st;
      return st;
    }
    return std::nullopt;
  }

  // SIGTERM, up to 10 s, then SIGKILL; always reaps. Returns the wait status.
  int stop() {
    if (!exited()) ::kill(pid_, SIGTERM);
    if (auto st = reap(10s)) return *st;
    ::kill(pid_, SIGKILL);
    return *reap(std::chrono::hours(1));
  }

 private:
  std::optional<int> reap(Clock::duration within) {
    const auto deadline = Clock::now() + within;
    while (true) {
      if (auto st = exited()) return st;
      if (Clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(1ms);
    }
  }

  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

Run run_once(const Options& o, const std::string& log_path) {
  Run run;
  const auto start = Clock::now();
  Child child(o.command, log_path);
  run.pid = child.pid();
  const auto deadline = start + from_seconds(o.ready_timeout_s);
  std::string last_error;
  auto next_poll = Clock::now();
  while (true) {
    if (auto st = child.exited())
      throw RunFailed("the command ended before it was ready: " + describe_status(*st));
    ++run.polls;
    GetResult r = http_get(o.url, 1000ms);
    const auto now = Clock::now();
    if (r.ok && r.status == 200) {
      run.ready_ms = to_ms(now - start);
      break;
    }
    last_error = r.ok ? "HTTP " + std::to_string(r.status) : r.error;
    if (now >= deadline)
      throw RunFailed("not ready after " + std::to_string(o.ready_timeout_s) + " s (last poll: " + last_error + ")");
    next_poll += 1ms;
    if (next_poll > now) std::this_thread::sleep_until(next_poll);
    else next_poll = now;
  }
  const auto stop_start = Clock::now();
  run.exit = describe_status(child.stop());
  run.stop_ms = to_ms(Clock::now() - stop_start);
  return run;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "iotd-bench-startup: %s\n%s\n", e.what(), kUsage);
    return 2;
  }
  std::signal(SIGPIPE, SIG_IGN);

  std::string log_path = o.child_log;
  const bool temp_log = log_path.empty();
  if (temp_log) {
    char tmpl[] = "/tmp/iotd-bench-startup-XXXXXX";
    int fd = ::mkstemp(tmpl);
    if (fd < 0) {
      std::fprintf(stderr, "iotd-bench-startup: mkstemp: %s\n", std::strerror(errno));
      return 1;
    }
    ::close(fd);
    log_path = tmpl;
  }

  std::vector<Run> runs;
  int rc = 0;
  for (int i = 0; i < o.runs; ++i) {
    try {
      runs.push_back(run_once(o, log_path));
    } catch (const std::exception& e) {
      std::fprintf(stderr, "iotd-bench-startup: run %d: %s\nthe command's output%s%s%s:\n%s\n", i + 1, e.what(),
                   temp_log ? "" : " (", temp_log ? "" : log_path.c_str(), temp_log ? "" : ")",
                   tail_of(log_path).c_str());
      rc = 1;
      break;
    }
  }
  if (temp_log) ::unlink(log_path.c_str());

  std::vector<std::int64_t> ready_us;
  nlohmann::ordered_json runs_json = nlohmann::ordered_json::array();
  for (const auto& r : runs) {
    ready_us.push_back(std::llround(r.ready_ms * 1000));
    runs_json.push_back({{"ready_ms", round3(r.ready_ms)}, {"polls", r.polls}, {"pid", r.pid},
                         {"stop_ms", round3(r.stop_ms)}, {"exit", r.exit}});
  }
  std::sort(ready_us.begin(), ready_us.end());
  nlohmann::ordered_json report{
      {"tool", "iotd-bench-startup"},
      {"url", "http://" + o.url.authority() + o.url.target},
      {"runs_requested", o.runs},
      {"runs_completed", runs.size()},
      {"median_ready_ms", runs.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(round3(median(ready_us) / 1000.0))},
      {"min_ready_ms", runs.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(round3(ready_us.front() / 1000.0))},
      {"max_ready_ms", runs.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(round3(ready_us.back() / 1000.0))},
      {"runs", runs_json},
  };
  if (o.json) {
    print_report(report, true);
  } else {
    for (std::size_t i = 0; i < runs.size(); ++i)
      std::printf("run %zu: ready %.3f ms (%d polls), pid %d stopped in %.3f ms (%s)\n", i + 1, runs[i].ready_ms,
                  runs[i].polls, static_cast<int>(runs[i].pid), runs[i].stop_ms, runs[i].exit.c_str());
    report.erase("runs");
    print_report(report, false);
  }
  return rc;
}
