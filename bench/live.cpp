// iotd-bench-live: the live stream's benchmark client. Opens N WebSocket clients on one
// thread (asynchronous Beast reads, so the measuring side stays light), optionally
// publishes to MQTT at a fixed rate for a while, and reports publish -> frame latency
// (each payload carries its send time on the monotonic clock as the metric `sent_us`),
// frames delivered and clients the server closed. With --hold it only connects, prints
// {"connected": N} and holds the connections open (for the RSS row).
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <mqtt/async_client.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
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
namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr const char* kUsage =
    R"(usage: iotd-bench-live --port P --clients N [options]
  --port P          iotd's HTTP port on 127.0.0.1
  --clients N       WebSocket clients (default 100)
  --device D        they subscribe to /api/v1/stream?device_id=D (default bench-live)
  --mqtt URL        publish to sensors/D/data on this broker (QoS 0)
  --rate R          messages per second (default 1000)
  --seconds S       publishing time (default 5)
  --hold S          no publishing: connect, print {"connected": N}, hold S seconds
  --reference       also subscribe to the topic on the broker and report the same
                    publish -> delivery latency without iotd in the path (mqtt_p50_ms,
                    mqtt_p99_ms): the same run's floor of broker and scheduling delay
Prints one JSON object. Exit status: 0, 1 when a client failed to connect, 2 usage errors.)";

struct Options {
  int port = 0;
  int clients = 100;
  std::string device = "bench-live";
  std::string mqtt;
  double rate = 1000;
  double seconds = 5;
  double hold = 0;
  bool reference = false;
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
    else if (auto v = a.value("--hold")) o.hold = to_double(*v, "--hold", 0.1, 3600);
    else if (a.flag("--reference")) o.reference = true;
    else throw UsageError("unknown argument: " + a.peek());
  }
  if (!o.port) throw UsageError("--port is required");
  return o;
}

std::int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct Stats {
  std::vector<float> latency_ms;
  std::uint64_t frames = 0;
  int connected = 0, failed = 0, closed = 0;
};

class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(net::io_context& ioc, Stats& stats) : ws_(ioc), stats_(stats) {}

  void start(const tcp::endpoint& ep, const std::string& target) {
    beast::get_lowest_layer(ws_).async_connect(ep, [self = shared_from_this(), target](beast::error_code ec) {
      if (ec) return self->fail();
      self->ws_.async_handshake("127.0.0.1", target, [self](beast::error_code ec) {
        if (ec) return self->fail();
        self->stats_.connected++;
        self->read();
      });
    });
  }

 private:
  void fail() { stats_.failed++; }
  void read() {
    ws_.async_read(buf_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->stats_.closed++;
        return;
      }
      self->on_frame();
      self->read();
    });
  }
  void on_frame() {
    auto at = std::chrono::steady_clock::now();
    std::string_view text(static_cast<const char*>(buf_.data().data()), buf_.size());
    stats_.frames++;
    if (auto p = text.find("\"sent_us\":"); p != std::string_view::npos) {
      double sent = std::strtod(text.data() + p + 10, nullptr);
      auto now = std::chrono::duration_cast<std::chrono::microseconds>(at.time_since_epoch()).count();
      stats_.latency_ms.push_back(static_cast<float>((static_cast<double>(now) - sent) / 1000.0));
    }
    buf_.consume(buf_.size());
  }

  websocket::stream<beast::tcp_stream> ws_;
  beast::flat_buffer buf_;
  Stats& stats_;
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
      std::string payload = "{\"seq\":" + std::to_string(n + 1) + ",\"sent_us\":" + std::to_string(now_us()) + "}";
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

int run(const Options& o) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  net::io_context ioc(1);
  Stats stats;
  tcp::endpoint ep(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(o.port));
  const std::string target = "/api/v1/stream?device_id=" + o.device;
  // Connect in waves of 500 so the listen backlog holds.
  for (int i = 0; i < o.clients; ++i) {
    std::make_shared<Client>(ioc, stats)->start(ep, target);
    if (i % 500 == 499)
      while (stats.connected + stats.failed < i + 1 && ioc.run_one_for(5s) > 0) {
      }
  }
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (stats.connected + stats.failed < o.clients && std::chrono::steady_clock::now() < deadline)
    ioc.run_one_for(1s);
  nlohmann::json out{{"clients", o.clients}, {"connected", stats.connected}, {"failed", stats.failed}};
  if (o.hold > 0) {
    std::printf("%s\n", nlohmann::json{{"connected", stats.connected}}.dump().c_str());
    std::fflush(stdout);
    ioc.run_for(std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::duration<double>(o.hold)));
    out["closed"] = stats.closed;
    std::printf("%s\n", out.dump().c_str());
    return stats.failed ? 1 : 0;
  }
  std::this_thread::sleep_for(500ms);  // let the hub see every subscriber
  ioc.poll();
  std::unique_ptr<Reference> reference;
  if (o.reference && !o.mqtt.empty()) reference = std::make_unique<Reference>(o);
  std::atomic<std::uint64_t> published{0};
  std::atomic<bool> done{false};
  std::thread pub;
  if (!o.mqtt.empty())
    pub = std::thread([&] {
      published = publish(o);
      done = true;
    });
  const auto t0 = std::chrono::steady_clock::now();
  while (!done) ioc.run_for(50ms);
  if (pub.joinable()) pub.join();
  const double pub_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Drain: frames still on their way (at most 5 s).
  const std::uint64_t expected = published.load() * static_cast<std::uint64_t>(stats.connected - stats.closed);
  for (auto until = std::chrono::steady_clock::now() + 5s;
       stats.frames < expected && std::chrono::steady_clock::now() < until;)
    ioc.run_for(20ms);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  out["published"] = published.load();
  out["publish_seconds"] = pub_seconds;
  out["frames"] = stats.frames;
  out["frames_expected"] = published.load() * static_cast<std::uint64_t>(stats.connected);
  out["frames_per_s"] = static_cast<double>(stats.frames) / seconds;
  out["closed_by_server"] = stats.closed;
  out["latency_samples"] = stats.latency_ms.size();
  out["p50_ms"] = percentile(stats.latency_ms, 0.50);
  out["p99_ms"] = percentile(stats.latency_ms, 0.99);
  out["max_ms"] = percentile(stats.latency_ms, 1.0);
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
