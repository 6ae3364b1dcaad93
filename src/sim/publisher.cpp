// The load generator (see include/iotd/sim/publisher.hpp). One thread per connection,
// two engines behind one interface:
// - raw (default): MQTT 3.1.1 written straight to a non-blocking socket by the one thread
//   that also reads the PUBACKs: no locks, many publishes per send(). Paho took a global
//   mutex and two thread hand-offs per publish, which made the simulator slower than the
//   broker (perf: ~45 us of CPU per QoS 1 message, most of it futex wake-ups).
// - paho: Paho async_client; a counting semaphore per connection is the window of
//   unacknowledged publishes, released by Paho's success/failure callbacks.
#include "iotd/sim/publisher.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

#include <cstdio>
#include <memory>
#include <optional>
#include <semaphore>
#include <thread>
#include <vector>

#include <mqtt/async_client.h>

#include "iotd/sim/mqtt_wire.hpp"
#include "iotd/sim/pacer.hpp"

namespace iotd::sim {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr std::ptrdiff_t kMaxWindow = 65'535;
constexpr auto kPoll = 50ms;              // how often blocked waits look at stop/end
constexpr auto kDrainTimeout = 30s;       // for the last acknowledgements
constexpr auto kConnectTimeout = 15s;

std::int64_t wall_ms() { return now_us() / 1000; }

void store_max(std::atomic<std::int64_t>& a, std::int64_t v) {
  std::int64_t cur = a.load(std::memory_order_relaxed);
  while (cur < v && !a.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

// What every connection of one run shares (read-only while publishing, but `stop`).
struct Plan {
  const PublishOptions& opts;
  const std::atomic<bool>& stop;
  std::optional<Pacer> pacer;
  Clock::time_point end = Clock::time_point::max();
  std::size_t connections = 1;
};

struct SimDevice {
  Device device;
  mqtt::string_ref topic;  // built once: Paho shares it instead of copying per message
};

// One connection's counts, added to the run's report (both engines).
void merge_counts(PublishReport& r, std::uint64_t published, std::uint64_t acknowledged,
                  std::uint64_t errors, std::uint64_t failed_after_publish,
                  std::int64_t first_publish_us, std::int64_t last_ack_us) {
  r.published += published;
  r.acknowledged += acknowledged;
  r.errors += errors;
  r.failed_after_publish += failed_after_publish;
  if (first_publish_us != 0 && (r.first_publish_us == 0 || first_publish_us < r.first_publish_us))
    r.first_publish_us = first_publish_us;
  r.last_ack_us = std::max(r.last_ack_us, last_ack_us);
}

// One MQTT connection and the thread that drives it.
class Link {
 public:
  virtual ~Link() = default;
  virtual void connect() = 0;                           // first connection; throws
  virtual void run() noexcept = 0;                      // the thread body
  virtual void drain(Clock::time_point deadline) = 0;   // last acks, then disconnect
  virtual void add_to(PublishReport& r) const = 0;
};

class PahoConnection final : public Link, public mqtt::iaction_listener {
 public:
  PahoConnection(const Plan& plan, std::size_t index, std::string client_id,
                 std::vector<SimDevice> devices)
      : plan_(plan),
        index_(index),
        devices_(std::move(devices)),
        // Paho refuses a publish (-12) once this many are queued unsent: the window plus
        // slack, so the window, not Paho, is what bounds us.
        cli_(plan.opts.url, std::move(client_id),
             mqtt::create_options(MQTTVERSION_3_1_1, static_cast<int>(plan.opts.window) + 16)),
        window_(static_cast<std::ptrdiff_t>(plan.opts.window)) {
    cli_.set_connected_handler([this](const std::string&) { connected_ = true; });
    cli_.set_connection_lost_handler([this](const std::string&) { connected_ = false; });
  }

  ~PahoConnection() override {
    try {
      if (cli_.is_connected()) cli_.disconnect()->wait_for(5s);
    } catch (...) {
    }
  }

  void connect() override {
    // Kept alive as a member and passed as is (copies of connect_options may dangle in
    // Paho C++ 1.2.0).
    conn_opts_ = mqtt::connect_options_builder()
                     .clean_session(true)
                     .keep_alive_interval(30s)
                     .connect_timeout(10s)
                     .automatic_reconnect(1s, 30s)
                     .finalize();
    conn_opts_.set_max_inflight(static_cast<int>(plan_.opts.window));
    const auto& url = plan_.opts.url;
    if (url.rfind("ssl://", 0) == 0) {  // the broker verified: certificate and host name
      auto ssl = mqtt::ssl_options_builder();
      ssl.enable_server_cert_auth(true).verify(true);
      if (!plan_.opts.cafile.empty()) ssl.trust_store(plan_.opts.cafile);
      conn_opts_.set_ssl(ssl.finalize());
    }
    try {
      if (!cli_.connect(conn_opts_)->wait_for(kConnectTimeout)) {
        throw std::runtime_error("timed out");
      }
    } catch (const mqtt::exception& e) {
      throw std::runtime_error("cannot connect to " + plan_.opts.url + " as " +
                               cli_.get_client_id() + ": " + e.what());
    }
    connected_ = true;
  }

  // The publishing loop; the thread body.
  void run() noexcept override {
    try {
      publish_all();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "iotd-sim: connection %zu: %s\n", index_, e.what());
      ++refused_;
    }
  }

  // Waits (bounded) for the outstanding acknowledgements, then disconnects.
  void drain(Clock::time_point deadline) override {
    for (std::size_t held = 0; held < plan_.opts.window; ++held) {
      if (!window_.try_acquire_until(deadline)) break;
    }
    try {
      cli_.disconnect()->wait_for(5s);
    } catch (const mqtt::exception&) {
      // Already gone: what was acknowledged is counted either way.
    }
  }

  void add_to(PublishReport& r) const override {
    merge_counts(r, published_.load(), acknowledged_.load(), refused_.load() + failed_.load(),
                 failed_.load(), first_publish_us_.load(), last_ack_us_.load());
  }

 private:
  // Paho calls these on its own threads: QoS 1 on PUBACK, QoS 0 once written.
  void on_success(const mqtt::token&) override {
    acknowledged_.fetch_add(1, std::memory_order_relaxed);
    store_max(last_ack_us_, now_us());
    window_.release();
  }
  void on_failure(const mqtt::token&) override {
    failed_.fetch_add(1, std::memory_order_relaxed);
    window_.release();
  }

  bool running() const {
    return !plan_.stop.load(std::memory_order_relaxed) && Clock::now() < plan_.end;
  }

  // Sleeps until t in short slices; false when stopped or past the end first.
  bool wait_until(Clock::time_point t) {
    while (true) {
      if (!running()) return false;
      const auto now = Clock::now();
      if (now >= t) return true;
      std::this_thread::sleep_for(std::min<Clock::duration>(t - now, kPoll));
    }
  }

  bool acquire_slot() {
    if (window_.try_acquire()) return true;
    while (!window_.try_acquire_for(kPoll)) {
      if (!running()) return false;
    }
    return true;
  }

  bool wait_connected() {
    while (!connected_.load(std::memory_order_relaxed)) {
      if (!running()) return false;
      std::this_thread::sleep_for(kPoll);
    }
    return true;
  }

  void publish_all() {
    const PublishOptions& o = plan_.opts;
    std::string payload;
    payload.reserve(1024);
    std::size_t next = 0;
    // This connection sends the global message indices index_, index_ + C, ...: with the
    // pacer's schedule over global indices, C connections together offer exactly --rate.
    for (std::uint64_t i = index_;; i += plan_.connections) {
      if (o.messages != 0 && i >= o.messages) break;
      if (plan_.pacer ? !wait_until(plan_.pacer->due(i)) : !running()) break;
      if (!acquire_slot()) break;
      if (!wait_connected()) {
        window_.release();
        break;
      }
      SimDevice& d = devices_[next];
      next = next + 1 == devices_.size() ? 0 : next + 1;
      d.device.step(wall_ms());
      d.device.write_payload(payload);
      const std::int64_t t = now_us();
      try {
        cli_.publish(d.topic, payload.data(), payload.size(), o.qos, false, nullptr, *this);
      } catch (const mqtt::exception& e) {
        // Refused before it left (e.g. the connection dropped just now): counted, not retried.
        refused_.fetch_add(1, std::memory_order_relaxed);
        window_.release();
        continue;
      }
      if (published_.fetch_add(1, std::memory_order_relaxed) == 0) first_publish_us_ = t;
    }
  }

  const Plan& plan_;
  const std::size_t index_;
  std::vector<SimDevice> devices_;
  mqtt::async_client cli_;
  mqtt::connect_options conn_opts_;
  std::counting_semaphore<kMaxWindow> window_;
  std::atomic<bool> connected_{false};
  std::atomic<std::uint64_t> published_{0}, acknowledged_{0}, refused_{0}, failed_{0};
  std::atomic<std::int64_t> first_publish_us_{0}, last_ack_us_{0};
};

// The raw engine: one non-blocking socket, written and read by this connection's thread.
class RawConnection final : public Link {
 public:
  RawConnection(const Plan& plan, std::size_t index, std::string client_id,
                std::vector<SimDevice> devices)
      : plan_(plan), index_(index), client_id_(std::move(client_id)), devices_(std::move(devices)) {
    const auto e = wire::parse_tcp_url(plan.opts.url);
    if (!e) throw std::runtime_error("the raw engine needs a tcp:// URL, got " + plan.opts.url);
    endpoint_ = *e;
  }
  ~RawConnection() override { close_socket(); }

  void connect() override {
    std::string error;
    if (!open_socket(error)) {
      throw std::runtime_error("cannot connect to " + plan_.opts.url + " as " + client_id_ +
                               ": " + error);
    }
  }

  void run() noexcept override {
    try {
      loop();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "iotd-sim: connection %zu: %s\n", index_, e.what());
      failed_ += inflight();
    }
    if (fd_ >= 0) {
      std::string bye;
      wire::append_disconnect(bye);
      (void)::send(fd_, bye.data(), bye.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close_socket();
  }

  void drain(Clock::time_point) override {}  // run() waits for its acknowledgements itself

  void add_to(PublishReport& r) const override {
    merge_counts(r, published_.load(), acknowledged_.load(), failed_.load(), failed_.load(),
                 first_publish_us_.load(), last_ack_us_.load());
  }

 private:
  static constexpr std::size_t kMaxBatchBytes = 256 * 1024;  // unsent bytes before we wait
  static constexpr auto kKeepalive = 30s;

  std::uint64_t inflight() const {
    return published_.load(std::memory_order_relaxed) -
           acknowledged_.load(std::memory_order_relaxed) - failed_.load(std::memory_order_relaxed);
  }

  bool running() const {
    return !plan_.stop.load(std::memory_order_relaxed) && Clock::now() < plan_.end;
  }

  void close_socket() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // TCP connect, CONNECT, CONNACK, all blocking with 10 s timeouts; then non-blocking.
  bool open_socket(std::string& error) {
    close_socket();
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(endpoint_.port);
    if (const int rc = ::getaddrinfo(endpoint_.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
      error = endpoint_.host + ": " + ::gai_strerror(rc);
      return false;
    }
    error = "no address";
    for (addrinfo* a = res; a != nullptr && fd_ < 0; a = a->ai_next) {
      const int fd = ::socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
      if (fd < 0) continue;
      timeval tv{10, 0};
      ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
      ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      if (::connect(fd, a->ai_addr, a->ai_addrlen) == 0) {
        fd_ = fd;
      } else {
        error = std::strerror(errno);
        ::close(fd);
      }
    }
    ::freeaddrinfo(res);
    if (fd_ < 0) return false;
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // we batch ourselves

    std::string hello;
    wire::append_connect(hello, client_id_, static_cast<std::uint16_t>(kKeepalive.count()));
    if (::send(fd_, hello.data(), hello.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(hello.size())) {
      error = std::string("sending CONNECT: ") + std::strerror(errno);
      close_socket();
      return false;
    }
    reader_ = wire::Reader();
    char buf[64];
    while (true) {
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        error = n == 0 ? "closed before CONNACK" : std::string("waiting for CONNACK: ") + std::strerror(errno);
        close_socket();
        return false;
      }
      reader_.feed({buf, static_cast<std::size_t>(n)});
      if (const auto p = reader_.next()) {
        if (p->type != wire::kConnack || p->id != 0) {
          error = "broker refused the connection (CONNACK code " + std::to_string(p->id) + ")";
          close_socket();
          return false;
        }
        break;
      }
    }
    ::fcntl(fd_, F_SETFL, ::fcntl(fd_, F_GETFL) | O_NONBLOCK);
    last_send_ = Clock::now();
    return true;
  }

  // The connection dropped: what was in flight is lost (clean session); reconnect with
  // back-off while the run goes on.
  void connection_lost(const std::string& why) {
    std::fprintf(stderr, "iotd-sim: connection %zu lost (%s); %llu in flight lost\n", index_,
                 why.c_str(), static_cast<unsigned long long>(inflight()));
    failed_ += inflight();
    qos0_ends_.clear();
    out_.clear();
    out_pos_ = 0;
    close_socket();
    auto backoff = 1s;
    while (running()) {
      std::this_thread::sleep_for(std::min<Clock::duration>(backoff, 200ms));
      std::string error;
      if (open_socket(error)) {
        std::fprintf(stderr, "iotd-sim: connection %zu reconnected\n", index_);
        return;
      }
      const auto until = Clock::now() + backoff;
      while (running() && Clock::now() < until) std::this_thread::sleep_for(kPoll);
      backoff = std::min<std::chrono::seconds>(backoff * 2, 30s);
    }
  }

  void loop() {
    const PublishOptions& o = plan_.opts;
    const std::uint64_t window = o.window;
    std::string payload;
    payload.reserve(1024);
    out_.reserve(kMaxBatchBytes + 4096);
    char in[64 * 1024];
    std::size_t next_device = 0;
    std::uint64_t i = index_;  // global message index: index_, index_ + C, ...
    bool sending = true;
    std::optional<Clock::time_point> drain_deadline;

    while (true) {
      const auto now = Clock::now();
      if (sending && (!running() || (o.messages != 0 && i >= o.messages))) sending = false;
      if (!sending && !drain_deadline) drain_deadline = now + kDrainTimeout;
      if (fd_ < 0) {
        if (!sending) return;
        connection_lost("not connected");
        continue;
      }
      // Fill: as many publishes as are due and fit the window.
      const auto window_used = [&] { return o.qos > 0 ? inflight() : qos0_ends_.size(); };
      while (sending && window_used() < window && out_.size() - out_pos_ < kMaxBatchBytes) {
        if (o.messages != 0 && i >= o.messages) break;
        if (plan_.pacer && plan_.pacer->due(i) > now) break;
        SimDevice& d = devices_[next_device];
        next_device = next_device + 1 == devices_.size() ? 0 : next_device + 1;
        d.device.step(wall_ms());
        d.device.write_payload(payload);
        if (++packet_id_ == 0) packet_id_ = 1;
        wire::append_publish(out_, d.topic.str(), payload, o.qos, packet_id_);
        if (o.qos == 0) qos0_ends_.push_back(written_ + (out_.size() - out_pos_));
        if (published_.load(std::memory_order_relaxed) == 0) first_publish_us_ = now_us();
        published_.fetch_add(1, std::memory_order_relaxed);
        i += plan_.connections;
      }
      if (!sending && inflight() == 0 && out_pos_ == out_.size()) return;  // all acknowledged
      if (drain_deadline && now >= *drain_deadline) return;  // the rest stays unacknowledged
      if (now - last_send_ >= kKeepalive / 2 && out_pos_ == out_.size()) wire::append_pingreq(out_);

      // Write what we can without blocking.
      if (out_pos_ < out_.size()) {
        const ssize_t n = ::send(fd_, out_.data() + out_pos_, out_.size() - out_pos_,
                                 MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
          out_pos_ += static_cast<std::size_t>(n);
          written_ += static_cast<std::uint64_t>(n);
          last_send_ = now;
          if (out_pos_ == out_.size()) {
            out_.clear();
            out_pos_ = 0;
          }
          // QoS 0 is acknowledged once its last byte is in the socket.
          std::uint64_t done = 0;
          while (!qos0_ends_.empty() && qos0_ends_.front() <= written_) {
            qos0_ends_.pop_front();
            ++done;
          }
          if (done > 0) {
            acknowledged_.fetch_add(done, std::memory_order_relaxed);
            store_max(last_ack_us_, now_us());
          }
        } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
          connection_lost(std::strerror(errno));
          continue;
        }
      }

      // Wait for acks, socket space or the next due message, whichever comes first.
      int timeout_ms = static_cast<int>(kPoll.count());
      const bool can_fill = sending && window_used() < window && out_.size() - out_pos_ < kMaxBatchBytes;
      if (can_fill) {
        if (!plan_.pacer) {
          timeout_ms = 0;
        } else {
          const auto wait = plan_.pacer->due(i) - Clock::now();
          timeout_ms = wait <= Clock::duration::zero()
                           ? 0
                           : static_cast<int>(std::min<Clock::duration>(
                                 std::chrono::ceil<std::chrono::milliseconds>(wait), kPoll)
                                                  .count() / 1'000'000);
        }
      }
      pollfd pfd{fd_, static_cast<short>(POLLIN | (out_pos_ < out_.size() ? POLLOUT : 0)), 0};
      const int ready = ::poll(&pfd, 1, timeout_ms);
      if (ready < 0 && errno != EINTR) throw std::runtime_error(std::string("poll: ") + std::strerror(errno));
      if (ready <= 0) continue;
      if (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        connection_lost("socket error");
        continue;
      }
      if (pfd.revents & POLLIN) read_acks(in, sizeof in);
    }
  }

  void read_acks(char* in, std::size_t size) {
    while (fd_ >= 0) {
      const ssize_t n = ::recv(fd_, in, size, MSG_DONTWAIT);
      if (n == 0) {
        connection_lost("closed by the broker");
        return;
      }
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return;
        connection_lost(std::strerror(errno));
        return;
      }
      reader_.feed({in, static_cast<std::size_t>(n)});
      std::uint64_t acks = 0;
      while (const auto p = reader_.next()) {
        if (p->type == wire::kPuback) ++acks;
      }
      if (reader_.malformed()) {
        connection_lost("malformed packet from the broker");
        return;
      }
      if (acks > 0) {
        acknowledged_.fetch_add(acks, std::memory_order_relaxed);
        store_max(last_ack_us_, now_us());
      }
      if (static_cast<std::size_t>(n) < size) return;
    }
  }

  const Plan& plan_;
  const std::size_t index_;
  const std::string client_id_;
  std::vector<SimDevice> devices_;
  wire::Endpoint endpoint_;
  int fd_ = -1;
  wire::Reader reader_;
  std::string out_;              // encoded packets not yet fully sent
  std::size_t out_pos_ = 0;      // first unsent byte of out_
  std::uint64_t written_ = 0;    // bytes sent over the connection's lifetime
  std::deque<std::uint64_t> qos0_ends_;  // QoS 0: written_ at which each unsent message ends
  std::uint16_t packet_id_ = 0;
  Clock::time_point last_send_{};
  // Written by this connection's thread, read by the progress reports.
  std::atomic<std::uint64_t> published_{0}, acknowledged_{0}, failed_{0};
  std::atomic<std::int64_t> first_publish_us_{0}, last_ack_us_{0};
};

}  // namespace

PublishReport run_publisher(const PublishOptions& opts, const std::atomic<bool>& stop,
                            const ProgressFn& progress,
                            std::chrono::milliseconds progress_every) {
  Plan plan{opts, stop, std::nullopt, Clock::time_point::max(), 1};
  plan.connections = std::max<std::size_t>(1, std::min(opts.connections, opts.devices));
  const std::string prefix =
      opts.client_id.empty() ? "iotd-sim-" + std::to_string(::getpid()) : opts.client_id;

  // Device d belongs to connection d % C; `mixed` rotates the styles over devices.
  std::vector<std::vector<SimDevice>> split(plan.connections);
  for (std::size_t d = 0; d < opts.devices; ++d) {
    const Style style = opts.style ? *opts.style : static_cast<Style>(d % kStyleCount);
    std::string id = device_id(opts.device_prefix, d, opts.devices);
    mqtt::string_ref topic(expand_topic(opts.topic, id));
    split[d % plan.connections].push_back(
        {Device(std::move(id), style, opts.seed * 0x9e3779b97f4a7c15ULL + d), std::move(topic)});
  }
  std::vector<std::unique_ptr<Link>> conns;
  for (std::size_t c = 0; c < plan.connections; ++c) {
    std::string id = prefix + "-" + std::to_string(c);
    if (opts.engine == Engine::paho) {
      conns.push_back(std::make_unique<PahoConnection>(plan, c, std::move(id), std::move(split[c])));
    } else {
      conns.push_back(std::make_unique<RawConnection>(plan, c, std::move(id), std::move(split[c])));
    }
    conns.back()->connect();
  }

  const auto start = Clock::now();
  if (opts.rate > 0) plan.pacer.emplace(opts.rate, start);
  if (opts.duration_s > 0) {
    plan.end = start + std::chrono::duration_cast<Clock::duration>(
                           std::chrono::duration<double>(opts.duration_s));
  }
  auto snapshot = [&] {
    PublishReport r;
    for (const auto& c : conns) c->add_to(r);
    r.interrupted = stop.load();
    return r;
  };
  {
    std::atomic<std::size_t> finished{0};
    std::vector<std::jthread> threads;
    for (auto& c : conns) {
      threads.emplace_back([&c, &finished] {
        c->run();
        ++finished;
      });
    }
    auto next_progress = Clock::now() + progress_every;
    while (finished.load() < conns.size()) {
      std::this_thread::sleep_for(20ms);
      if (progress && Clock::now() >= next_progress) {
        progress(snapshot());
        next_progress += progress_every;
      }
    }
  }  // jthreads join here
  const auto deadline = Clock::now() + kDrainTimeout;
  for (auto& c : conns) c->drain(deadline);
  return snapshot();
}

}  // namespace iotd::sim
