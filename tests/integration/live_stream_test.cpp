// The live stream against the real binary and a real mosquitto: frames carry the committed
// values, filters hold, alert frames for raise, clear and ack, a client that never reads is
// closed (1008) and counted while others keep receiving, the seed 001 path, 400s.
#include <gtest/gtest.h>

#include <atomic>
#include <limits>
#include <map>
#include <thread>
#include <string>

#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"
#include "support/ws_client.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class LiveStream : public ::testing::Test {
 protected:
  TempDir dir;
  MosquittoServer broker;
  std::unique_ptr<IotdProcess> iotd;

  void SetUp() override {
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{
        dir / "iotd", broker.url(), {{"IOTD_WS_QUEUE_FRAMES", "512"}, {"IOTD_COMMIT_DELAY", "0"}}});
    ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
        << iotd->log();
  }

  void publish(std::vector<OutMessage> msgs) {
    auto r = publish_all(broker.url(), "live-pub", msgs, 1);
    ASSERT_EQ(r.acknowledged, msgs.size());
  }

  std::unique_ptr<WsClient> connect(const std::string& target) {
    auto ws = std::make_unique<WsClient>(iotd->port());
    EXPECT_TRUE(ws->connect(target)) << target << ": " << ws->error() << " " << ws->body();
    return ws;
  }

  // Subscribers join the hub after the handshake; the gauge says when all have.
  bool clients(std::int64_t n) {
    return eventually([&] { return metric("ws_clients") == n; }, 5s);
  }

  // A counter or gauge of the health JSON's "counters"; -1 when absent.
  std::int64_t metric(const std::string& name) {
    auto c = iotd->get("/api/v1/health").json()["counters"];
    return c.contains(name) ? c[name].get<std::int64_t>() : -1;
  }

  static std::optional<json> next(WsClient& ws, std::chrono::milliseconds limit = 10s) {
    auto m = ws.receive(limit);
    if (!m) return std::nullopt;
    return json::parse(*m);
  }
};

TEST_F(LiveStream, PublishedMessageArrivesAsAFrameWithTheCommittedValues) {
  auto ws = connect("/api/v1/stream?device_id=ESP32_001");
  ASSERT_TRUE(clients(1));
  publish({{"sensors/ESP32_001/data",
            R"({"temperature": 24.5, "humidity": 40.25, "timestamp": "2026-01-29T14:30:45"})"}});
  auto f = next(*ws);
  ASSERT_TRUE(f) << ws->error() << iotd->log();
  EXPECT_EQ((*f)["type"], "reading");
  // The frame is the row GET /api/v1/readings serves, "type" aside.
  auto rows = iotd->get("/api/v1/readings?device_id=ESP32_001").json();
  ASSERT_EQ(rows["count"], 1);
  json row = rows["data"][0];
  json frame = *f;
  frame.erase("type");
  EXPECT_EQ(frame, row);
  EXPECT_EQ(frame["metrics"], (json{{"humidity", 40.25}, {"temperature", 24.5}}));
  EXPECT_EQ(frame["timestamp"], "2026-01-29T14:30:45.000Z");
}

TEST_F(LiveStream, DeviceAndMetricFiltersAndTheSeedPath) {
  auto d1 = connect("/api/v1/stream?device_id=d1");
  auto temps = connect("/api/v1/stream?metrics=temperature");
  auto two = connect("/api/v1/stream?device_id=d2,d3&alerts=false");
  auto seed = connect("/api/v1/realtime/subscribe/d2");
  ASSERT_TRUE(clients(4));
  publish({{"sensors/d1/data", R"({"temperature": 1, "humidity": 10, "seq": 1})"},
           {"sensors/d2/data", R"({"humidity": 20, "seq": 2})"},
           {"sensors/d3/data", R"({"temperature": 3, "seq": 3})"},
           {"sensors/d1/data", R"({"humidity": 11, "seq": 4})"}});
  auto expect_frames = [&](WsClient& ws, std::vector<std::pair<std::string, json>> want) {
    for (const auto& [device, metrics] : want) {
      auto f = next(ws);
      ASSERT_TRUE(f) << ws.error();
      EXPECT_EQ((*f)["device_id"], device);
      EXPECT_EQ((*f)["metrics"], metrics);
    }
    EXPECT_FALSE(ws.receive(300ms)) << "a frame the filter excludes";
  };
  expect_frames(*d1, {{"d1", {{"temperature", 1}, {"humidity", 10}}}, {"d1", {{"humidity", 11}}}});
  expect_frames(*temps, {{"d1", {{"temperature", 1}}}, {"d3", {{"temperature", 3}}}});
  expect_frames(*two, {{"d2", {{"humidity", 20}}}, {"d3", {{"temperature", 3}}}});
  expect_frames(*seed, {{"d2", {{"humidity", 20}}}});
}

