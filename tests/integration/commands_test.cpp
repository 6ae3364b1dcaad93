// Commands to devices through the real binary and a real mosquitto (issue 9): the command
// reaches a subscriber on the device's command topic; the device's ack (published like a
// device would) moves it to acknowledged or failed; no ack expires it; MQTT down answers
// 503 with Retry-After; states survive a restart; seed 002's POST /api/control publishes.
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <unistd.h>

#include <mqtt/async_client.h>

#include <map>
#include <regex>
#include <string>

#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::map<std::string, std::string> kAdmin{{"X-API-Key", kTestAdminKey}};

// A device listening on its command topic (QoS 1).
class DeviceSubscriber {
 public:
  DeviceSubscriber(const std::string& url, const std::string& filter)
      : client_(url, "cmd-test-sub-" + std::to_string(::getpid())) {
    client_.start_consuming();
    auto opts = ::mqtt::connect_options_builder().clean_session(true).finalize();
    client_.connect(opts)->wait();
    client_.subscribe(filter, 1)->wait();
  }
  ~DeviceSubscriber() {
    try {
      client_.disconnect()->wait();
    } catch (...) {
    }
  }
  // The next message within `wait`, or null.
  ::mqtt::const_message_ptr next(std::chrono::milliseconds wait = 10s) {
    ::mqtt::const_message_ptr m;
    client_.try_consume_message_for(&m, wait);
    return m;
  }

 private:
  ::mqtt::async_client client_;
};

class Commands : public ::testing::Test {
 protected:
  TempDir dir;
  MosquittoServer broker;
  std::unique_ptr<IotdProcess> iotd;

  void start_iotd(std::map<std::string, std::string> env = {}) {
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", broker.url(), std::move(env)});
    wait_mqtt(true);
  }
  void wait_mqtt(bool connected) {
    ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == connected; }, 20s))
        << iotd->log();
  }
  // A device exists once it has published a reading.
  void register_device(const std::string& device) {
    publish("sensors/" + device + "/data", R"({"temperature": 21.5})");
    ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/readings/latest?device_id=" + device).status == 200; }, 10s))
        << iotd->log();
  }
  void publish(const std::string& topic, const std::string& payload) {
    ASSERT_EQ(publish_all(broker.url(), "cmd-test-pub", {{topic, payload}}, 1).acknowledged, 1u);
  }
  HttpReply issue(const std::string& device, const std::string& body) {
    return iotd->post("/api/v1/devices/" + device + "/commands", body, kAdmin);
  }
  json command(const std::string& device, const std::string& id) {
    auto r = iotd->get("/api/v1/devices/" + device + "/commands/" + id, kAdmin);
    return r.status == 200 ? r.json() : json();
  }
  bool reaches(const std::string& device, const std::string& id, const std::string& state) {
    return eventually([&] { return command(device, id)["state"] == state; }, 15s);
  }
  json counters() { return iotd->get("/api/v1/health").json()["counters"]; }
};

TEST_F(Commands, TheDeviceReceivesTheCommandAndItsAckMovesItToAcknowledged) {
  start_iotd();
  register_device("ESP32_001");
  DeviceSubscriber device(broker.url(), "control/ESP32_001/command");

  auto r = issue("ESP32_001", R"({"command": "restart", "parameters": {"delay_seconds": 5}})");
  ASSERT_EQ(r.status, 202) << r.body;
  auto c = r.json();
  const std::string id = c["command_id"];
  EXPECT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << id;
  EXPECT_EQ(c["state"], "pending");
  EXPECT_EQ(c["device_id"], "ESP32_001");
  EXPECT_EQ(c["parameters"], json({{"delay_seconds", 5}}));

  auto m = device.next();
  ASSERT_TRUE(m) << "no command on control/ESP32_001/command\n" << iotd->log();
  EXPECT_EQ(m->get_topic(), "control/ESP32_001/command");
  EXPECT_EQ(m->get_qos(), 1);
  auto p = json::parse(m->to_string());
  EXPECT_EQ(p["command_id"], id);
  EXPECT_EQ(p["command"], "restart");
  EXPECT_EQ(p["parameters"], json({{"delay_seconds", 5}}));
  EXPECT_EQ(p["issued_at"], c["issued_at"]);

  ASSERT_TRUE(reaches("ESP32_001", id, "sent")) << command("ESP32_001", id).dump();
  EXPECT_FALSE(command("ESP32_001", id)["sent_at"].is_null());

  publish("control/ESP32_001/ack", json({{"command_id", id}, {"status", "ok"}, {"message", "restarting"}}).dump());
  ASSERT_TRUE(reaches("ESP32_001", id, "acknowledged")) << command("ESP32_001", id).dump() << iotd->log();
  auto done = command("ESP32_001", id);
  EXPECT_EQ(done["message"], "restarting");
  EXPECT_FALSE(done["completed_at"].is_null());

  auto list = iotd->get("/api/v1/devices/ESP32_001/commands", kAdmin).json();
  ASSERT_EQ(list["count"], 1);
  EXPECT_EQ(list["data"][0]["command_id"], id);
  auto k = counters();
  EXPECT_EQ(k["commands"]["pending"], 1);
  EXPECT_EQ(k["commands"]["sent"], 1);
  EXPECT_EQ(k["commands"]["acknowledged"], 1);
}

