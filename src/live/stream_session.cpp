// WebSocket stream sessions and their routes (docs/architecture.md §15). A session lives on
// its connection's io thread; the hub thread only appends to its queue (under the
// session's mutex) and posts the first write. Shape after Beast's chat-multi example,
// plus what it lacks: a bounded queue and a 1008 close for a client that falls behind.
#include "iotd/live/stream_routes.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "iotd/http/upgrade.hpp"

namespace iotd::live {
namespace {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

constexpr std::size_t kMaxClientMessage = 4096;  // clients have nothing to say; pings aside
// Deliveries gathered into one socket write: Beast's stream sends at most 64 buffers per
// call, and a control frame takes two of them.
constexpr std::size_t kMaxDeliveriesPerWrite = 48;

enum Opcode : std::uint8_t { kText = 0x1, kClose = 0x8, kPing = 0x9, kPong = 0xA };

// A server frame's header (RFC 6455 §5.2: FIN, opcode, unmasked length); returns its size.
std::size_t frame_header(std::uint8_t opcode, std::size_t len, std::array<std::uint8_t, 10>& h) {
  h[0] = static_cast<std::uint8_t>(0x80 | opcode);
  if (len < 126) {
    h[1] = static_cast<std::uint8_t>(len);
    return 2;
  }
  if (len <= 0xFFFF) {
    h[1] = 126;
    h[2] = static_cast<std::uint8_t>(len >> 8);
    h[3] = static_cast<std::uint8_t>(len);
    return 4;
  }
  h[1] = 127;
  for (int i = 0; i < 8; ++i) h[2 + i] = static_cast<std::uint8_t>(std::uint64_t(len) >> (56 - 8 * i));
  return 10;
}

// One stream client. Beast answers the handshake (on a reference to the socket) and is
// then let go: frames are written here, pre-framed by the hub (one shared buffer per
// delivery) and gathered, the deliveries queued so far in one socket write (Beast's
// stream writes one message per call, a syscall per frame per client); client
// frames are parsed here (pings answered, close echoed, data dropped). Keepalive: a ping
// after half of idle_timeout without anything received, closed after all of it.
class StreamSession final : public Subscriber, public std::enable_shared_from_this<StreamSession> {
 public:
  StreamSession(std::unique_ptr<http::UpgradedConnection> conn, StreamFilter filter, LiveHub& hub,
                Counters& counters, const StreamOptions& opts)
      : conn_(std::move(conn)),
        sock_(conn_->stream),
        timer_(sock_.get_executor()),
        filter_(std::move(filter)),
        hub_(hub),
        counters_(counters),
        opts_(opts) {}

  ~StreamSession() override {
    hub_.unsubscribe(this);
    if (subscribed_) counters_.ws_clients.fetch_add(-1);
  }

