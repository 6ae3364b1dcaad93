// WebSocket upgrades through the HTTP server: test-only echo routes over real sockets,
// driven by Beast's WebSocket client.
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "iotd/core/prometheus_text.hpp"
#include "iotd/http/server.hpp"
#include "iotd/http/upgrade.hpp"
#include "support/http_client.hpp"

namespace iotd::http {
namespace {

namespace beast = boost::beast;
namespace websocket = boost::beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;
using test::HttpClient;

constexpr char kAdminKey[] = "s3cret";

// Echoes every message back with its text/binary flag until the client closes. Lives on
// the connection's io thread: every operation starts from a completion handler there.
class EchoSession : public std::enable_shared_from_this<EchoSession> {
 public:
  explicit EchoSession(std::unique_ptr<UpgradedConnection> conn)
      : conn_(std::move(conn)), ws_(std::move(conn_->stream)) {}

  void start() {
    ws_.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws_.async_accept(conn_->request, [self = shared_from_this()](beast::error_code ec) {
      if (ec) return;
      self->conn_->answered(101);
      self->read();
    });
  }

 private:
  void read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return;  // closed by the client, or the server stopped
      self->ws_.text(self->ws_.got_text());
      self->ws_.async_write(self->buffer_.data(),
                            [self](beast::error_code ec, std::size_t) {
                              if (ec) return;
                              self->buffer_.consume(self->buffer_.size());
                              self->read();
                            });
    });
  }

  std::unique_ptr<UpgradedConnection> conn_;  // keeps the connection counted
  websocket::stream<ConnectionStream> ws_;
  beast::flat_buffer buffer_;
};

struct UpgradeLog {
  std::atomic<int> echo_upgrades{0};
  std::atomic<int> admin_upgrades{0};
  std::mutex mu;
  std::vector<std::string> rooms;  // guarded by mu
  std::string raw_buffered;        // guarded by mu
  std::atomic<int> on_io_thread{0};
  std::atomic<int> off_io_thread{0};
};

// A WebSocket client with its own io_context; every call waits at most 10 s.
class WsClient {
 public:
  explicit WsClient(std::uint16_t port) : ws_(ioc_), port_(port) {}

  beast::error_code connect(const std::string& target, const std::string& api_key = "") {
    beast::error_code ec;
    beast::get_lowest_layer(ws_).socket().connect(
        tcp::endpoint(net::ip::make_address("127.0.0.1"), port_), ec);
    if (ec) return ec;
    if (!api_key.empty()) {
      ws_.set_option(websocket::stream_base::decorator(
          [api_key](websocket::request_type& req) { req.set("X-API-Key", api_key); }));
    }
    return run([&](auto done) { ws_.async_handshake(response_, "127.0.0.1", target, done); });
  }

  beast::error_code send(const std::string& payload, bool binary = false) {
    ws_.binary(binary);
    return run([&](auto done) { ws_.async_write(net::buffer(payload), done); });
  }

  // The next message, and whether it was text.
  std::optional<std::pair<std::string, bool>> receive() {
    beast::flat_buffer buf;
    auto ec = run([&](auto done) { ws_.async_read(buf, done); });
    if (ec) {
      last_error_ = ec;
      return std::nullopt;
    }
    return std::make_pair(beast::buffers_to_string(buf.data()), ws_.got_text());
  }

  beast::error_code close() {
    return run([&](auto done) { ws_.async_close(websocket::close_code::normal, done); });
  }

  bool is_open() const { return ws_.is_open(); }
  const websocket::response_type& response() const { return response_; }
  beast::error_code last_error() const { return last_error_; }

 private:
  // Starts an operation and runs the io_context until it completes or 10 s pass (then
  // the socket is closed, which completes it with an error).
  template <class Start>
  beast::error_code run(Start start) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc_.restart();
    auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!result && ioc_.run_one_until(deadline) > 0) {
    }
    if (!result) {
      beast::error_code ignored;
      beast::get_lowest_layer(ws_).socket().close(ignored);
      ioc_.restart();
      while (!result && ioc_.run_one() > 0) {
      }
      return beast::error::timeout;
    }
    return *result;
  }

  net::io_context ioc_;
  websocket::stream<beast::tcp_stream> ws_;
  websocket::response_type response_;
  beast::error_code last_error_;
  std::uint16_t port_;
};

