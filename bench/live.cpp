// iotd-bench-live: the live stream's benchmark client. Opens N WebSocket clients on one
// thread, optionally publishes to MQTT at a fixed rate for a while, and reports publish ->
// frame latency (each payload carries its send time on the monotonic clock as the metric
// `sent_us`), frames delivered and clients the server closed. With --hold it only
// connects, prints {"connected": N} and holds the connections open (for the RSS row).
//
// The reading side is built to cost as little as an efficient consumer would, since it
// shares the machine with what it measures: epoll over non-blocking sockets, one large
// read per ready socket, only WebSocket frame headers parsed (frames counted exactly),
// the send time found by a byte search and read digit by digit, one clock read per socket
// read, no allocation per frame. Its own CPU per frame is reported (client_ns_per_frame).
#include <arpa/inet.h>
#include <fcntl.h>
#include <mqtt/async_client.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <csignal>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "lib/args.hpp"

namespace {

using namespace iotd::bench;
using namespace std::chrono_literals;

constexpr const char* kUsage =
    R"(usage: iotd-bench-live --port P --clients N [options]
  --port P          iotd's HTTP port on 127.0.0.1
  --clients N       WebSocket clients (default 100)
  --device D        they subscribe to /api/v1/stream?device_id=D (default bench-live)
  --mqtt URL        publish to sensors/D/data on this broker (QoS 0)
  --rate R          messages per second (default 1000)
  --seconds S       publishing time (default 5)
  --fleet N         client i subscribes to device sim-<i mod N> (5 digits, the names of
                    iotd-bench-mosq-pub and iotd-sim) instead of --device: subscribers
                    attached to a fleet that another tool publishes (bench.py's ingest
                    rows with subscribers)
  --hold S          no publishing: connect, print {"connected": N}, hold S seconds (or
                    until SIGTERM/SIGINT), reading and counting frames; then print
                    connected, closed, closed_1008, frames and the client's CPU
  --reference       also subscribe to the topic on the broker and report the same
                    publish -> delivery latency without iotd in the path (mqtt_p50_ms,
                    mqtt_p99_ms): the same run's floor of broker and scheduling delay
  --stages          payloads also carry their send time on the wall clock (sent_wall_us);
                    the first client splits each frame's latency at the frame's
                    received_at (iotd's MQTT callback, millisecond resolution):
                    publish -> iotd received (broker_p50/p99_ms) and received -> frame
                    read (iotd_p50/p99_ms: journal, decoder, writer, commit, hub, socket)
Prints one JSON object. Exit status: 0, 1 when a client failed to connect, 2 usage errors.)";

struct Options {
  int port = 0;
  int clients = 100;
  std::string device = "bench-live";
  std::string mqtt;
  double rate = 1000;
  double seconds = 5;
  double hold = 0;
  int fleet = 0;
  bool reference = false;
  bool stages = false;
};

Options parse(int argc, char** argv) {
  Options o;
  Args a(argc, argv);
  while (!a.done()) {
    if (auto v = a.value("--port")) o.port = static_cast<int>(to_integer(*v, "--port", 1, 65535));
    else if (auto v = a.value("--clients")) o.clients = static_cast<int>(to_integer(*v, "--clients", 1, 100000));
    else if (auto v = a.value("--device")) o.device = *v;
    else if (auto v = a.value("--mqtt")) o.mqtt = *v;
    else if (auto v = a.value("--rate")) o.rate = to_double(*v, "--rate", 1, 1e6);
    else if (auto v = a.value("--seconds")) o.seconds = to_double(*v, "--seconds", 0.1, 3600);
    else if (auto v = a.value("--fleet")) o.fleet = static_cast<int>(to_integer(*v, "--fleet", 1, 100000));
    else if (auto v = a.value("--hold")) o.hold = to_double(*v, "--hold", 0.1, 3600);
    else if (a.flag("--reference")) o.reference = true;
    else if (a.flag("--stages")) o.stages = true;
    else throw UsageError("unknown argument: " + a.peek());
  }
  if (!o.port) throw UsageError("--port is required");
  if (o.fleet && (!o.mqtt.empty() || o.hold <= 0)) throw UsageError("--fleet goes with --hold, not --mqtt");
  return o;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Stats {
  std::vector<float> latency_ms;
  std::vector<float> broker_ms, iotd_ms;  // --stages: the first client's frames, split
  std::uint64_t frames = 0, bytes = 0, reads = 0;
  int connected = 0, failed = 0, closed = 0, closed_1008 = 0;
};

// One WebSocket client: a non-blocking socket, its handshake state and what is left of a
// frame that a read cut in two (at most one frame: a few hundred bytes).
struct Client {
  int fd = -1;
  enum State { kConnecting, kHandshake, kOpen, kDone } state = kConnecting;
  std::string carry;  // the handshake response so far, then a cut frame's first bytes
  bool stages = false;  // split this client's latencies (--stages)
};

constexpr std::string_view kSentKey = "\"sent_us\":";

// The frames of one read of `c` (after its carry): counted, timed, control frames answered.
// Returns false when the connection is over (a close frame).
class Reader {
 public:
  Reader(Stats& stats) : stats_(stats) {}

  bool frames(Client& c, const std::uint8_t* p, std::size_t n, std::int64_t now) {
    std::size_t at = 0;
    while (true) {
      if (n - at < 2) break;
      const std::uint8_t op = p[at] & 0x0F;
      std::uint64_t len = p[at + 1] & 0x7F;
      std::size_t head = 2;
      if (len == 126) {
        if (n - at < 4) break;
        len = (std::uint64_t(p[at + 2]) << 8) | p[at + 3];
        head = 4;
      } else if (len == 127) {
        if (n - at < 10) break;
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | p[at + 2 + i];
        head = 10;
      }
      if (n - at < head + len) break;
      const char* payload = reinterpret_cast<const char*>(p + at + head);
      at += head + len;
      if (op == 0x1) {
        stats_.frames++;
        sent_at(std::string_view(payload, len), now);
        if (c.stages) split(std::string_view(payload, len));
      } else if (op == 0x8) {  // close: count it (1008 separately) and end
        stats_.closed++;
        if (len >= 2 && ((std::uint8_t(payload[0]) << 8) | std::uint8_t(payload[1])) == 1008)
          stats_.closed_1008++;
        return false;
      } else if (op == 0x9) {  // ping: a masked pong with its payload (zero mask key)
        std::string pong{char(0x8A), char(0x80 | len), 0, 0, 0, 0};
        pong.append(payload, len);
        (void)!::write(c.fd, pong.data(), pong.size());
      }
    }
    c.carry.assign(reinterpret_cast<const char*>(p + at), n - at);
    return true;
  }

 private:
  // The payload's "sent_us": value, found by a byte search (no JSON parse). It is an
  // integer, but the server renders numbers as doubles (a large round one may carry an
  // exponent): std::from_chars reads both.
  void sent_at(std::string_view text, std::int64_t now) {
    auto k = text.find(kSentKey);
    if (k == std::string_view::npos) return;
    double sent = 0;
    const char* from = text.data() + k + kSentKey.size();
    if (std::from_chars(from, text.data() + text.size(), sent).ec != std::errc{}) return;
    stats_.latency_ms.push_back(static_cast<float>((static_cast<double>(now) - sent) / 1000.0));
  }

  // --stages: publish (wall clock) -> received_at -> now (wall clock).
  void split(std::string_view text) {
    constexpr std::string_view kWall = "\"sent_wall_us\":", kRecv = "\"received_at\":\"";
    auto w = text.find(kWall), r = text.find(kRecv);
    if (w == std::string_view::npos || r == std::string_view::npos) return;
    double sent = 0;
    const char* from = text.data() + w + kWall.size();
    if (std::from_chars(from, text.data() + text.size(), sent).ec != std::errc{}) return;
    auto received = iso_ms(text.substr(r + kRecv.size()));
    if (received < 0) return;
    const double now = static_cast<double>(std::chrono::duration_cast<std::chrono::microseconds>(
                                               std::chrono::system_clock::now().time_since_epoch())
                                               .count());
    stats_.broker_ms.push_back(static_cast<float>((static_cast<double>(received) * 1000.0 - sent) / 1000.0));
    stats_.iotd_ms.push_back(static_cast<float>((now - static_cast<double>(received) * 1000.0) / 1000.0));
  }

  // "YYYY-MM-DDTHH:MM:SS.mmmZ" -> milliseconds since the epoch (UTC); -1 when malformed.
  static std::int64_t iso_ms(std::string_view t) {
    if (t.size() < 24 || t[4] != '-' || t[10] != 'T' || t[19] != '.') return -1;
    auto num = [&](std::size_t at, std::size_t n) {
      std::int64_t v = 0;
      for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (t[i] - '0');
      return v;
    };
    using namespace std::chrono;
    const sys_days day = year_month_day{year(static_cast<int>(num(0, 4))), month(static_cast<unsigned>(num(5, 2))),
                                        std::chrono::day(static_cast<unsigned>(num(8, 2)))};
    return duration_cast<milliseconds>(day.time_since_epoch()).count() +
           ((num(11, 2) * 60 + num(14, 2)) * 60 + num(17, 2)) * 1000 + num(20, 3);
  }

  Stats& stats_;
};

// N clients on one epoll loop.
class Clients {
 public:
  Clients(const Options& o, Stats& stats) : o_(o), stats_(stats), reader_(stats), ep_(::epoll_create1(0)) {
    if (ep_ < 0) throw std::runtime_error("epoll_create1 failed");
    buf_.resize(1 << 18);
  }
  ~Clients() {
    for (auto& c : clients_)
      if (c.fd >= 0) ::close(c.fd);
    ::close(ep_);
  }

  // Connects in waves of 500 so the listen backlog holds; at most 60 s in all.
  void connect() {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(o_.port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    clients_.resize(static_cast<std::size_t>(o_.clients));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    for (std::size_t i = 0; i < clients_.size(); ++i) {
      Client& c = clients_[i];
      c.stages = o_.stages && i == 0;
      c.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      int one = 1;
      ::setsockopt(c.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      if (c.fd < 0 || (::connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 && errno != EINPROGRESS)) {
        fail(c);
        continue;
      }
      epoll_event ev{};
      ev.events = EPOLLOUT;
      ev.data.u64 = i;
      ::epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
      if (i % 500 == 499)
        while (settled() < i + 1 && std::chrono::steady_clock::now() < deadline) poll(100);
    }
    while (settled() < clients_.size() && std::chrono::steady_clock::now() < deadline) poll(100);
  }

  // Reads for up to timeout_ms (one epoll_wait and the reads it reports).
  void poll(int timeout_ms) {
    epoll_event evs[256];
    int n = ::epoll_wait(ep_, evs, 256, timeout_ms);
    for (int k = 0; k < n; ++k) on_ready(clients_[evs[k].data.u64], evs[k].events);
  }

  std::size_t settled() const { return static_cast<std::size_t>(stats_.connected + stats_.failed); }

 private:
  void fail(Client& c) {
    if (c.fd >= 0) ::close(c.fd);
    c.fd = -1;
    c.state = Client::kDone;
    stats_.failed++;
  }

  // Client i's upgrade request: --device, or with --fleet N device sim-<i mod N>.
  std::string request(std::size_t i) const {
    std::string device = o_.device;
    if (o_.fleet > 0) {
      char id[16];
      std::snprintf(id, sizeof id, "sim-%05d", static_cast<int>(i % static_cast<std::size_t>(o_.fleet)));
      device = id;
    }
    return "GET /api/v1/stream?device_id=" + device +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  }

  void end(Client& c) {
    ::close(c.fd);
    c.fd = -1;
    c.state = Client::kDone;
  }

  void on_ready(Client& c, std::uint32_t events) {
    if (c.state == Client::kConnecting) {
      int err = 0;
      socklen_t len = sizeof err;
      ::getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      const std::string req = request(static_cast<std::size_t>(&c - clients_.data()));
      if (err || ::write(c.fd, req.data(), req.size()) != static_cast<ssize_t>(req.size())) return fail(c);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.u64 = static_cast<std::uint64_t>(&c - clients_.data());
      ::epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
      c.state = Client::kHandshake;
      return;
    }
    if (c.state == Client::kDone || !(events & (EPOLLIN | EPOLLERR | EPOLLHUP))) return;
    const std::int64_t now = now_us();
    // The carry goes first, then one large read after it.
    const std::size_t carried = c.carry.size();
    std::memcpy(buf_.data(), c.carry.data(), carried);
    ssize_t got = ::read(c.fd, buf_.data() + carried, buf_.size() - carried);
    stats_.reads++;
    if (got < 0 && (errno == EAGAIN || errno == EINTR)) return;
    if (got <= 0) {  // EOF or error: the server closed it
      if (c.state == Client::kOpen) stats_.closed++;
      else return fail(c);
      return end(c);
    }
    stats_.bytes += static_cast<std::uint64_t>(got);
    std::size_t n = carried + static_cast<std::size_t>(got), at = 0;
    if (c.state == Client::kHandshake) {
      std::string_view text(reinterpret_cast<const char*>(buf_.data()), n);
      auto end_of_head = text.find("\r\n\r\n");
      if (end_of_head == std::string_view::npos) {
        c.carry.assign(text);
        return;
      }
      if (text.substr(0, 12) != "HTTP/1.1 101") return fail(c);
      c.state = Client::kOpen;
      stats_.connected++;
      at = end_of_head + 4;
    }
    if (!reader_.frames(c, buf_.data() + at, n - at, now)) end(c);
  }

  const Options& o_;
  Stats& stats_;
  Reader reader_;
  int ep_;
  std::vector<std::uint8_t> buf_;
  std::vector<Client> clients_;
};

double percentile(std::vector<float>& v, double p) {
  if (v.empty()) return 0;
  auto k = static_cast<std::size_t>(p * static_cast<double>(v.size() - 1));
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return v[k];
}

// Publishes at `rate` for `seconds` (QoS 0, one connection); returns the count.
std::uint64_t publish(const Options& o) {
  mqtt::async_client client(o.mqtt, "iotd-bench-live-" + std::to_string(::getpid()),
                            mqtt::create_options(MQTTVERSION_5));
  auto conn = mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true).finalize();
  client.connect(conn)->wait();
  const std::string topic = "sensors/" + o.device + "/data";
  const auto interval = std::chrono::duration<double>(1.0 / o.rate);
  const auto t0 = std::chrono::steady_clock::now();
  const auto total = static_cast<std::uint64_t>(o.rate * o.seconds);
  for (std::uint64_t n = 0; n < total; ++n) {
    std::this_thread::sleep_until(t0 + std::chrono::duration_cast<std::chrono::steady_clock::duration>(interval * static_cast<double>(n)));
    // Paho refuses a publish while its outgoing buffer is full (a loaded machine starves
    // its send thread): wait a little and stamp the message again.
    for (int attempt = 0;; ++attempt) {
      std::string payload = "{\"seq\":" + std::to_string(n + 1) + ",\"sent_us\":" + std::to_string(now_us());
      if (o.stages)
        payload += ",\"sent_wall_us\":" + std::to_string(std::chrono::duration_cast<std::chrono::microseconds>(
                                                           std::chrono::system_clock::now().time_since_epoch())
                                                           .count());
      payload += "}";
      try {
        client.publish(topic, payload.data(), payload.size(), 0, false);
        break;
      } catch (const mqtt::exception& e) {
        if (e.get_return_code() != MQTTASYNC_MAX_BUFFERED_MESSAGES || attempt >= 5000) throw;
        std::this_thread::sleep_for(1ms);
      }
    }
  }
  client.disconnect()->wait();
  return total;
}

// --reference: one MQTT subscriber of the bench topic, timing each message the way the
// WebSocket clients time frames (on the Paho callback thread).
class Reference {
 public:
  explicit Reference(const Options& o)
      : client_(o.mqtt, "iotd-bench-live-ref-" + std::to_string(::getpid()), mqtt::create_options(MQTTVERSION_5)) {
    client_.set_message_callback([this](mqtt::const_message_ptr m) {
      auto now = now_us();
      const std::string& text = m->get_payload_str();
      if (auto p = text.find("\"sent_us\":"); p != std::string::npos) {
        double sent = std::strtod(text.c_str() + p + 10, nullptr);
        std::lock_guard lock(mu_);
        latency_ms_.push_back(static_cast<float>((static_cast<double>(now) - sent) / 1000.0));
      }
    });
    auto conn = mqtt::connect_options_builder().mqtt_version(MQTTVERSION_5).clean_start(true).finalize();
    client_.connect(conn)->wait();
    client_.subscribe("sensors/" + o.device + "/data", 0)->wait();
  }
  ~Reference() {
    try {
      client_.disconnect()->wait();
    } catch (const std::exception&) {
    }
  }
  std::vector<float> take() {
    std::lock_guard lock(mu_);
    return std::move(latency_ms_);
  }

 private:
  mqtt::async_client client_;
  std::mutex mu_;
  std::vector<float> latency_ms_;
};

double thread_cpu_seconds() {
  rusage ru{};
  ::getrusage(RUSAGE_THREAD, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

volatile std::sig_atomic_t g_stop = 0;  // --hold ends early on SIGTERM / SIGINT
void on_stop_signal(int) { g_stop = 1; }

int run(const Options& o) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  Stats stats;
  Clients clients(o, stats);
  clients.connect();
  nlohmann::json out{{"clients", o.clients}, {"connected", stats.connected}, {"failed", stats.failed}};
  if (o.hold > 0) {
    std::printf("%s\n", nlohmann::json{{"connected", stats.connected}}.dump().c_str());
    std::fflush(stdout);
    // Only here: a publishing run keeps the default action, so a harness's timeout ends it.
    std::signal(SIGTERM, on_stop_signal);
    std::signal(SIGINT, on_stop_signal);
    const double cpu0 = thread_cpu_seconds();
    for (auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(o.hold);
         !g_stop && std::chrono::steady_clock::now() < until;)
      clients.poll(200);
    const double cpu = thread_cpu_seconds() - cpu0;
    out["closed"] = stats.closed;
    out["closed_1008"] = stats.closed_1008;
    out["frames"] = stats.frames;
    out["client_cpu_s"] = cpu;
    std::printf("%s\n", out.dump().c_str());
    return stats.failed ? 1 : 0;
  }
  // Let the hub see every subscriber.
  for (auto until = std::chrono::steady_clock::now() + 500ms; std::chrono::steady_clock::now() < until;)
    clients.poll(50);
  std::unique_ptr<Reference> reference;
  if (o.reference && !o.mqtt.empty()) reference = std::make_unique<Reference>(o);
  const int open = stats.connected - stats.closed;
  stats.latency_ms.reserve(static_cast<std::size_t>(o.rate * o.seconds) * static_cast<std::size_t>(std::max(open, 0)));
  std::atomic<std::uint64_t> published{0};
  std::atomic<bool> done{false};
  std::thread pub;
  const double cpu0 = thread_cpu_seconds();
  const std::uint64_t frames0 = stats.frames;
  if (!o.mqtt.empty())
    pub = std::thread([&] {
      published = publish(o);
      done = true;
    });
  const auto t0 = std::chrono::steady_clock::now();
  while (!done) clients.poll(50);
  if (pub.joinable()) pub.join();
  const double pub_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Drain: frames still on their way (at most 5 s).
  const std::uint64_t expected = published.load() * static_cast<std::uint64_t>(std::max(open, 0));
  for (auto until = std::chrono::steady_clock::now() + 5s;
       stats.frames < expected && stats.connected > stats.closed && std::chrono::steady_clock::now() < until;)
    clients.poll(20);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const double cpu = thread_cpu_seconds() - cpu0;
  const std::uint64_t frames = stats.frames - frames0;
  out["published"] = published.load();
  out["publish_seconds"] = pub_seconds;
  out["frames"] = stats.frames;
  out["frames_expected"] = published.load() * static_cast<std::uint64_t>(stats.connected);
  out["frames_per_s"] = static_cast<double>(stats.frames) / seconds;
  out["closed_by_server"] = stats.closed;
  out["closed_1008"] = stats.closed_1008;
  out["reads"] = stats.reads;
  out["frames_per_read"] = stats.reads ? static_cast<double>(stats.frames) / static_cast<double>(stats.reads) : 0.0;
  // The reading thread's own CPU (user + system) over the measurement, per frame read.
  out["client_cpu_s"] = cpu;
  out["client_ns_per_frame"] = frames ? cpu * 1e9 / static_cast<double>(frames) : 0.0;
  out["latency_samples"] = stats.latency_ms.size();
  out["p50_ms"] = percentile(stats.latency_ms, 0.50);
  out["p99_ms"] = percentile(stats.latency_ms, 0.99);
  out["max_ms"] = percentile(stats.latency_ms, 1.0);
  if (o.stages) {
    out["stage_samples"] = stats.iotd_ms.size();
    out["broker_p50_ms"] = percentile(stats.broker_ms, 0.50);
    out["broker_p99_ms"] = percentile(stats.broker_ms, 0.99);
    out["iotd_p50_ms"] = percentile(stats.iotd_ms, 0.50);
    out["iotd_p99_ms"] = percentile(stats.iotd_ms, 0.99);
  }
  if (reference) {
    auto ref = reference->take();
    out["mqtt_samples"] = ref.size();
    out["mqtt_p50_ms"] = percentile(ref, 0.50);
    out["mqtt_p99_ms"] = percentile(ref, 0.99);
  }
  std::printf("%s\n", out.dump().c_str());
  return stats.failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  try {
    o = parse(argc, argv);
  } catch (const UsageError& e) {
    std::fprintf(stderr, "iotd-bench-live: %s\n%s\n", e.what(), kUsage);
    return 2;
  }
  try {
    return run(o);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iotd-bench-live: %s\n", e.what());
    return 1;
  }
}