  void start() {
    hs_ = std::make_unique<websocket::stream<http::ConnectionStream&>>(sock_);
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    hs_->set_option(t);
    hs_->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "iotd"); }));
    hs_->async_accept(conn_->request, [self = shared_from_this()](beast::error_code ec) {
      self->on_accept(ec);
    });
  }

  const StreamFilter& filter() const override { return filter_; }

  // Hub thread.
  void deliver(const Delivery& d) override {
    bool post_write = false, dropped = false;
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      // A client with nothing queued takes any commit whole; one still holding frames may
      // not go past the bound.
      if (queued_ > 0 && queued_ + d.frames > opts_.queue_frames) {
        closing_ = dropped = true;
        pending_.clear();
        pending_.shrink_to_fit();
      } else {
        pending_.push_back(d);
        queued_ += d.frames;
        post_write = !writing_;
        writing_ = true;
      }
    }
    auto self = shared_from_this();
    if (dropped) {
      hub_.unsubscribe(this);  // no more frames for it
      counters_.ws_clients_dropped++;
      spdlog::info("live: {} fell {} frames behind; closing it (1008)", conn_->remote,
                   opts_.queue_frames);
      net::post(sock_.get_executor(), [self] { self->close_lagging(); });
    } else if (post_write) {
      net::post(sock_.get_executor(), [self] { self->write_next(); });
    }
  }

 private:
  void on_accept(beast::error_code ec) {
    hs_.reset();  // Beast's part is done; its buffers go
    if (ec) return;  // the handshake failed or timed out; the socket goes with us
    conn_->answered(101);
    conn_->request = {};  // the upgrade's headers are no longer needed
    conn_->buffer = beast::flat_buffer{};
    subscribed_ = true;
    counters_.ws_clients.fetch_add(1);
    last_rx_ = std::chrono::steady_clock::now();
    hub_.subscribe(shared_from_this());
    read();
    arm_keepalive();
  }

  // ---- reading: client frames are parsed, control frames answered, data dropped ----

  void read() {
    sock_.async_read_some(net::buffer(in_.data() + in_len_, in_.size() - in_len_),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            if (ec) return self->finish();
                            self->last_rx_ = std::chrono::steady_clock::now();
                            self->in_len_ += n;
                            if (self->parse()) self->read();
                          });
  }

  // Consumes what in_ holds; false when the connection is to end.
  bool parse() {
    while (true) {
      if (skip_ > 0) {  // the rest of a data frame's payload
        auto n = std::min<std::uint64_t>(skip_, in_len_);
        consume(static_cast<std::size_t>(n));
        skip_ -= n;
        if (skip_ > 0) return true;
      }
      if (in_len_ < 2) return true;
      const std::uint8_t op = in_[0] & 0x0F;
      const bool masked = in_[1] & 0x80;
      std::uint64_t len = in_[1] & 0x7F;
      std::size_t head = 2;
      if (len == 126) head += 2;
      if (len == 127) head += 8;
      head += 4;  // the mask key
      if (!masked) return fail(websocket::close_code::protocol_error);
      if (in_len_ < head) return true;
      if (len == 126) len = (std::uint64_t(in_[2]) << 8) | in_[3];
      if (len == 127) {
        len = 0;
        for (int i = 0; i < 8; ++i) len = (len << 8) | in_[2 + i];
      }
      if (op >= kClose) {  // control frame: whole in the buffer (≤ 125 bytes)
        if (len > 125) return fail(websocket::close_code::protocol_error);
        if (in_len_ < head + len) return true;
        std::string payload(reinterpret_cast<const char*>(in_.data() + head), len);
        const std::uint8_t* key = in_.data() + head - 4;
        for (std::size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(payload[i] ^ key[i % 4]);
        consume(static_cast<std::size_t>(head + len));
        if (op == kPing) {
          send_control(kPong, std::move(payload));
        } else if (op == kClose) {
          close_received_ = true;
          if (close_written_) {  // the answer to ours: the handshake is complete
            finish();
            return false;
          }
          // Echo its code (closes the socket once written), or ours is on its way.
          if (!close_sent_) send_control(kClose, payload.substr(0, 2));
          return true;
        }
        continue;  // a pong: the receive time is all that counts
      }
      message_bytes_ = (op == 0 ? message_bytes_ : 0) + len;
      if (message_bytes_ > kMaxClientMessage) return fail(websocket::close_code::too_big);
      consume(head);
      skip_ = len;
    }
  }

  void consume(std::size_t n) {
    std::memmove(in_.data(), in_.data() + n, in_len_ - n);
    in_len_ -= n;
  }

  bool fail(websocket::close_code code) {
    close(code);
    return true;  // keep reading: the client's close or EOF ends it
  }

  // ---- keepalive ----

  // Checked every quarter of idle_timeout: a ping goes out at most 3/4 of it after the last
  // frame received, so its pong has at least a quarter to come back. (Checking every half
  // left the pong only the jitter of one tick: a late tick closed healthy clients.)
  void arm_keepalive() {
    timer_.expires_after(opts_.idle_timeout / 4);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->done_ || self->close_sent_) return;  // close() re-arms it for the grace
      auto silent = std::chrono::steady_clock::now() - self->last_rx_;
      if (silent >= self->opts_.idle_timeout) {
        beast::error_code ignored;
        self->sock_.close(ignored);  // no pong: the pending read fails and ends it
        return;
      }
      if (silent >= self->opts_.idle_timeout / 2) self->send_control(kPing, {});
      self->arm_keepalive();
    });
  }

  // ---- writing: pre-framed batches, one gather write each ----

  void send_control(std::uint8_t op, std::string payload) {
    if (close_sent_) return;
    if (op == kClose) close_sent_ = true;
    control_.emplace_back(op, std::move(payload));
    if (!write_in_flight_) write_next();
  }

  void write_next() {
    if (write_in_flight_) return;
    out_frames_.clear();
    {
      std::lock_guard lock(mu_);
      if (!closing_ && !close_sent_) {
        auto n = static_cast<std::ptrdiff_t>(std::min(pending_.size(), kMaxDeliveriesPerWrite));
        out_frames_.assign(pending_.begin(), pending_.begin() + n);
        pending_.erase(pending_.begin(), pending_.begin() + n);
      }
      if (out_frames_.empty() && control_.empty()) {
        writing_ = false;
        return;
      }
    }
    out_control_ = std::move(control_);
    control_.clear();
    headers_.resize(out_control_.size());
    buffers_.clear();
    std::size_t h = 0;
    for (const auto& [op, payload] : out_control_) {
      auto len = frame_header(op, payload.size(), headers_[h]);
      buffers_.emplace_back(headers_[h++].data(), len);
      buffers_.emplace_back(net::buffer(payload));
    }
    for (const auto& d : out_frames_) buffers_.emplace_back(net::buffer(*d.wire));
    write_in_flight_ = true;
    net::async_write(sock_, buffers_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      self->on_write(ec);
    });
  }

  void on_write(beast::error_code ec) {
    write_in_flight_ = false;
    std::size_t n = 0;
    for (const auto& d : out_frames_) n += d.frames;
    const bool sent_close = std::any_of(out_control_.begin(), out_control_.end(),
                                        [](const auto& c) { return c.first == kClose; });
    out_frames_.clear();
    out_control_.clear();
    if (ec) return finish();
    counters_.ws_frames_sent += n;
    {
      std::lock_guard lock(mu_);
      queued_ -= std::min(queued_, n);
    }
    if (sent_close) {  // nothing follows a close frame
      close_written_ = true;
      beast::error_code ignored;
      if (!sock_.is_tls()) sock_.shutdown(net::ip::tcp::socket::shutdown_send, ignored);  // TLS: see finish()
      if (close_received_) finish();
      return;
    }
    write_next();
  }

  // The frames still queued are dropped; the batch being written finishes (if the client
  // reads again within close_grace), then the close frame goes out with 1008.
  void close_lagging() { close(websocket::close_code::policy_error); }

  void close(websocket::close_code code) {
    hub_.unsubscribe(this);
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      pending_.clear();
    }
    const auto c = static_cast<std::uint16_t>(code);
    std::string payload{static_cast<char>(c >> 8), static_cast<char>(c & 0xFF)};
    send_control(kClose, std::move(payload));
    // Without the client's answer (it may not read at all) the socket closes after the grace.
    timer_.expires_after(opts_.close_grace);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::error_code ignored;
      self->sock_.close(ignored);
    });
  }

  // The connection is over (closed, failed or timed out): leave the hub.
  void finish() {
    if (done_) return;
    done_ = true;
    hub_.unsubscribe(this);
    timer_.cancel();
    if (sock_.is_tls() && close_written_ && close_received_) {
      // WSS after the close handshake: close_notify before the socket goes, at most 5 s
      // (docs/architecture.md §19).
      sock_.expires_after(std::chrono::seconds(5));
      sock_.tls().async_shutdown([self = shared_from_this()](beast::error_code) { self->sock_.close(); });
    } else {
      beast::error_code ignored;
      sock_.close(ignored);
    }
    std::lock_guard lock(mu_);
    closing_ = true;
    pending_.clear();
  }

  std::unique_ptr<http::UpgradedConnection> conn_;  // keeps the connection counted
  // The upgraded connection's own stream (plain TCP, or TLS on an HTTPS server), used in
  // place: a released copy would keep a second Beast stream state per client alive in
  // `conn_` (docs/architecture.md §15, memory).
  http::ConnectionStream& sock_;
  net::steady_timer timer_;  // keepalive, and the close grace
  std::unique_ptr<websocket::stream<http::ConnectionStream&>> hs_;  // during the handshake only
  const StreamFilter filter_;
  LiveHub& hub_;
  Counters& counters_;
  const StreamOptions opts_;
  bool subscribed_ = false;

  std::mutex mu_;  // guards pending_, queued_, writing_, closing_
  std::vector<Delivery> pending_;  // appended by the hub, taken by write_next
  std::size_t queued_ = 0;      // frames pending or being written
  bool writing_ = false;        // a write_next is posted or a write is in flight
  bool closing_ = false;

  // io thread only.
  std::array<std::uint8_t, 160> in_{};  // a control frame fits (≤ 14 + 125 bytes)
  std::size_t in_len_ = 0;
  std::uint64_t skip_ = 0;           // payload bytes of a data frame still to drop
  std::uint64_t message_bytes_ = 0;  // of the client's current data message
  std::chrono::steady_clock::time_point last_rx_;
  std::vector<std::pair<std::uint8_t, std::string>> control_, out_control_;
  std::vector<Delivery> out_frames_;  // being written
  std::vector<std::array<std::uint8_t, 10>> headers_;
  std::vector<net::const_buffer> buffers_;
  bool write_in_flight_ = false;
  bool close_sent_ = false;     // queued
  bool close_written_ = false;  // on the wire
  bool close_received_ = false;
  bool done_ = false;
};

