#include "support/services.hpp"

#include <arpa/inet.h>
#include <cerrno>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <netinet/in.h>
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

struct Fd {
  int fd;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

sockaddr_in loopback(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

bool tcp_accepts(std::uint16_t port) {
  Fd s(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (s.fd < 0) return false;
  const sockaddr_in addr = loopback(port);
  return ::connect(s.fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
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
  if (s.fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in addr = loopback(0);
  if (::bind(s.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    throw std::runtime_error(std::string("bind 127.0.0.1:0: ") + std::strerror(errno));
  }
  socklen_t len = sizeof addr;
  if (::getsockname(s.fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
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

std::optional<std::filesystem::path> find_program(std::string_view name) {
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

}  // namespace iotd::test
