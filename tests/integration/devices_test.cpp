// Devices and keys (issue 9) through the real binary with a real mosquitto and SQLite: a
// typed device gets a type-scoped rule that fires for what it publishes; keys are shown
// once, rotated and revoked at once; delete keeps or purges the readings; with
// auto-registration off an unregistered publisher is rejected as unknown_device, and the
// writer sees a registration or a deletion at once.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::map<std::string, std::string> kAdmin{{"X-API-Key", kTestAdminKey}};

class DevicesE2E : public ::testing::Test {
 protected:
  TempDir dir;
  MosquittoServer broker;
  std::unique_ptr<IotdProcess> iotd;

  void start_iotd(std::map<std::string, std::string> env) {
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", broker.url(), std::move(env)});
    ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
        << iotd->log();
  }

  void publish(const std::string& device, const std::string& payload) {
    auto r = publish_all(broker.url(), "devices-pub", {{"sensors/" + device + "/data", payload}}, 1);
    ASSERT_EQ(r.acknowledged, 1u);
  }

  HttpReply call(const std::string& method, const std::string& target, const std::string& body = "",
                 const std::map<std::string, std::string>& headers = kAdmin) {
    return iotd->request(method, target, body, headers);
  }

  std::int64_t count(const std::string& sql) { return db_count(iotd->database_url(), sql); }

  json rejects(const std::string& reason) {
    return call("GET", "/api/v1/rejects?reason=" + reason).json();
  }
};