class UpgradeTest : public ::testing::Test {
 protected:
  void start(ServerOptions opts = {}) {
    opts.listen = "127.0.0.1:0";
    opts.counters = &counters_;
    opts.io_threads = 2;
    opts.blocking_threads = 2;
    opts.guard = [](const Route& route, Request& req) -> std::optional<Response> {
      if (route.access == Access::open) return std::nullopt;
      auto key = req.header("x-api-key");
      if (!key) return error_response(401, "unauthorized", "an API key is required");
      if (*key != kAdminKey) return error_response(403, "forbidden", "wrong key");
      return std::nullopt;
    };
    router_.add_upgrade("/ws/echo/{room}", Access::open,
                        [this](const Request&, const PathParams& params,
                               std::unique_ptr<UpgradedConnection> conn) {
                          log_.echo_upgrades.fetch_add(1);
                          record_thread(*conn);
                          {
                            std::lock_guard lock(log_.mu);
                            log_.rooms.push_back(params.at("room"));
                          }
                          std::make_shared<EchoSession>(std::move(conn))->start();
                        });
    router_.add_upgrade("/ws/admin", Access::admin,
                        [this](const Request&, const PathParams&,
                               std::unique_ptr<UpgradedConnection> conn) {
                          log_.admin_upgrades.fetch_add(1);
                          std::make_shared<EchoSession>(std::move(conn))->start();
                        });
    router_.add_upgrade("/ws/raw", Access::open,
                        [this](const Request&, const PathParams&,
                               std::unique_ptr<UpgradedConnection> conn) {
                          std::lock_guard lock(log_.mu);
                          log_.raw_buffered = beast::buffers_to_string(conn->buffer.data());
                        });
    router_.add("GET", "/plain", Exec::io, [](const Request&, const PathParams&, Respond respond) {
      respond(json_response(200, "\"plain\""));
    });
    std::vector<std::string> patterns;
    for (const auto& r : router_.routes()) patterns.push_back(r.pattern);
    counters_.set_http_routes(patterns);
    server_ = std::make_unique<Server>(opts, router_);
    server_->start();
  }
  std::uint16_t port() const { return server_->port(); }

  // The handler must run on the thread that runs the connection's io_context.
  void record_thread(UpgradedConnection& conn) {
    auto executor = conn.stream.get_executor();
    auto* ex = executor.target<net::io_context::executor_type>();
    (ex && ex->running_in_this_thread() ? log_.on_io_thread : log_.off_io_thread).fetch_add(1);
  }

  Router router_;
  Counters counters_;
  UpgradeLog log_;
  std::unique_ptr<Server> server_;
};

constexpr char kUpgradeHeaders[] =
    "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";

TEST(RouterUpgrade, AddUpgradeDeclaresAnUpgradeOnlyGetRoute) {
  Router r;
  r.add_upgrade("/ws/{room}", Access::device,
                [](const Request&, const PathParams&, std::unique_ptr<UpgradedConnection>) {});
  auto m = r.match("GET", "/ws/hall");
  ASSERT_NE(m.route, nullptr);
  EXPECT_TRUE(m.route->upgrade);
  EXPECT_FALSE(m.route->handler);
  EXPECT_EQ(m.route->access, Access::device);
  EXPECT_EQ(m.params.at("room"), "hall");
  EXPECT_EQ(r.match("POST", "/ws/hall").status, 405);
  EXPECT_THROW(r.add_upgrade("/ws/empty", Access::open, UpgradeHandler{}), std::invalid_argument);
}

