// One throwaway PostgreSQL and one MariaDB server for a whole ctest run (docs/architecture.md
// §13): the storage suites' server tests (Backends/*/postgresql, Backends/*/mysql) used to
// start their own server in every test process (~2.5 s each, ~110 tests per run); with the
// ctest fixture `db_servers` (CMakeLists.txt) they share these two and each test drops the
// iotd tables first (tests/unit/storage/storage_test_support.hpp).
//
//   iotd_test_db_servers start <state-file>   starts both servers in a detached process,
//       writes "<pid>\npostgresql <url>\nmysql <url>\n" to the state file once both accept
//       connections, and exits (0, or 1 with the server log). The detached process keeps the
//       servers until `stop`, SIGTERM, or the exit of the process that ran `start` (ctest),
//       so that an interrupted run leaves nothing behind. Its output goes to <state-file>.log.
//   iotd_test_db_servers stop <state-file>    stops them (SIGTERM, waits up to 60 s).
// A backend whose server is not installed is left out (under CI=true: `start` fails).
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <exception>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>

#include "support/services.hpp"

namespace {

using iotd::test::MariaDbServer;
using iotd::test::PostgresServer;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

bool alive(pid_t pid) { return pid > 0 && (::kill(pid, 0) == 0 || errno == EPERM); }

pid_t read_pid(const std::string& state) {
  std::ifstream in(state);
  long pid = 0;
  if (!(in >> pid)) return -1;
  return static_cast<pid_t>(pid);
}

int stop(const std::string& state) {
  pid_t pid = read_pid(state);
  if (pid <= 0) {
    std::fprintf(stderr, "test_db_servers: no servers recorded in %s\n", state.c_str());
    return 0;
  }
  if (alive(pid)) ::kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (alive(pid) && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  std::remove(state.c_str());
  if (alive(pid)) {
    std::fprintf(stderr, "test_db_servers: PID %d still running after 60 s\n", static_cast<int>(pid));
    return 1;
  }
  std::printf("test_db_servers: stopped (PID %d)\n", static_cast<int>(pid));
  return 0;
}

bool postgres_wanted() {
  try {
    return iotd::test::find_postgres_bindir().has_value();
  } catch (const std::exception&) {
    return true;  // under CI: start it anyway, so that the failure names what is missing
  }
}

bool mariadb_wanted() {
  try {
    return iotd::test::mariadb_installed();
  } catch (const std::exception&) {
    return true;
  }
}

// The detached process: starts the servers, reports through `report` (one line, "ok" or the
// error), then waits for SIGTERM or for `owner` to go away.
[[noreturn]] void serve(const std::string& state, int report, pid_t owner) {
  std::unique_ptr<PostgresServer> pg;
  std::unique_ptr<MariaDbServer> my;
  std::string message = "ok\n";
  try {
    std::ostringstream out;
    out << ::getpid() << '\n';
    if (postgres_wanted()) {
      pg = std::make_unique<PostgresServer>();
      out << "postgresql " << pg->url() << '\n';
    }
    if (mariadb_wanted()) {
      my = std::make_unique<MariaDbServer>();
      out << "mysql " << my->url() << '\n';
    }
    std::string tmp = state + ".tmp";
    {
      std::ofstream f(tmp, std::ios::trunc);
      f << out.str();
      if (!f) throw std::runtime_error("cannot write " + tmp);
    }
    if (std::rename(tmp.c_str(), state.c_str()) != 0)
      throw std::runtime_error("cannot rename " + tmp + " to " + state);
  } catch (const std::exception& e) {
    message = std::string(e.what()) + "\n";
  }
  bool ok = message == "ok\n";
  (void)!::write(report, message.data(), message.size());
  ::close(report);
  while (ok && !g_stop && alive(owner)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  my.reset();  // the destructors shut the servers down and remove their directories
  pg.reset();
  std::printf("test_db_servers: servers stopped\n");
  std::fflush(stdout);
  std::_Exit(ok ? 0 : 1);
}

int start(const std::string& state) {
  if (pid_t old = read_pid(state); old > 0 && alive(old)) stop(state);
  std::remove(state.c_str());
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {  // the servers' processes must not inherit it
    std::perror("test_db_servers: pipe");
    return 1;
  }
  std::fflush(nullptr);
  pid_t owner = ::getppid();  // ctest: when it goes, so do the servers
  pid_t child = ::fork();
  if (child < 0) {
    std::perror("test_db_servers: fork");
    return 1;
  }
  if (child == 0) {
    ::close(fds[0]);
    ::setsid();
    // ctest reads the test's output until every writer is gone: the detached process and the
    // servers it starts must not hold the test's stdout/stderr.
    int log = ::open((state + ".log").c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log >= 0) {
      ::dup2(log, STDOUT_FILENO);
      ::dup2(log, STDERR_FILENO);
    }
    if (null >= 0) ::dup2(null, STDIN_FILENO);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGINT, on_signal);
    std::signal(SIGHUP, SIG_IGN);
    std::signal(SIGPIPE, SIG_IGN);
    serve(state, fds[1], owner);
  }
  ::close(fds[1]);
  std::string message;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof buf)) > 0) message.append(buf, static_cast<std::size_t>(n));
  ::close(fds[0]);
  if (message != "ok\n") {
    std::fprintf(stderr, "test_db_servers: the servers did not start: %s(log: %s.log)\n",
                 message.empty() ? "no report\n" : message.c_str(), state.c_str());
    return 1;
  }
  std::ifstream in(state);
  std::printf("test_db_servers: started\n%s", std::string(std::istreambuf_iterator<char>(in), {}).c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 || (std::strcmp(argv[1], "start") != 0 && std::strcmp(argv[1], "stop") != 0)) {
    std::fprintf(stderr, "usage: %s start|stop <state-file>\n", argv[0]);
    return 2;
  }
  return std::strcmp(argv[1], "start") == 0 ? start(argv[2]) : stop(argv[2]);
}