TEST_F(DevicesE2E, TypeScopedRuleFiresForTheTypedDeviceAndKeysRotateAndDeleteKeepsOrPurges) {
  start_iotd({});
  auto created = call("POST", "/api/v1/devices", R"({"device_id": "boiler-1", "name": "Boiler", "type": "boiler"})");
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string key = created.json()["api_key"];
  ASSERT_EQ(key.size(), 64u);
  auto shown = call("GET", "/api/v1/devices/boiler-1", "", {});
  ASSERT_EQ(shown.status, 200);
  EXPECT_EQ(shown.body.find(key), std::string::npos);
  EXPECT_FALSE(shown.json().contains("api_key"));

  // Global temperature rule: 0-50. Boilers: at most 30.
  auto rule = call("PUT", "/api/v1/rules/temperature?device_type=boiler", R"({"max": 30, "severity": "critical"})");
  ASSERT_EQ(rule.status, 201) << rule.body;
  publish("boiler-1", R"({"temperature": 35, "timestamp": "2026-01-29T10:00:00Z"})");
  publish("plain-1", R"({"temperature": 35, "timestamp": "2026-01-29T10:00:00Z"})");
  ASSERT_TRUE(eventually([&] { return call("GET", "/api/v1/alerts?device_id=boiler-1", "", {}).json()["count"] == 1; }, 10s))
      << iotd->log();
  auto alert = call("GET", "/api/v1/alerts?device_id=boiler-1", "", {}).json()["data"][0];
  EXPECT_EQ(alert["metric"], "temperature");
  EXPECT_EQ(alert["severity"], "critical");
  EXPECT_EQ(alert["state"], "active");
  ASSERT_TRUE(eventually([&] { return call("GET", "/api/v1/readings/latest?device_id=plain-1", "", {}).status == 200; }, 10s));
  EXPECT_EQ(call("GET", "/api/v1/alerts?device_id=plain-1", "", {}).json()["count"], 0)
      << "an untyped device keeps the global range";
  EXPECT_TRUE(call("GET", "/api/v1/devices/boiler-1", "", {}).json()["last_seen_at"].is_string())
      << "the writer keeps last_seen_at";

  // PATCH over the real server, and seed 003's view of the same device.
  auto patched = call("PATCH", "/api/v1/devices/boiler-1", R"({"location": "cellar"})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  EXPECT_EQ(patched.json()["type"], "boiler");
  auto seed = call("GET", "/api/devices/boiler-1", "", {});
  ASSERT_EQ(seed.status, 200) << seed.body;
  EXPECT_EQ(seed.json()["device_type"], "boiler");
  EXPECT_EQ(seed.json()["location"], "cellar");

  // Heartbeat with the device's own key; rotation revokes the old key at once.
  EXPECT_EQ(call("POST", "/api/v1/devices/boiler-1/heartbeat", "", {{"X-API-Key", key}}).status, 200);
  auto rotated = call("POST", "/api/v1/devices/boiler-1/key");
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  const std::string key2 = rotated.json()["api_key"];
  EXPECT_EQ(call("POST", "/api/v1/devices/boiler-1/heartbeat", "", {{"X-API-Key", key}}).status, 403);
  EXPECT_EQ(call("POST", "/api/v1/devices/boiler-1/heartbeat", "", {{"Authorization", "Bearer " + key2}}).status, 200);
  auto other = call("POST", "/api/v1/devices", R"({"device_id": "boiler-2"})");
  ASSERT_EQ(other.status, 201);
  const std::string key_other = other.json()["api_key"];
  EXPECT_EQ(call("POST", "/api/v1/devices/boiler-1/heartbeat", "", {{"X-API-Key", key_other}}).status, 403);

  // Keys survive a restart (loaded from their hashes).
  iotd->restart();
  ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health/live").status == 200; }, 15s));
  EXPECT_EQ(call("POST", "/api/v1/devices/boiler-1/heartbeat", "", {{"X-API-Key", key2}}).status, 200);
  EXPECT_EQ(call("POST", "/api/v1/devices/boiler-1/heartbeat", "", {{"X-API-Key", key}}).status, 403);

  // Delete without purge: the readings stay; with purge they go.
  ASSERT_EQ(call("DELETE", "/api/v1/devices/boiler-1").status, 204);
  EXPECT_EQ(call("GET", "/api/v1/devices/boiler-1", "", {}).status, 404);
  EXPECT_EQ(call("POST", "/api/v1/devices/boiler-1/heartbeat", "", {{"X-API-Key", key2}}).status, 403);
  EXPECT_EQ(call("GET", "/api/v1/readings?device_id=boiler-1", "", {}).json()["count"], 1);
  ASSERT_EQ(call("DELETE", "/api/v1/devices/plain-1?purge=true").status, 204);
  EXPECT_EQ(call("GET", "/api/v1/readings?device_id=plain-1", "", {}).json()["count"], 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 1);
  EXPECT_EQ(count("SELECT COUNT(*) FROM devices WHERE device_id = 'plain-1'"), 0);
  EXPECT_EQ(call("GET", "/api/v1/readings/latest?device_id=plain-1", "", {}).status, 404)
      << "a deleted device's latest values go from memory";
}

TEST_F(DevicesE2E, WithoutAutoRegistrationUnknownPublishersAreRejectedAndRegistrationsApplyAtOnce) {
  start_iotd({{"IOTD_AUTO_REGISTER", "false"}});
  publish("stranger", R"({"temperature": 20})");
  ASSERT_TRUE(eventually([&] { return rejects("unknown_device")["count"] == 1; }, 10s)) << iotd->log();
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 0);
  EXPECT_EQ(count("SELECT COUNT(*) FROM devices"), 0);

  ASSERT_EQ(call("POST", "/api/v1/devices", R"({"device_id": "stranger", "type": "esp32"})").status, 201);
  publish("stranger", R"({"temperature": 21})");
  ASSERT_TRUE(eventually([&] { return count("SELECT COUNT(*) FROM messages") == 1; }, 10s)) << iotd->log();

  ASSERT_EQ(call("DELETE", "/api/v1/devices/stranger").status, 204);
  publish("stranger", R"({"temperature": 22})");
  ASSERT_TRUE(eventually([&] { return rejects("unknown_device")["count"] == 2; }, 10s)) << iotd->log();
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 1);
}

}  // namespace
}  // namespace iotd::test