TEST_F(UpgradeTest, EchoesTextAndBinaryFramesAndCompletesTheCloseHandshake) {
  start();
  WsClient ws(port());
  ASSERT_FALSE(ws.connect("/ws/echo/kitchen"));
  EXPECT_EQ(ws.response().result_int(), 101);
  EXPECT_EQ(log_.echo_upgrades.load(), 1);
  {
    std::lock_guard lock(log_.mu);
    EXPECT_EQ(log_.rooms, std::vector<std::string>{"kitchen"});
  }

  const std::vector<std::string> texts{"hello", "{\"device_id\":\"d1\",\"value\":21.5}",
                                      std::string(70000, 'x')};
  for (const auto& text : texts) {
    ASSERT_FALSE(ws.send(text));
    auto got = ws.receive();
    ASSERT_TRUE(got) << ws.last_error().message();
    EXPECT_EQ(got->first, text);
    EXPECT_TRUE(got->second) << "a text frame came back as binary";
  }
  std::string binary{'\0', '\x01', '\xff', '\x7f', '\0'};
  ASSERT_FALSE(ws.send(binary, true));
  auto got = ws.receive();
  ASSERT_TRUE(got) << ws.last_error().message();
  EXPECT_EQ(got->first, binary);
  EXPECT_FALSE(got->second) << "a binary frame came back as text";

  EXPECT_FALSE(ws.close());
  EXPECT_FALSE(ws.is_open());
}

TEST_F(UpgradeTest, HandlerRunsOnTheConnectionsIoThreadAndGetsTheBytesReadPastTheRequest) {
  start();
  WsClient ws(port());
  ASSERT_FALSE(ws.connect("/ws/echo/hall"));
  EXPECT_EQ(log_.on_io_thread.load(), 1);
  EXPECT_EQ(log_.off_io_thread.load(), 0);

  HttpClient c("127.0.0.1", port());
  c.connect();
  c.send_raw(std::string("GET /ws/raw HTTP/1.1\r\nHost: x\r\n") + kUpgradeHeaders +
             "\r\nearly bytes");
  EXPECT_TRUE(c.wait_closed(3s)) << "the handler dropped the connection; it must close";
  std::lock_guard lock(log_.mu);
  EXPECT_EQ(log_.raw_buffered, "early bytes");
}

TEST_F(UpgradeTest, DeniedUpgradeGetsTheGuardsJsonAnswerAndNeverReachesTheHandler) {
  start();
  HttpClient c("127.0.0.1", port());
  c.connect();
  c.send_raw(std::string("GET /ws/admin HTTP/1.1\r\nHost: x\r\n") + kUpgradeHeaders + "\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_NE(r.body.find("\"unauthorized\""), std::string::npos) << r.body;
  // Still an HTTP connection: the next request is answered.
  EXPECT_EQ(c.get("/plain").status, 200);

  WsClient ws(port());
  EXPECT_EQ(ws.connect("/ws/admin"), websocket::error::upgrade_declined);
  EXPECT_EQ(ws.response().result_int(), 401);
  EXPECT_EQ(log_.admin_upgrades.load(), 0);

  WsClient admin(port());
  ASSERT_FALSE(admin.connect("/ws/admin", kAdminKey));
  EXPECT_EQ(log_.admin_upgrades.load(), 1);
  ASSERT_FALSE(admin.send("ping"));
  auto got = admin.receive();
  ASSERT_TRUE(got);
  EXPECT_EQ(got->first, "ping");
}

TEST_F(UpgradeTest, PlainGetToAnUpgradeRouteIs426) {
  start();
  HttpClient c("127.0.0.1", port());
  auto r = c.get("/ws/echo/kitchen");
  EXPECT_EQ(r.status, 426);
  EXPECT_EQ(r.header("upgrade"), "websocket");
  EXPECT_EQ(r.header("content-type"), "application/json");
  EXPECT_NE(r.body.find("\"upgrade_required\""), std::string::npos) << r.body;
  EXPECT_EQ(log_.echo_upgrades.load(), 0);
  EXPECT_EQ(c.get("/plain").status, 200);  // the connection stays usable
}

TEST_F(UpgradeTest, UpgradeRequestToAnOrdinaryRouteIsAnsweredNormally) {
  start();
  HttpClient c("127.0.0.1", port());
  c.connect();
  c.send_raw(std::string("GET /plain HTTP/1.1\r\nHost: x\r\n") + kUpgradeHeaders + "\r\n");
  auto r = c.read_response();
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, "\"plain\"");
}

