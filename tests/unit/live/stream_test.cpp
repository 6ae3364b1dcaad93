// The stream routes over real sockets: an http::Server with register_stream_routes, a hub
// fed directly (no writer), Beast's WebSocket client.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <thread>

#include "iotd/core/prometheus_text.hpp"
#include "iotd/http/server.hpp"
#include "iotd/live/stream_routes.hpp"
#include "support/http_client.hpp"
#include "support/ws_client.hpp"

namespace iotd::live {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;
using test::WsClient;

std::optional<json> next(WsClient& ws, std::chrono::milliseconds limit = 5s) {
  auto m = ws.receive(limit);
  if (!m) return std::nullopt;
  return json::parse(*m);
}

ingest::CommitEvent batch(const std::string& device, std::int64_t id, int metrics = 1) {
  Reading r;
  r.device_id = device;
  r.ts_ms = 1'700'000'000'000 + id;
  r.received_at_ms = r.ts_ms;
  for (int m = 0; m < metrics; ++m)
    r.metrics.emplace_back("metric_" + std::to_string(1000 + m), static_cast<double>(id));
  ingest::CommitEvent ev;
  ev.readings.push_back(std::move(r));
  ev.reading_ids.push_back(id);
  return ev;
}

class StreamTest : public ::testing::Test {
 protected:
  void start(StreamOptions so = {}) {
    register_stream_routes(router_, hub_, counters_, so);
    http::ServerOptions o;
    o.listen = "127.0.0.1:0";
    o.io_threads = 2;
    o.blocking_threads = 1;
    o.counters = &counters_;
    std::vector<std::string> patterns;
    for (const auto& r : router_.routes()) patterns.push_back(r.pattern);
    counters_.set_http_routes(patterns);
    server_ = std::make_unique<http::Server>(o, router_);
    server_->start();
  }
  void TearDown() override {
    hub_.stop();  // before the server: a delivery holds a session
    server_.reset();
  }
  // Waits until the hub has `n` subscribers (they join after the handshake).
  bool subscribers(std::size_t n) {
    for (auto deadline = std::chrono::steady_clock::now() + 5s;
         std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(5ms))
      if (hub_.subscribers() == n) return true;
    return false;
  }
  std::uint16_t port() const { return server_->port(); }