TEST_F(LiveStream, AlertFramesForRaiseClearAndAcknowledge) {
  ASSERT_EQ(iotd->request("PUT", "/api/v1/rules/temperature", R"({"max": 30})",
                          {{"X-API-Key", kTestAdminKey}, {"Content-Type", "application/json"}})
                .status,
            200)
      << iotd->log();
  auto ws = connect("/api/v1/stream?device_id=boiler");
  auto quiet = connect("/api/v1/stream?device_id=boiler&alerts=false");
  ASSERT_TRUE(clients(2));
  // The rule reload is picked up before the next batch: a first message makes sure.
  publish({{"sensors/boiler/data", R"({"temperature": 20, "seq": 1})"}});
  ASSERT_TRUE(next(*ws));
  publish({{"sensors/boiler/data", R"({"temperature": 35.5, "seq": 2})"}});
  auto reading = next(*ws), raised = next(*ws);
  ASSERT_TRUE(reading && raised) << ws->error();
  EXPECT_EQ((*reading)["metrics"]["temperature"], 35.5);
  EXPECT_EQ((*raised)["type"], "alert");
  EXPECT_EQ((*raised)["event"], "raised");
  EXPECT_EQ((*raised)["state"], "active");
  EXPECT_EQ((*raised)["last_value"], 35.5);
  const auto id = (*raised)["id"].get<std::int64_t>();
  EXPECT_EQ(iotd->get("/api/v1/alerts/" + std::to_string(id)).json()["state"], "active");

  publish({{"sensors/boiler/data", R"({"temperature": 21, "seq": 3})"}});
  reading = next(*ws);
  auto cleared = next(*ws);
  ASSERT_TRUE(reading && cleared) << ws->error();
  EXPECT_EQ((*cleared)["event"], "cleared");
  EXPECT_EQ((*cleared)["id"], id);
  EXPECT_EQ((*cleared)["state"], "cleared");

  auto ack = iotd->post("/api/v1/alerts/" + std::to_string(id) + "/ack", R"({"by": "alice"})",
                        {{"X-API-Key", kTestAdminKey}});
  ASSERT_EQ(ack.status, 200) << ack.body;
  auto acked = next(*ws);
  ASSERT_TRUE(acked) << ws->error();
  EXPECT_EQ((*acked)["event"], "acknowledged");
  EXPECT_EQ((*acked)["id"], id);
  EXPECT_EQ((*acked)["acknowledged"], true);
  EXPECT_EQ((*acked)["acknowledged_by"], "alice");

  // alerts=false: the three readings and nothing else.
  for (int i = 0; i < 3; ++i) {
    auto f = next(*quiet);
    ASSERT_TRUE(f) << quiet->error();
    EXPECT_EQ((*f)["type"], "reading");
  }
  EXPECT_FALSE(quiet->receive(300ms));
}

TEST_F(LiveStream, ClientThatNeverReadsIsClosedAndCountedWhileOthersKeepReceiving) {
  WsClient stalled(iotd->port(), 4096);
  ASSERT_TRUE(stalled.connect("/api/v1/stream")) << stalled.error();
  auto reader = connect("/api/v1/stream");
  ASSERT_TRUE(clients(2));
  // The other client reads all the time, on its own thread, until it has `expected`
  // frames (a receive that times out closes the client: the thread ends on any failure).
  std::atomic<int> received{0};
  std::atomic<int> expected{std::numeric_limits<int>::max()};
  std::string reader_error;
  std::thread reading([&] {
    while (received.load() < expected.load()) {
      if (!reader->receive(15s)) {
        reader_error = reader->error();
        return;
      }
      received++;
    }
  });
  std::string metrics;  // ~1.5 KiB frames
  for (int m = 0; m < 60; ++m) metrics += "\"metric_" + std::to_string(100 + m) + "\": 1234.5678, ";
  int sent = 0;
  while (metric("ws_clients_dropped") < 1 && sent < 5000) {
    std::vector<OutMessage> msgs;
    for (int i = 0; i < 50; ++i)
      msgs.push_back({"sensors/big/data", "{" + metrics + "\"seq\": " + std::to_string(++sent) + "}"});
    publish(msgs);
  }
  EXPECT_EQ(metric("ws_clients_dropped"), 1) << "after " << sent << " messages";
  // The stalled client reads what was in flight, then the close: 1008.
  while (stalled.receive(5s)) {
  }
  EXPECT_TRUE(stalled.closed()) << stalled.error();
  EXPECT_EQ(stalled.close_code(), 1008);
  EXPECT_TRUE(clients(1));
  // The reading client got every message, before and after the drop.
  expected = ++sent;
  publish({{"sensors/big/data", R"({"after": 1, "seq": 100000})"}});
  reading.join();
  EXPECT_EQ(received.load(), sent) << reader_error;
  EXPECT_EQ(reader_error, "");
  EXPECT_GE(metric("ws_frames_sent"), sent);
}