TEST_F(UpgradeTest, ConcurrentWebSocketsAndHttpRequestsAreAllServed) {
  start();
  constexpr int kSockets = 8, kMessages = 50, kHttpClients = 4, kRequests = 50;
  std::atomic<int> echoed{0}, answered{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < kSockets; ++i) {
    threads.emplace_back([&, i] {
      WsClient ws(port());
      if (ws.connect("/ws/echo/room" + std::to_string(i))) return;
      for (int m = 0; m < kMessages; ++m) {
        std::string msg = std::to_string(i) + ":" + std::to_string(m);
        if (ws.send(msg)) return;
        auto got = ws.receive();
        if (got && got->first == msg) echoed.fetch_add(1);
      }
      ws.close();
    });
  }
  for (int i = 0; i < kHttpClients; ++i) {
    threads.emplace_back([&] {
      HttpClient c("127.0.0.1", port());
      for (int n = 0; n < kRequests; ++n)
        if (c.get("/plain").status == 200) answered.fetch_add(1);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(echoed.load(), kSockets * kMessages);
  EXPECT_EQ(answered.load(), kHttpClients * kRequests);
  EXPECT_EQ(log_.echo_upgrades.load(), kSockets);
}

TEST_F(UpgradeTest, UpgradedConnectionsCountAgainstTheConnectionLimit) {
  ServerOptions o;
  o.max_connections = 2;
  start(o);
  WsClient a(port()), b(port());
  ASSERT_FALSE(a.connect("/ws/echo/a"));
  ASSERT_FALSE(b.connect("/ws/echo/b"));
  HttpClient extra("127.0.0.1", port(), 2s);
  extra.connect();
  extra.send_raw("GET /plain HTTP/1.1\r\nHost: x\r\n\r\n");
  EXPECT_TRUE(extra.wait_closed(3s)) << "a third connection was served";
  // Once a WebSocket closes, its place is free again.
  ASSERT_FALSE(a.close());
  bool served = false;
  for (auto deadline = std::chrono::steady_clock::now() + 5s;
       !served && std::chrono::steady_clock::now() < deadline;) {
    HttpClient d("127.0.0.1", port(), 2s);
    try {
      served = d.get("/plain").status == 200;
    } catch (const std::runtime_error&) {
      std::this_thread::sleep_for(20ms);
    }
  }
  EXPECT_TRUE(served);
}

TEST_F(UpgradeTest, StopWithOpenWebSocketsReturnsPromptly) {
  start();
  std::vector<std::unique_ptr<WsClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(std::make_unique<WsClient>(port()));
    ASSERT_FALSE(clients.back()->connect("/ws/echo/r" + std::to_string(i)));
    ASSERT_FALSE(clients.back()->send("hi"));
    ASSERT_TRUE(clients.back()->receive());
  }
  auto t0 = std::chrono::steady_clock::now();
  server_->stop();
  server_.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 2s);
  // The server's side of every WebSocket is gone: a read ends with an error at once.
  for (auto& c : clients) {
    auto t1 = std::chrono::steady_clock::now();
    EXPECT_FALSE(c->receive());
    EXPECT_NE(c->last_error(), beast::error::timeout);
    EXPECT_LT(std::chrono::steady_clock::now() - t1, 5s);
  }
}

TEST_F(UpgradeTest, HandedOverAndDeniedUpgradesAreCountedByRoute) {
  start();
  {
    WsClient ws(port());
    ASSERT_FALSE(ws.connect("/ws/echo/hall"));
    EXPECT_FALSE(ws.close());
  }
  {
    WsClient denied(port());
    EXPECT_TRUE(denied.connect("/ws/admin"));
  }
  const std::string text = metrics::prometheus_text(counters_);
  EXPECT_NE(text.find("iotd_http_responses_total{route=\"/ws/echo/{room}\",status=\"1xx\"} 1"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("iotd_http_responses_total{route=\"/ws/admin\",status=\"4xx\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(counters_.http_requests.load(), 2u);
}

}  // namespace
}  // namespace iotd::http