  Counters counters_;
  LiveHub hub_;  // outlives the server
  http::Router router_;
  std::unique_ptr<http::Server> server_;
};

TEST_F(StreamTest, FramesArriveInOrderOnBothPathsAndTheClientCountIsKept) {
  start();
  WsClient all(port()), seed(port());
  ASSERT_TRUE(all.connect("/api/v1/stream")) << all.error();
  ASSERT_TRUE(seed.connect("/api/v1/realtime/subscribe/d2")) << seed.error();
  ASSERT_TRUE(subscribers(2));
  EXPECT_EQ(counters_.ws_clients.load(), 2);
  const std::string text = metrics::prometheus_text(counters_);
  for (const char* route : {"/api/v1/stream", "/api/v1/realtime/subscribe/{device_id}"})
    EXPECT_NE(text.find("iotd_http_responses_total{route=\"" + std::string(route) +
                        "\",status=\"1xx\"} 1"),
              std::string::npos)
        << route << "\n" << text;
  for (int i = 1; i <= 20; ++i) hub_.publish(batch(i % 2 ? "d1" : "d2", i));
  for (int i = 1; i <= 20; ++i) {
    auto f = next(all);
    ASSERT_TRUE(f) << all.error();
    EXPECT_EQ((*f)["id"], i);
  }
  for (int i = 2; i <= 20; i += 2) {
    auto f = next(seed);
    ASSERT_TRUE(f) << seed.error();
    EXPECT_EQ((*f)["device_id"], "d2");
    EXPECT_EQ((*f)["id"], i);
  }
  // Counted when the server's write completes, which may come after the client read them.
  for (auto deadline = std::chrono::steady_clock::now() + 5s;
       counters_.ws_frames_sent.load() < 30u && std::chrono::steady_clock::now() < deadline;)
    std::this_thread::sleep_for(5ms);
  EXPECT_EQ(counters_.ws_frames_sent.load(), 30u);
}

TEST_F(StreamTest, BadFilterIs400WithTheJsonErrorBeforeTheUpgrade) {
  start();
  WsClient ws(port());
  EXPECT_FALSE(ws.connect("/api/v1/stream?alerts=maybe"));
  EXPECT_EQ(ws.status(), 400);
  // Counted as the 400 it is, not as a 101 handover (the session counts the answer).
  const std::string text = metrics::prometheus_text(counters_);
  EXPECT_NE(text.find("iotd_http_responses_total{route=\"/api/v1/stream\",status=\"4xx\"} 1"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("iotd_http_responses_total{route=\"/api/v1/stream\",status=\"1xx\"}"),
            std::string::npos)
      << text;
  EXPECT_EQ(ws.header("Content-Type"), "application/json");
  auto body = json::parse(ws.body());
  EXPECT_EQ(body["error"]["code"], "invalid_parameter");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("alerts"), std::string::npos);
  EXPECT_EQ(hub_.subscribers(), 0u);
  EXPECT_EQ(counters_.ws_clients.load(), 0);

  test::HttpClient plain("127.0.0.1", port());
  EXPECT_EQ(plain.get("/api/v1/stream").status, 426);  // not an upgrade
}

TEST_F(StreamTest, ClientThatNeverReadsIsClosedWith1008AndCountedWhileOthersReceive) {
  StreamOptions so;
  so.queue_frames = 8;
  start(so);
  WsClient stalled(port(), 4096), reader(port());
  ASSERT_TRUE(stalled.connect("/api/v1/stream"));
  ASSERT_TRUE(reader.connect("/api/v1/stream"));
  ASSERT_TRUE(subscribers(2));
  // ~2 KiB frames: the stalled client's socket buffers fill, then its queue.
  int sent = 0, received = 0;
  for (auto deadline = std::chrono::steady_clock::now() + 20s;
       counters_.ws_clients_dropped.load() == 0 && std::chrono::steady_clock::now() < deadline;) {
    hub_.publish(batch("d1", ++sent, 100));
    auto f = next(reader);
    ASSERT_TRUE(f) << "the reading client stopped receiving: " << reader.error();
    EXPECT_EQ((*f)["id"], ++received);
  }
  ASSERT_EQ(counters_.ws_clients_dropped.load(), 1u) << "after " << sent << " frames";
  EXPECT_TRUE(subscribers(1));
  for (int i = 0; i < 5; ++i) {  // the other client goes on
    hub_.publish(batch("d1", ++sent));
    auto f = next(reader);
    ASSERT_TRUE(f) << reader.error();
    EXPECT_EQ((*f)["id"], ++received);
  }
  // The stalled client reads what was in flight, then the close: 1008.
  while (stalled.receive(5s)) {
  }
  EXPECT_TRUE(stalled.closed()) << stalled.error();
  EXPECT_EQ(stalled.close_code(), 1008);
  EXPECT_TRUE([&] {
    for (int i = 0; i < 100 && counters_.ws_clients.load() != 1; ++i) std::this_thread::sleep_for(20ms);
    return counters_.ws_clients.load() == 1;
  }());
}

TEST_F(StreamTest, CaughtUpClientTakesACommitLargerThanTheQueueBound) {
  StreamOptions so;
  so.queue_frames = 4;
  start(so);
  WsClient ws(port());
  ASSERT_TRUE(ws.connect("/api/v1/stream"));
  ASSERT_TRUE(subscribers(1));
  ingest::CommitEvent big;
  for (int i = 1; i <= 10; ++i) {
    auto one = batch("d1", i);
    big.readings.push_back(std::move(one.readings.front()));
    big.reading_ids.push_back(i);
  }
  hub_.publish(std::move(big));
  for (int i = 1; i <= 10; ++i) {
    auto f = next(ws);
    ASSERT_TRUE(f) << ws.error();
    EXPECT_EQ((*f)["id"], i);
  }
  EXPECT_EQ(counters_.ws_clients_dropped.load(), 0u);
}

TEST_F(StreamTest, ClientMessagesAreIgnoredTooLongOneClosesAndACloseIsAnswered) {
  start();
  WsClient chatty(port()), big(port());
  ASSERT_TRUE(chatty.connect("/api/v1/stream"));
  ASSERT_TRUE(big.connect("/api/v1/stream"));
  ASSERT_TRUE(subscribers(2));
  ASSERT_TRUE(chatty.send("hello"));
  ASSERT_TRUE(chatty.send(std::string(3000, 'x')));
  hub_.publish(batch("d1", 1));
  auto f = next(chatty);
  ASSERT_TRUE(f) << chatty.error();
  EXPECT_EQ((*f)["id"], 1);
  // Over 4 KiB: closed with 1009 (the frame still queued for it may come first).
  ASSERT_TRUE(big.send(std::string(5000, 'x')));
  while (big.receive(5s)) {
  }
  EXPECT_TRUE(big.closed()) << big.error();
  EXPECT_EQ(big.close_code(), 1009);
  // A normal close is answered: the handshake completes and the client leaves the hub.
  chatty.close();
  EXPECT_EQ(chatty.error(), "");
  EXPECT_TRUE(subscribers(0));
}

TEST_F(StreamTest, SilentClientIsClosedByTheKeepaliveTimeout) {
  StreamOptions so;
  so.idle_timeout = 2s;
  start(so);
  // A raw TCP client: completes the handshake, then never reads (so never answers a ping).
  test::HttpClient raw("127.0.0.1", port());
  raw.connect();
  raw.send_raw(
      "GET /api/v1/stream HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n");
  ASSERT_TRUE(subscribers(1));
  EXPECT_TRUE(raw.wait_closed(8s)) << "no pong for the idle timeout, yet still open";
  EXPECT_TRUE(subscribers(0));
  // A client that answers pings (Beast does while a read is pending) stays.
  WsClient live(port());
  ASSERT_TRUE(live.connect("/api/v1/stream"));
  EXPECT_FALSE(live.receive(5s));
  EXPECT_TRUE(live.timed_out()) << live.error();
}

}  // namespace
}  // namespace iotd::live
