// WebSocket stream sessions and their routes (docs/architecture.md §14). A session lives on
// its connection's io thread; the hub thread only appends to its queue (under the
// session's mutex) and posts the first write. Shape after Beast's chat-multi example,
// plus what it lacks: a bounded queue and a 1008 close for a client that falls behind.
#include "iotd/live/stream_routes.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <spdlog/spdlog.h>

#include <array>
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

class StreamSession final : public Subscriber, public std::enable_shared_from_this<StreamSession> {
 public:
  StreamSession(std::unique_ptr<http::UpgradedConnection> conn, StreamFilter filter, LiveHub& hub,
                Counters& counters, const StreamOptions& opts)
      : conn_(std::move(conn)),
        ws_(conn_->stream.release_socket()),
        filter_(std::move(filter)),
        hub_(hub),
        counters_(counters),
        opts_(opts) {}

  ~StreamSession() override {
    hub_.unsubscribe(this);
    if (subscribed_) counters_.ws_clients.fetch_add(-1);
  }

  void start() {
    websocket::stream_base::timeout t;
    t.handshake_timeout = std::chrono::seconds(10);
    t.idle_timeout = opts_.idle_timeout;
    t.keep_alive_pings = true;  // a ping after half the idle time; no answer closes
    ws_.set_option(t);
    ws_.read_message_max(kMaxClientMessage);
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(beast::http::field::server, "iotd"); }));
    ws_.async_accept(conn_->request, [self = shared_from_this()](beast::error_code ec) {
      self->on_accept(ec);
    });
  }

  const StreamFilter& filter() const override { return filter_; }

  // Hub thread.
  void deliver(std::span<const Frame> frames) override {
    bool post_write = false, dropped = false;
    {
      std::lock_guard lock(mu_);
      if (closing_) return;
      // A client with nothing queued takes any commit whole; one still holding frames may
      // not go past the bound.
      if (queued_ > 0 && queued_ + frames.size() > opts_.queue_frames) {
        closing_ = dropped = true;
        pending_.clear();
        pending_.shrink_to_fit();
      } else {
        pending_.insert(pending_.end(), frames.begin(), frames.end());
        queued_ += frames.size();
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
      net::post(ws_.get_executor(), [self] { self->close_lagging(); });
    } else if (post_write) {
      net::post(ws_.get_executor(), [self] { self->write_next(); });
    }
  }

 private:
  void on_accept(beast::error_code ec) {
    if (ec) return;  // the handshake failed or timed out; the socket goes with us
    conn_->request = {};  // the upgrade's headers are no longer needed
    conn_->buffer = beast::flat_buffer{};
    subscribed_ = true;
    counters_.ws_clients.fetch_add(1);
    hub_.subscribe(shared_from_this());
    read();
  }

  // Always one read pending: it sees pongs and the close handshake; client messages are
  // discarded.
  // read_some into a few inline bytes: an idle client's pending read allocates no buffer.
  void read() {
    ws_.async_read_some(net::buffer(rbuf_), [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->finish();
      self->read();
    });
  }

  void write_next() {
    if (batch_pos_ >= batch_.size()) {
      std::lock_guard lock(mu_);
      batch_.clear();
      batch_pos_ = 0;
      if (!closing_) batch_.swap(pending_);
      if (batch_.empty()) {
        writing_ = false;
        return;
      }
    }
    inflight_ = std::move(batch_[batch_pos_++]);
    write_in_flight_ = true;
    ws_.async_write(net::buffer(*inflight_),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->on_write(ec);
                    });
  }

  void on_write(beast::error_code ec) {
    write_in_flight_ = false;
    inflight_.reset();
    if (ec) return finish();
    counters_.ws_frames_sent++;
    {
      std::lock_guard lock(mu_);
      --queued_;
    }
    if (close_after_write_) return close(websocket::close_code::policy_error);
    write_next();
  }

  // The frames still queued are dropped; the one being written finishes (if the client
  // reads again within close_grace), then the close frame goes out with 1008.
  void close_lagging() {
    batch_.clear();
    batch_pos_ = 0;
    grace_.emplace(ws_.get_executor());
    grace_->expires_after(opts_.close_grace);
    grace_->async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      beast::error_code ignored;
      self->ws_.next_layer().close(ignored);
    });
    if (write_in_flight_)
      close_after_write_ = true;
    else
      close(websocket::close_code::policy_error);
  }

  void close(websocket::close_code code) {
    close_after_write_ = false;
    ws_.async_close(websocket::close_reason(code, "client too slow; frames dropped"),
                    [self = shared_from_this()](beast::error_code) { self->finish(); });
  }

  // The connection is over (closed, failed or timed out): leave the hub.
  void finish() {
    hub_.unsubscribe(this);
    if (grace_) grace_->cancel();
    std::lock_guard lock(mu_);
    closing_ = true;
    pending_.clear();
  }

  std::unique_ptr<http::UpgradedConnection> conn_;  // keeps the connection counted
  // Over the bare socket, not a tcp_stream: the websocket layer's own timer does the
  // handshake and keepalive timeouts, and a tcp_stream's timers would cost memory and a
  // timer check on every write.
  websocket::stream<net::ip::tcp::socket> ws_;
  const StreamFilter filter_;
  LiveHub& hub_;
  Counters& counters_;
  const StreamOptions opts_;
  std::array<char, 16> rbuf_;  // client messages are read and dropped
  bool subscribed_ = false;

  std::mutex mu_;  // guards pending_, queued_, writing_, closing_
  std::vector<Frame> pending_;  // appended by the hub, taken whole by write_next
  std::size_t queued_ = 0;      // frames pending or not yet written
  bool writing_ = false;        // a write_next is posted or a write is in flight
  bool closing_ = false;

  // io thread only.
  std::vector<Frame> batch_;
  std::size_t batch_pos_ = 0;
  Frame inflight_;
  bool write_in_flight_ = false;
  bool close_after_write_ = false;
  std::optional<net::steady_timer> grace_;
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