TEST_F(Commands, AnErrorAckFailsTheCommandAndAcksForUnknownCommandsAreOnlyCounted) {
  start_iotd();
  register_device("dev-1");
  register_device("dev-2");
  auto r = issue("dev-1", R"({"command": "open-valve"})");
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = r.json()["command_id"];
  ASSERT_TRUE(reaches("dev-1", id, "sent"));
  // Another device cannot answer for dev-1; unknown ids change nothing.
  publish("control/dev-2/ack", json({{"command_id", id}, {"status", "ok"}}).dump());
  publish("control/dev-1/ack", R"({"command_id": "no-such-command", "status": "ok"})");
  ASSERT_TRUE(eventually([&] { return counters()["command_acks_unmatched"] == 2; }, 10s)) << counters().dump();
  EXPECT_EQ(command("dev-1", id)["state"], "sent");

  publish("control/dev-1/ack", json({{"command_id", id}, {"status", "error"}, {"message", "valve stuck"}}).dump());
  ASSERT_TRUE(reaches("dev-1", id, "failed")) << command("dev-1", id).dump();
  EXPECT_EQ(command("dev-1", id)["message"], "valve stuck");
  // A repeated ack for a finished command is counted as late and changes nothing.
  publish("control/dev-1/ack", json({{"command_id", id}, {"status", "ok"}}).dump());
  ASSERT_TRUE(eventually([&] { return counters()["command_acks_late"] == 1; }, 10s)) << counters().dump();
  EXPECT_EQ(command("dev-1", id)["state"], "failed");
  EXPECT_TRUE(iotd->get("/api/v1/rejects", kAdmin).json()["data"].empty()) << "acks are not rejects";
}

TEST_F(Commands, ACommandWithoutAnAckExpiresAfterTheTtl) {
  start_iotd({{"IOTD_COMMAND_TTL", "400ms"}});
  register_device("dev-1");
  auto r = issue("dev-1", R"({"command": "ping"})");
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = r.json()["command_id"];
  ASSERT_TRUE(reaches("dev-1", id, "expired")) << command("dev-1", id).dump();
  auto c = command("dev-1", id);
  EXPECT_NE(c["message"].get<std::string>().find("IOTD_COMMAND_TTL"), std::string::npos) << c.dump();
  EXPECT_EQ(counters()["commands"]["expired"], 1);
  // A late ack changes nothing.
  publish("control/dev-1/ack", json({{"command_id", id}, {"status", "ok"}}).dump());
  ASSERT_TRUE(eventually([&] { return counters()["command_acks_late"] == 1; }, 10s));
  EXPECT_EQ(command("dev-1", id)["state"], "expired");
}

TEST_F(Commands, MqttDownAnswers503WithRetryAfterAndStoresNothingPending) {
  start_iotd();
  register_device("dev-1");
  broker.stop();
  wait_mqtt(false);
  auto r = issue("dev-1", R"({"command": "restart"})");
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.json()["error"]["code"], "mqtt_unavailable");
  EXPECT_TRUE(r.headers.count("retry-after") || r.headers.count("Retry-After")) << r.body;
  auto seed = iotd->post("/api/control", R"({"device_id": "dev-1", "command": "restart"})", kAdmin);
  EXPECT_EQ(seed.status, 503);
  EXPECT_TRUE(seed.json()["error"].is_string()) << seed.body;
  auto list = iotd->get("/api/v1/devices/dev-1/commands?state=pending", kAdmin).json();
  EXPECT_EQ(list["count"], 0);
  broker.start();
  wait_mqtt(true);
  EXPECT_EQ(issue("dev-1", R"({"command": "restart"})").status, 202);
}

