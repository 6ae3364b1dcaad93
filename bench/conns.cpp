// iotd-bench-conns: HTTP connection hardening figures (issue 12). Plain blocking sockets on
// one thread (the measuring side stays light and simple).
//   --slow N: a normal client's latency (GET --target, a new connection per request, then
//     the same count on one keep-alive connection) without, then beside, N slowloris
//     connections that send half a request head and then one byte each per --trickle-ms.
//   --hold N: opens N keep-alive connections, each answers one GET --target, prints
//     {"connected": N} and holds them for --seconds (for iotd's RSS).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/args.hpp"

namespace {

using namespace iotd::bench;
using namespace std::chrono_literals;

constexpr const char* kUsage =
    R"(usage: iotd-bench-conns --port P (--slow N | --hold N) [options]
  --port P          iotd's HTTP port on 127.0.0.1
  --slow N          slowloris connections beside the measured client
  --hold N          keep-alive connections to open and hold
  --target PATH     what the normal client GETs (default /api/v1/health/live)
  --requests M      requests per measurement and kind (default 500)
  --trickle-ms T    each slow connection sends one byte every T ms (default 100)
  --seconds S       --hold: how long to hold (default 600)
Prints one JSON object. Exit status: 0, 1 on a failed request or connection, 2 usage errors.)";

struct Options {
  int port = 0;
  int slow = 0;
  int hold = 0;
  std::string target = "/api/v1/health/live";
  int requests = 500;
  int trickle_ms = 100;
  double seconds = 600;
};

Options parse(int argc, char** argv) {
  Options o;
  Args a(argc, argv);
  while (!a.done()) {
    if (auto v = a.value("--port")) o.port = static_cast<int>(to_integer(*v, "--port", 1, 65535));
    else if (auto v = a.value("--slow")) o.slow = static_cast<int>(to_integer(*v, "--slow", 1, 1'000'000));
    else if (auto v = a.value("--hold")) o.hold = static_cast<int>(to_integer(*v, "--hold", 1, 1'000'000));
    else if (auto v = a.value("--target")) o.target = *v;
    else if (auto v = a.value("--requests")) o.requests = static_cast<int>(to_integer(*v, "--requests", 1, 10'000'000));
    else if (auto v = a.value("--trickle-ms")) o.trickle_ms = static_cast<int>(to_integer(*v, "--trickle-ms", 1, 60'000));
    else if (auto v = a.value("--seconds")) o.seconds = to_double(*v, "--seconds", 0.1, 86400);
    else throw UsageError("unknown argument: " + a.peek());
  }
  if (!o.port) throw UsageError("--port is required");
  if ((o.slow > 0) == (o.hold > 0)) throw UsageError("give one of --slow and --hold");
  return o;
}

int connect_to(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<std::uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    int e = errno;
    ::close(fd);
    throw std::runtime_error(std::string("connect: ") + std::strerror(e));
  }
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

// One GET on `fd`, the whole response read (iotd sends Content-Length); its status.
int get(int fd, const std::string& target) {
  const std::string req = "GET " + target + " HTTP/1.1\r\nHost: bench\r\n\r\n";
  if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(req.size()))
    throw std::runtime_error(std::string("send: ") + std::strerror(errno));
  std::string in;
  char buf[8192];
  std::size_t head_end = std::string::npos, need = 0;
  for (;;) {
    auto n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) throw std::runtime_error(n == 0 ? "closed by the server" : std::string("recv: ") + std::strerror(errno));
    in.append(buf, static_cast<std::size_t>(n));
    if (head_end == std::string::npos) {
      head_end = in.find("\r\n\r\n");
      if (head_end == std::string::npos) continue;
      std::string head = in.substr(0, head_end);
      for (auto& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      auto cl = head.find("content-length:");
      if (cl == std::string::npos) throw std::runtime_error("no Content-Length in the response");
      need = head_end + 4 + std::stoul(head.substr(cl + 15));
    }
    if (in.size() >= need) return std::stoi(in.substr(9, 3));
  }
}

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  auto i = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(i, v.size() - 1)];
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

nlohmann::json measure(const Options& o) {
  std::vector<double> fresh, kept;
  for (int i = 0; i < o.requests; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    int fd = connect_to(o.port);
    int status = get(fd, o.target);
    fresh.push_back(ms_since(t0));
    ::close(fd);
    if (status != 200) throw std::runtime_error("status " + std::to_string(status));
  }
  int fd = connect_to(o.port);
  for (int i = 0; i < o.requests; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    int status = get(fd, o.target);
    kept.push_back(ms_since(t0));
    if (status != 200) throw std::runtime_error("status " + std::to_string(status));
  }
  ::close(fd);
  return {{"new_connection", {{"p50_ms", percentile(fresh, 0.5)}, {"p99_ms", percentile(fresh, 0.99)}}},
          {"keep_alive", {{"p50_ms", percentile(kept, 0.5)}, {"p99_ms", percentile(kept, 0.99)}}}};
}

int run(const Options& o) {
  rlimit lim{};
  ::getrlimit(RLIMIT_NOFILE, &lim);
  lim.rlim_cur = lim.rlim_max;
  ::setrlimit(RLIMIT_NOFILE, &lim);

  if (o.hold > 0) {
    std::vector<int> held;
    held.reserve(static_cast<std::size_t>(o.hold));
    for (int i = 0; i < o.hold; ++i) {
      int fd = connect_to(o.port);
      if (get(fd, o.target) != 200) throw std::runtime_error("connection " + std::to_string(i) + ": not 200");
      held.push_back(fd);
    }
    std::printf("%s\n", nlohmann::json{{"connected", held.size()}}.dump().c_str());
    std::fflush(stdout);
    std::this_thread::sleep_for(std::chrono::duration<double>(o.seconds));
    for (int fd : held) ::close(fd);
    return 0;
  }

  measure(Options{o.port, 0, 0, o.target, std::max(1, o.requests / 10), 0, 0});  // warm-up
  nlohmann::json out;
  out["target"] = o.target;
  out["requests"] = o.requests;
  out["without"] = measure(o);
  std::vector<int> slow;
  const std::string start = "GET " + o.target + " HTTP/1.1\r\nHost: bench\r\nX-Slow: ";
  for (int i = 0; i < o.slow; ++i) {
    int fd = connect_to(o.port);
    ::send(fd, start.data(), start.size(), MSG_NOSIGNAL);
    slow.push_back(fd);
  }
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop) {
      for (int fd : slow) ::send(fd, "a", 1, MSG_NOSIGNAL);
      std::this_thread::sleep_for(std::chrono::milliseconds(o.trickle_ms));
    }
  });
  try {
    out["with_slow"] = measure(o);
  } catch (...) {
    stop = true;
    trickle.join();
    throw;
  }
  stop = true;
  trickle.join();
  // How many slow connections the server still holds (it closes them at its read timeout).
  int open = 0;
  for (int fd : slow) {
    char b;
    auto n = ::recv(fd, &b, 1, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) ++open;
    ::close(fd);
  }
  out["slow"] = o.slow;
  out["slow_still_open"] = open;
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "iotd-bench-conns: %s\n%s\n", e.what(), kUsage);
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iotd-bench-conns: %s\n", e.what());
    return 1;
  }
}