// With a long IOTD_COMMIT_DELAY, a small batch waits for company; one holding a device a
// stream client watches waits at most 2 ms (docs/architecture.md §7), so its frame comes
// well before the delay.
TEST(LiveStreamCommitDelay, WatchedDeviceSkipsTheDelayOthersWait) {
  TempDir dir;
  MosquittoServer broker;
  IotdProcess iotd({dir / "iotd", broker.url(), {{"IOTD_COMMIT_DELAY", "1s"}}});
  ASSERT_TRUE(eventually([&] { return iotd.get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
      << iotd.log();
  auto stored = [&](const std::string& device) {
    return iotd.get("/api/v1/readings?device_id=" + device).json()["count"].get<int>();
  };
  auto send = [&](const std::string& device) {
    auto r = publish_all(broker.url(), "delay-pub", {{"sensors/" + device + "/data", R"({"temperature": 21.5})"}}, 1);
    ASSERT_EQ(r.acknowledged, 1u);
  };
  // iotd gets the message after `send` starts: 500 ms later it is still uncommitted
  // (it waits 1 s), unless the machine stalled the publisher itself for most of that time.
  auto uncommitted_at_500ms = [&](const std::string& device) {
    const auto t = std::chrono::steady_clock::now();
    send(device);
    if (std::chrono::steady_clock::now() - t > 400ms) return;  // too slow to tell
    std::this_thread::sleep_until(t + 500ms);
    EXPECT_EQ(stored(device), 0) << device << ": the batch should wait IOTD_COMMIT_DELAY";
  };
  // No subscriber: the batch waits the delay, then commits.
  uncommitted_at_500ms("unwatched");
  EXPECT_TRUE(eventually([&] { return stored("unwatched") == 1; }, 10s));

  WsClient ws(iotd.port());
  ASSERT_TRUE(ws.connect("/api/v1/stream?device_id=watched")) << ws.error();
  ASSERT_TRUE(eventually([&] {
    return iotd.get("/api/v1/health").json()["counters"].value("ws_clients", 0) == 1;
  }, 5s));
  // A subscriber of another device does not shorten this device's wait.
  uncommitted_at_500ms("other");
  EXPECT_TRUE(eventually([&] { return stored("other") == 1; }, 10s));

  send("watched");
  const auto t0 = std::chrono::steady_clock::now();  // the broker has it (QoS 1)
  auto frame = ws.receive(10s);
  ASSERT_TRUE(frame) << ws.error() << " stored: " << stored("watched") << iotd.log();
  EXPECT_EQ(json::parse(*frame)["device_id"], "watched");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 800ms) << "the watched batch waited the 1 s delay";
}

TEST_F(LiveStream, BadFilterIs400BeforeTheUpgrade) {
  for (std::string target : {"/api/v1/stream?alerts=sometimes", "/api/v1/stream?device_id=a,,b",
                             "/api/v1/stream?metric=temperature",
                             "/api/v1/realtime/subscribe/d1?device_id=d2"}) {
    WsClient ws(iotd->port());
    EXPECT_FALSE(ws.connect(target)) << target;
    EXPECT_EQ(ws.status(), 400) << target;
    auto body = json::parse(ws.body());
    EXPECT_EQ(body["error"]["code"], "invalid_parameter") << target;
  }
  EXPECT_EQ(metric("ws_clients"), 0);
  EXPECT_EQ(iotd->get("/api/v1/stream").status, 426);
}

}  // namespace
}  // namespace iotd::test