TEST_F(Commands, BadRequestsAreRefusedWithAClearError) {
  start_iotd();
  register_device("dev-1");
  struct Case {
    const char* body;
    const char* says;
  };
  for (auto c : {Case{"not json", "JSON object"}, Case{"[1]", "JSON object"}, Case{"{}", "command"},
                 Case{R"({"command": ""})", "command"}, Case{R"({"command": 5})", "command"},
                 Case{R"({"command": "x", "parameters": [1]})", "parameters"},
                 Case{R"({"command": "x", "parameters": "a"})", "parameters"}}) {
    auto r = issue("dev-1", c.body);
    EXPECT_EQ(r.status, 400) << c.body;
    EXPECT_EQ(r.json()["error"]["code"], "invalid_parameter") << c.body;
    EXPECT_NE(r.json()["error"]["message"].get<std::string>().find(c.says), std::string::npos) << r.body;
  }
  EXPECT_EQ(issue("unknown-device", R"({"command": "x"})").status, 404);
  EXPECT_EQ(iotd->get("/api/v1/devices/unknown-device/commands", kAdmin).status, 404);
  EXPECT_EQ(iotd->get("/api/v1/devices/unknown-device/commands?state=sent", kAdmin).status, 404);
  EXPECT_EQ(iotd->get("/api/v1/devices/dev-1/commands?state=sent", kAdmin).json()["count"], 0);
  EXPECT_EQ(iotd->get("/api/v1/devices/dev-1/commands/0123", kAdmin).status, 404);
  EXPECT_EQ(iotd->get("/api/v1/devices/dev-1/commands?state=done", kAdmin).status, 400);
  EXPECT_EQ(iotd->get("/api/v1/devices/dev-1/commands?limit=0", kAdmin).status, 400);
  // Admin only, reads included (parameters may carry secrets).
  EXPECT_EQ(iotd->post("/api/v1/devices/dev-1/commands", R"({"command": "x"})").status, 401);
  EXPECT_EQ(iotd->get("/api/v1/devices/dev-1/commands").status, 401);
  EXPECT_EQ(iotd->post("/api/control", R"({"device_id": "dev-1", "command": "x"})").status, 401);
  auto seed = iotd->post("/api/control", R"({"command": "x"})", kAdmin);
  EXPECT_EQ(seed.status, 400);
  EXPECT_TRUE(seed.json()["error"].is_string()) << seed.body;  // seed 002's error shape
  auto missing = iotd->post("/api/control", R"({"device_id": "nobody", "command": "x"})", kAdmin);
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(missing.json()["error"].is_string()) << missing.body;
}

TEST_F(Commands, Seed002ControlPublishesTheCommandAndAnswersInTheSeedsShape) {
  start_iotd();
  register_device("ESP32_001");
  DeviceSubscriber device(broker.url(), "control/+/command");
  auto r = iotd->post("/api/control",
                      R"({"device_id": "ESP32_001", "command": "restart", "parameters": {"delay_seconds": 5}})", kAdmin);
  ASSERT_EQ(r.status, 202) << r.body;
  auto j = r.json();
  EXPECT_EQ(j["status"], "acknowledged");
  EXPECT_EQ(j["device_id"], "ESP32_001");
  EXPECT_EQ(j["command"], "restart");
  EXPECT_TRUE(j["message"].is_string());
  const std::string id = j["command_id"];
  auto m = device.next();
  ASSERT_TRUE(m) << iotd->log();
  EXPECT_EQ(m->get_topic(), "control/ESP32_001/command");
  auto p = json::parse(m->to_string());
  EXPECT_EQ(p["command_id"], id);
  EXPECT_EQ(p["parameters"]["delay_seconds"], 5);
  EXPECT_TRUE(reaches("ESP32_001", id, "sent"));
}

TEST_F(Commands, StatesSurviveARestartAndCommandsLeftPendingAreFailed) {
  start_iotd();
  register_device("dev-1");
  auto r = issue("dev-1", R"({"command": "restart"})");
  ASSERT_EQ(r.status, 202);
  const std::string acked = r.json()["command_id"];
  ASSERT_TRUE(reaches("dev-1", acked, "sent"));
  publish("control/dev-1/ack", json({{"command_id", acked}, {"status", "ok"}}).dump());
  ASSERT_TRUE(reaches("dev-1", acked, "acknowledged"));
  auto s = issue("dev-1", R"({"command": "calibrate", "parameters": {"zero": true}})");
  ASSERT_EQ(s.status, 202);
  const std::string sent = s.json()["command_id"];
  ASSERT_TRUE(reaches("dev-1", sent, "sent"));
  ASSERT_EQ(iotd->stop(), 0) << iotd->log();

  // A command whose publish outcome the stopped process never learnt.
  {
    soci::session db("sqlite3", "db=" + iotd->db_path().string());
    db << "INSERT INTO commands(command_id, device_id, command, parameters, state, issued_at, expires_at) "
          "VALUES('feedbeef', 'dev-1', 'restart', '{}', 'pending', 1, 99999999999999)";
  }
  iotd->start();
  wait_mqtt(true);
  EXPECT_EQ(command("dev-1", acked)["state"], "acknowledged");
  EXPECT_EQ(command("dev-1", sent)["state"], "sent");
  EXPECT_EQ(command("dev-1", sent)["parameters"], json({{"zero", true}}));
  auto lost = command("dev-1", "feedbeef");
  EXPECT_EQ(lost["state"], "failed");
  EXPECT_NE(lost["message"].get<std::string>().find("unknown"), std::string::npos) << lost.dump();
  // The command sent before the restart can still be acknowledged.
  publish("control/dev-1/ack", json({{"command_id", sent}, {"status", "ok"}}).dump());
  EXPECT_TRUE(reaches("dev-1", sent, "acknowledged"));
  auto list = iotd->get("/api/v1/devices/dev-1/commands", kAdmin).json();
  ASSERT_EQ(list["count"], 3);
  EXPECT_EQ(list["data"][0]["command_id"], sent);  // newest first
}

}  // namespace
}  // namespace iotd::test
