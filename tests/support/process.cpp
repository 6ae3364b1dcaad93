#include "support/process.hpp"

#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/close_range.h>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <utility>

extern char** environ;

namespace iotd::test {
namespace {

std::string errno_text(int err) { return std::strerror(err); }

// PATH search done in the parent, so that the child only calls async-signal-safe functions.
std::filesystem::path resolve_program(const std::string& name, const std::string& path_var) {
  if (name.find('/') != std::string::npos) return name;
  std::string_view rest = path_var;
  while (true) {
    const auto colon = rest.find(':');
    std::string dir(rest.substr(0, colon));
    if (dir.empty()) dir = ".";
    const std::filesystem::path candidate = std::filesystem::path(dir) / name;
    if (::access(candidate.c_str(), X_OK) == 0 && !std::filesystem::is_directory(candidate)) {
      return candidate;
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  throw std::runtime_error("program not found on PATH: " + name);
}

std::vector<std::string> merged_environment(
    const std::map<std::string, std::optional<std::string>>& overrides) {
  std::vector<std::string> out;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    const std::string key(entry.substr(0, entry.find('=')));
    if (!overrides.contains(key)) out.emplace_back(entry);
  }
  for (const auto& [key, value] : overrides) {
    if (value) out.push_back(key + "=" + *value);
  }
  return out;
}

std::vector<char*> c_array(std::vector<std::string>& strings) {
  std::vector<char*> out;
  out.reserve(strings.size() + 1);
  for (auto& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// Child side after fork(): only async-signal-safe calls. On failure, writes errno and
// a step code to the CLOEXEC pipe and _exit(127)s.
[[noreturn]] void exec_child(int err_fd, pid_t parent, const char* cwd, const char* log_path,
                             const char* program, char* const* argv, char* const* envp) {
  auto fail = [err_fd](int step) {
    const int payload[2] = {step, errno};
    [[maybe_unused]] auto n = ::write(err_fd, payload, sizeof payload);
    ::_exit(127);
  };
  // Die with the test process even if it is SIGKILLed or crashes.
  if (::prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) fail(1);
  if (::getppid() != parent) ::_exit(127);  // parent already gone
  // A clean signal state: the test process (gtest, Paho) may block or ignore signals.
  sigset_t all;
  sigemptyset(&all);
  ::sigprocmask(SIG_SETMASK, &all, nullptr);
  for (int sig : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD, SIGQUIT}) ::signal(sig, SIG_DFL);

  const int in = ::open("/dev/null", O_RDONLY);
  if (in < 0 || ::dup2(in, STDIN_FILENO) < 0) fail(2);
  const int out = ::open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
  if (out < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(out, STDERR_FILENO) < 0) fail(3);
  if (cwd[0] != '\0' && ::chdir(cwd) != 0) fail(4);
  // Don't leak the test's descriptors (Paho sockets, listeners, DB files) into the child:
  // a broker holding a copy of a client socket would keep that connection open.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
    const long max_fd = ::sysconf(_SC_OPEN_MAX);
    for (int fd = 3; fd < (max_fd > 0 && max_fd < 65536 ? max_fd : 65536); ++fd) {
      ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
  }
  ::execve(program, argv, envp);
  fail(5);
  ::_exit(127);
}

const char* step_name(int step) {
  switch (step) {
    case 1: return "prctl";
    case 2: return "redirect stdin";
    case 3: return "open log file";
    case 4: return "chdir";
    default: return "execve";
  }
}

}  // namespace

Process::Process(std::vector<std::string> argv, ProcessOptions opts)
    : argv_(std::move(argv)), opts_(std::move(opts)) {
  if (argv_.empty()) throw std::invalid_argument("Process: empty argv");
  std::string path_var = "/usr/local/bin:/usr/bin:/bin";
  if (auto it = opts_.env.find("PATH"); it != opts_.env.end() && it->second) {
    path_var = *it->second;
  } else if (const char* p = std::getenv("PATH")) {
    path_var = p;
  }
  const std::string program = resolve_program(argv_[0], path_var).string();
  std::vector<std::string> args = argv_;
  std::vector<std::string> env = merged_environment(opts_.env);
  std::vector<char*> c_args = c_array(args);
  std::vector<char*> c_env = c_array(env);
  const std::string cwd = opts_.cwd.string();
  const std::string log_path = opts_.log_file.empty() ? "/dev/null" : opts_.log_file.string();

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("Process: pipe2: " + errno_text(errno));
  }
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) {
    const int err = errno;
    ::close(err_pipe[0]);
    ::close(err_pipe[1]);
    throw std::runtime_error("Process: fork: " + errno_text(err));
  }
  if (pid == 0) {
    ::close(err_pipe[0]);
    exec_child(err_pipe[1], parent, cwd.c_str(), log_path.c_str(), program.c_str(),
               c_args.data(), c_env.data());
  }
  ::close(err_pipe[1]);
  int payload[2] = {0, 0};
  ssize_t n;
  do {
    n = ::read(err_pipe[0], payload, sizeof payload);
  } while (n < 0 && errno == EINTR);
  ::close(err_pipe[0]);
  pid_ = pid;
  if (n > 0) {  // the child reported a failure before or at execve
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    throw std::runtime_error("Process: cannot start " + program + ": " + step_name(payload[0]) +
                             ": " + errno_text(payload[1]));
  }
}

Process::~Process() { destroy(); }

Process::Process(Process&& other) noexcept
    : argv_(std::move(other.argv_)),
      opts_(std::move(other.opts_)),
      pid_(std::exchange(other.pid_, -1)),
      status_(std::exchange(other.status_, std::nullopt)) {}

Process& Process::operator=(Process&& other) noexcept {
  if (this != &other) {
    destroy();
    argv_ = std::move(other.argv_);
    opts_ = std::move(other.opts_);
    pid_ = std::exchange(other.pid_, -1);
    status_ = std::exchange(other.status_, std::nullopt);
  }
  return *this;
}

void Process::destroy() noexcept {
  if (pid_ > 0 && !status_) {
    try {
      stop();
    } catch (...) {
      // stop() only throws on impossible waitpid errors; never let a destructor throw.
    }
  }
  pid_ = -1;
}

bool Process::try_reap() {
  if (status_) return true;
  if (pid_ <= 0) return false;
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    status_ = status;
    return true;
  }
  if (r < 0) throw std::runtime_error("Process: waitpid(" + std::to_string(pid_) +
                                      "): " + errno_text(errno));
  return false;
}

