#include "support/services.hpp"

#include "iotd/core/fd.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sstream>
#include <stdexcept>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#ifndef IOTD_SOURCE_DIR
#error "IOTD_SOURCE_DIR must be defined (CMake compile definition)"
#endif

namespace iotd::test {
namespace {

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

bool tcp_accepts(std::uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) return false;
  const sockaddr_in addr = loopback(port);
  return ::connect(s.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
}

std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

bool starts_with_key(std::string_view line, std::string_view key) {
  return line.size() > key.size() && line.substr(0, key.size()) == key &&
         (line[key.size()] == ' ' || line[key.size()] == '\t');
}

}  // namespace

std::uint16_t free_tcp_port() {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.get() < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr = loopback(0);
  if (::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  if (::getsockname(s.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    throw std::runtime_error(std::string("getsockname: ") + std::strerror(errno));
  }
  return ntohs(addr.sin_port);
}

bool wait_for_tcp(std::uint16_t port, Clock::time_point deadline) {
  while (true) {
    if (tcp_accepts(port)) return true;
    if (Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

bool under_ci() {
  const char* ci = std::getenv("CI");
  if (ci == nullptr) return false;
  const std::string_view v(ci);
  return v == "true" || v == "1" || v == "yes" || v == "TRUE" || v == "True";
}

namespace {

std::optional<std::filesystem::path> search_path(std::string_view name) {
  const char* path_env = std::getenv("PATH");
  std::string_view rest = path_env ? path_env : "/usr/local/bin:/usr/bin:/bin";
  while (true) {
    const auto colon = rest.find(':');
    const std::string dir(rest.substr(0, colon));
    if (!dir.empty()) {
      const std::filesystem::path candidate = std::filesystem::path(dir) / name;
      std::error_code ec;
      if (std::filesystem::is_regular_file(candidate, ec) &&
          ::access(candidate.c_str(), X_OK) == 0) {
        return std::filesystem::absolute(candidate);
      }
    }
    if (colon == std::string_view::npos) break;
    rest.remove_prefix(colon + 1);
  }
  return std::nullopt;
}

}  // namespace

std::optional<std::filesystem::path> find_program(std::string_view name) {
  if (auto p = search_path(name)) return p;
  if (under_ci()) {
    throw std::runtime_error("required program '" + std::string(name) +
                             "' not found on PATH (CI=true: a missing service is a failure; "
                             "scripts/install-deps.sh installs it)");
  }
  return std::nullopt;
}

std::string mosquitto_config(std::uint16_t port, const std::filesystem::path& data_dir,
                             const std::vector<std::string>& extra_lines) {
  // Same rewrite as scripts/run.sh (sed): keep every setting of the shipped file.
  std::istringstream in(read_file(std::filesystem::path(IOTD_SOURCE_DIR) / "docker/mosquitto.conf"));
  std::ostringstream out;
  bool saw_listener = false;
  bool saw_location = false;
  for (std::string line; std::getline(in, line);) {
    if (starts_with_key(line, "listener")) {
      out << "listener " << port << " 127.0.0.1\n";
      saw_listener = true;
    } else if (starts_with_key(line, "persistence_location")) {
      out << "persistence_location " << data_dir.string() << "/\n";
      saw_location = true;
    } else {
      out << line << '\n';
    }
  }
  if (!saw_listener || !saw_location) {
    throw std::runtime_error("docker/mosquitto.conf lacks a `listener` or `persistence_location` "
                             "line (tests/support/services.cpp and scripts/run.sh rewrite them)");
  }
  // As root, mosquitto 2 drops to user `mosquitto`, which cannot write the temp dir.
  if (::geteuid() == 0) out << "user root\n";
  for (const auto& l : extra_lines) out << l << '\n';
  return out.str();
}

MosquittoServer::MosquittoServer() : MosquittoServer(Options{}) {}

MosquittoServer::MosquittoServer(Options opts)
    : opts_(std::move(opts)),
      data_dir_(dir_ / "data"),
      config_file_(dir_ / "mosquitto.conf"),
      log_file_(dir_ / "mosquitto.log"),
      port_(free_tcp_port()) {
  std::filesystem::create_directories(data_dir_);
  std::ofstream(config_file_) << mosquitto_config(port_, data_dir_, opts_.extra_config);
  start();
}

MosquittoServer::~MosquittoServer() {
  try {
    process_.reset();  // SIGTERM, then SIGKILL after 5 s; reaped
  } catch (...) {
  }
}

std::string MosquittoServer::read_log() const {
  std::error_code ec;
  if (!std::filesystem::exists(log_file_, ec)) return {};
  return read_file(log_file_);
}

void MosquittoServer::start() {
  if (process_ && process_->running()) return;
  // find_program throws under CI; elsewhere a missing broker is still an error here.
  const auto program = find_program("mosquitto");
  if (!program) throw std::runtime_error("mosquitto is not installed (scripts/install-deps.sh)");
  process_.emplace(std::vector<std::string>{program->string(), "-c", config_file_.string()},
                   ProcessOptions{.env = {}, .cwd = dir_.path(), .log_file = log_file_});
  const auto deadline = Clock::now() + opts_.start_timeout;
  while (!tcp_accepts(port_)) {
    if (!process_->running()) {
      const int status = *process_->wait_exit(std::chrono::milliseconds(0));
      process_.reset();
      throw std::runtime_error("mosquitto exited at start (" + Process::describe(status) +
                               ") on port " + std::to_string(port_) + "; log:\n" + read_log());
    }
    if (Clock::now() >= deadline) {
      process_.reset();
      throw std::runtime_error("mosquitto did not listen on 127.0.0.1:" + std::to_string(port_) +
                               " in time; log:\n" + read_log());
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void MosquittoServer::stop() {
  if (!process_) return;
  const int status = process_->stop(std::chrono::seconds(10));
  process_.reset();
  if (Process::exit_code(status) != 0) {
    throw std::runtime_error("mosquitto stopped with " + Process::describe(status) + "; log:\n" +
                             read_log());
  }
}

void MosquittoServer::restart() {
  stop();
  start();
}

void MosquittoServer::kill_hard() {
  if (!process_) return;
  process_->kill(SIGKILL);
  process_->wait_exit(std::chrono::seconds(10));
  process_.reset();
}

// ---- PostgreSQL and MariaDB -------------------------------------------------------------

namespace {

std::string tail_of(const std::filesystem::path& p, std::size_t max = 4000) {
  std::error_code ec;
  if (!std::filesystem::exists(p, ec)) return {};
  std::string s = read_file(p);
  return s.size() > max ? s.substr(s.size() - max) : s;
}

}  // namespace

std::optional<std::filesystem::path> find_postgres_bindir() {
  // Symlinks on PATH (e.g. /usr/local/bin/pg_ctl) lead to the directory with the rest.
  if (auto p = search_path("pg_ctl")) {
    std::error_code ec;
    auto real = std::filesystem::canonical(*p, ec);
    if (!ec && ::access((real.parent_path() / "initdb").c_str(), X_OK) == 0 &&
        ::access((real.parent_path() / "psql").c_str(), X_OK) == 0)
      return real.parent_path();
  }
  std::optional<std::filesystem::path> best;
  int best_version = -1;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    const std::string v = e.path().filename().string();
    int version = std::atoi(v.c_str());
    if (version > best_version && ::access((e.path() / "bin/pg_ctl").c_str(), X_OK) == 0) {
      best_version = version;
      best = e.path() / "bin";
    }
  }
  if (!best && under_ci())
    throw std::runtime_error("PostgreSQL server programs (pg_ctl, initdb) not found (CI=true: a "
                             "missing service is a failure; scripts/install-deps.sh installs "
                             "postgresql)");
  return best;
}

bool mariadb_installed() {
  for (const char* p : {"mariadb-install-db", "mariadbd", "mariadb-admin", "mariadb"}) {
    bool found = search_path(p).has_value() ||
                 (std::string_view(p) == "mariadbd" && ::access("/usr/sbin/mariadbd", X_OK) == 0);
    if (!found) {
      if (under_ci())
        throw std::runtime_error(std::string("required program '") + p +
                                 "' not found (CI=true: a missing service is a failure; "
                                 "scripts/install-deps.sh installs mariadb-server)");
      return false;
    }
  }
  return true;
}

PostgresServer::PostgresServer() : PostgresServer(Options{}) {}

PostgresServer::PostgresServer(Options opts)
    : opts_(std::move(opts)),
      data_dir_(dir_ / "data"),
      log_file_(dir_ / "server.log"),
      setup_log_(dir_ / "setup.log"),
      port_(free_tcp_port()) {
  auto bindir = find_postgres_bindir();
  if (!bindir) throw std::runtime_error("PostgreSQL is not installed (scripts/install-deps.sh)");
  bindir_ = *bindir;
  if (::geteuid() == 0) {  // initdb refuses root: the cluster belongs to user postgres
    const passwd* pw = ::getpwnam("postgres");
    if (pw == nullptr) throw std::runtime_error("running as root but there is no user 'postgres'");
    if (::chown(dir_.path().c_str(), pw->pw_uid, pw->pw_gid) != 0)
      throw std::runtime_error("chown postgres " + dir_.path().string() + ": " + std::strerror(errno));
  }
  run(as_owner({(bindir_ / "initdb").string(), "-D", data_dir_.string(), "-U", "postgres", "-A",
                "trust", "-E", "UTF8", "--no-locale", "--no-sync"}),
      "initdb", std::chrono::seconds(60));
  start();
  run({(bindir_ / "psql").string(), "-h", "127.0.0.1", "-p", std::to_string(port_), "-U",
       "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1", "-c",
       "CREATE ROLE iotd LOGIN PASSWORD 'iotd'", "-c", "CREATE DATABASE iotd OWNER iotd"},
      "creating role and database iotd", std::chrono::seconds(30));
}

PostgresServer::~PostgresServer() {
  try {
    stop();
  } catch (...) {
    // Last resort, by PID: SIGQUIT is PostgreSQL's immediate shutdown.
    if (pid_t p = pid(); p > 0) ::kill(p, SIGQUIT);
  }
}

std::vector<std::string> PostgresServer::as_owner(std::vector<std::string> argv) const {
  if (::geteuid() != 0) return argv;
  std::vector<std::string> out{"runuser", "-u", "postgres", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

void PostgresServer::run(std::vector<std::string> argv, const std::string& what,
                         std::chrono::milliseconds timeout) const {
  // The setup log lives in the cluster's directory, so user postgres can append to it.
  int status = run_process(std::move(argv), ProcessOptions{.env = {}, .cwd = dir_.path(),
                                                           .log_file = setup_log_},
                           timeout);
  if (Process::exit_code(status) != 0)
    throw std::runtime_error("PostgreSQL: " + what + " failed (" + Process::describe(status) +
                             "); setup log:\n" + tail_of(setup_log_) + "\nserver log:\n" +
                             tail_of(log_file_));
}

std::string PostgresServer::read_log() const { return tail_of(log_file_, std::string::npos); }

pid_t PostgresServer::pid() const {
  std::ifstream in(data_dir_ / "postmaster.pid");
  long pid = -1;
  if (!(in >> pid)) return -1;
  return static_cast<pid_t>(pid);
}

void PostgresServer::start() {
  if (running_) return;
  std::string settings = "-c listen_addresses=127.0.0.1 -p " + std::to_string(port_) + " -k " +
                         dir_.path().string() +
                         " -c fsync=off -c synchronous_commit=off -c full_page_writes=off";
  for (const auto& s : opts_.settings) settings += " -c " + s;
  const auto secs = std::max<long long>(
      1, std::chrono::duration_cast<std::chrono::seconds>(opts_.start_timeout).count());
  run(as_owner({(bindir_ / "pg_ctl").string(), "-D", data_dir_.string(), "-l",
                log_file_.string(), "-w", "-t", std::to_string(secs), "-o", settings, "start"}),
      "pg_ctl start on port " + std::to_string(port_), opts_.start_timeout + std::chrono::seconds(5));
  running_ = true;
}

void PostgresServer::stop() {
  if (!running_) return;
  running_ = false;
  run(as_owner({(bindir_ / "pg_ctl").string(), "-D", data_dir_.string(), "-m", "fast", "-w",
                "-t", "30", "stop"}),
      "pg_ctl stop", std::chrono::seconds(35));
}

MariaDbServer::MariaDbServer() : MariaDbServer(Options{}) {}

MariaDbServer::MariaDbServer(Options opts)
    : opts_(std::move(opts)),
      data_dir_(dir_ / "data"),
      log_file_(dir_ / "error.log"),
      setup_log_(dir_ / "setup.log"),
      port_(free_tcp_port()) {
  if (!mariadb_installed()) throw std::runtime_error("MariaDB is not installed (scripts/install-deps.sh)");
  std::vector<std::string> install{"mariadb-install-db", "--no-defaults",
                                   "--datadir=" + data_dir_.string(),
                                   "--auth-root-authentication-method=normal", "--skip-test-db"};
  if (::geteuid() == 0) install.push_back("--user=root");
  run(install, "mariadb-install-db", std::chrono::seconds(120));
  start();
  auto cmd = client("mariadb");
  cmd.insert(cmd.end(), {"-e", "CREATE DATABASE iotd; CREATE USER 'iotd'@'%' IDENTIFIED BY 'iotd'; "
                               "GRANT ALL ON iotd.* TO 'iotd'@'%';"});
  run(cmd, "creating database and user iotd", std::chrono::seconds(30));
}

MariaDbServer::~MariaDbServer() {
  try {
    stop();
  } catch (...) {
    process_.reset();  // SIGTERM, then SIGKILL; reaped
  }
}

std::vector<std::string> MariaDbServer::client(const std::string& program) const {
  return {program, "--no-defaults", "-h", "127.0.0.1", "-P", std::to_string(port_), "-u", "root"};
}

void MariaDbServer::run(std::vector<std::string> argv, const std::string& what,
                        std::chrono::milliseconds timeout) const {
  int status = run_process(std::move(argv),
                           ProcessOptions{.env = {}, .cwd = dir_.path(), .log_file = setup_log_},
                           timeout);
  if (Process::exit_code(status) != 0)
    throw std::runtime_error("MariaDB: " + what + " failed (" + Process::describe(status) +
                             "); setup log:\n" + tail_of(setup_log_) + "\nserver log:\n" +
                             tail_of(log_file_));
}

std::string MariaDbServer::read_log() const { return tail_of(log_file_, std::string::npos); }

void MariaDbServer::start() {
  if (process_ && process_->running()) return;
  auto program = search_path("mariadbd");
  std::string mariadbd = program ? program->string() : "/usr/sbin/mariadbd";
  std::vector<std::string> argv{mariadbd,
                                "--no-defaults",  // must come first: ignore /etc/mysql
                                "--datadir=" + data_dir_.string(),
                                "--bind-address=127.0.0.1",
                                "--port=" + std::to_string(port_),
                                "--socket=" + (dir_ / "mysqld.sock").string(),
                                "--pid-file=" + (dir_ / "mysqld.pid").string(),
                                // Its own temp dir: servers sharing /tmp collided on the
                                // names of internal temp tables (#sql-temptable-*.MAI).
                                "--tmpdir=" + dir_.path().string(),
                                "--log-error=" + log_file_.string(),
                                "--skip-log-bin",
                                "--innodb-buffer-pool-size=64M",
                                "--innodb-flush-log-at-trx-commit=2",
                                "--skip-name-resolve"};
  if (::geteuid() == 0) argv.push_back("--user=root");
  argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  process_.emplace(argv, ProcessOptions{.env = {}, .cwd = dir_.path(), .log_file = dir_ / "stdout.log"});
  const auto deadline = Clock::now() + opts_.start_timeout;
  for (;;) {
    if (!process_->running()) {
      const int status = *process_->wait_exit(std::chrono::milliseconds(0));
      process_.reset();
      throw std::runtime_error("mariadbd exited at start (" + Process::describe(status) +
                               ") on port " + std::to_string(port_) + "; log:\n" + tail_of(log_file_));
    }
    if (tcp_accepts(port_)) {
      auto ping = client("mariadb-admin");
      ping.push_back("ping");
      if (Process::exit_code(run_process(ping, ProcessOptions{.env = {}, .cwd = dir_.path(),
                                                              .log_file = setup_log_},
                                         std::chrono::seconds(10))) == 0)
        return;
    }
    if (Clock::now() >= deadline) {
      process_.reset();
      throw std::runtime_error("mariadbd did not answer on 127.0.0.1:" + std::to_string(port_) +
                               " in time; log:\n" + tail_of(log_file_));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

void MariaDbServer::stop() {
  if (!process_) return;
  if (process_->running()) {
    auto cmd = client("mariadb-admin");
    cmd.push_back("shutdown");  // returns at once; the server exits shortly after
    try {
      run_process(cmd, ProcessOptions{.env = {}, .cwd = dir_.path(), .log_file = setup_log_},
                  std::chrono::seconds(10));
    } catch (...) {
    }
    if (!process_->wait_exit(std::chrono::seconds(30))) process_->stop(std::chrono::seconds(5));
  }
  process_.reset();
}

}  // namespace iotd::test