// A bad filter: 400 with the JSON error body on the raw connection, then it closes.
void reject(std::unique_ptr<http::UpgradedConnection> conn, const std::string& message) {
  namespace bhttp = beast::http;
  std::shared_ptr<http::UpgradedConnection> c(std::move(conn));
  auto res = std::make_shared<bhttp::response<bhttp::string_body>>(bhttp::status::bad_request,
                                                                     c->request.version());
  res->set(bhttp::field::server, "iotd");
  res->set(bhttp::field::content_type, "application/json");
  res->keep_alive(false);
  res->body() = http::error_response(400, "invalid_parameter", message).body;
  res->prepare_payload();
  c->answered(400);
  c->stream.expires_after(std::chrono::seconds(10));
  bhttp::async_write(c->stream, *res, [c, res](beast::error_code, std::size_t) {
    beast::error_code ignored;
    c->stream.socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  });
}

}  // namespace

void register_stream_routes(http::Router& router, LiveHub& hub, Counters& counters,
                            StreamOptions opts_in) {
  auto opts = std::make_shared<const StreamOptions>(opts_in);
  auto serve = [&hub, &counters, opts](const http::Request& req, std::optional<std::string> device,
                                       std::unique_ptr<http::UpgradedConnection> conn) {
    auto filter = parse_filter(req.query, std::move(device));
    if (!filter) return reject(std::move(conn), filter.error());
    // Not make_shared: the hub's weak pointers must not pin a closed session's memory.
    std::shared_ptr<StreamSession> s(
        new StreamSession(std::move(conn), std::move(*filter), hub, counters, *opts));
    s->start();
  };
  router.add_upgrade("/api/v1/stream", http::Access::open,
                     [serve](const http::Request& req, const http::PathParams&,
                             std::unique_ptr<http::UpgradedConnection> conn) {
                       serve(req, std::nullopt, std::move(conn));
                     });
  // Seed 001: one device from the path, the same frames.
  router.add_upgrade("/api/v1/realtime/subscribe/{device_id}", http::Access::open,
                     [serve](const http::Request& req, const http::PathParams& pp,
                             std::unique_ptr<http::UpgradedConnection> conn) {
                       serve(req, pp.at("device_id"), std::move(conn));
                     });
}

}  // namespace iotd::live