void Process::kill(int sig) {
  if (pid_ > 0 && !try_reap()) ::kill(pid_, sig);
}

bool Process::running() { return pid_ > 0 && !try_reap(); }

std::optional<int> Process::wait_exit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0 && !status_) return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto pause = std::chrono::milliseconds(1);
  while (!try_reap()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) return std::nullopt;
    std::this_thread::sleep_for(
        std::min<std::chrono::steady_clock::duration>(pause, deadline - now));
    pause = std::min(pause * 2, std::chrono::milliseconds(20));
  }
  return status_;
}

int Process::stop(std::chrono::milliseconds grace) {
  if (status_) return *status_;
  if (pid_ <= 0) throw std::logic_error("Process::stop: no process");
  kill(SIGTERM);
  if (auto s = wait_exit(grace)) return *s;
  ::kill(pid_, SIGKILL);
  int status = 0;
  while (::waitpid(pid_, &status, 0) < 0) {
    if (errno != EINTR) throw std::runtime_error("Process: waitpid: " + errno_text(errno));
  }
  status_ = status;
  return status;
}

std::string Process::read_log() const {
  if (opts_.log_file.empty()) return {};
  std::ifstream in(opts_.log_file, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

int Process::exit_code(int raw_status) {
  if (WIFEXITED(raw_status)) return WEXITSTATUS(raw_status);
  if (WIFSIGNALED(raw_status)) return 128 + WTERMSIG(raw_status);
  return -1;
}

std::string Process::describe(int raw_status) {
  if (WIFEXITED(raw_status)) return "exit " + std::to_string(WEXITSTATUS(raw_status));
  if (WIFSIGNALED(raw_status)) {
    const int sig = WTERMSIG(raw_status);
    const char* name = ::strsignal(sig);
    return "signal " + std::to_string(sig) + " (" + (name ? name : "?") + ")";
  }
  return "status " + std::to_string(raw_status);
}

int run_process(std::vector<std::string> argv, ProcessOptions opts,
                std::chrono::milliseconds timeout) {
  Process p(std::move(argv), std::move(opts));
  if (auto s = p.wait_exit(timeout)) return *s;
  p.stop(std::chrono::seconds(1));
  std::string cmd;
  for (const auto& a : p.argv()) cmd += (cmd.empty() ? "" : " ") + a;
  throw std::runtime_error("timed out after " + std::to_string(timeout.count()) + " ms: " + cmd);
}

}  // namespace iotd::test
