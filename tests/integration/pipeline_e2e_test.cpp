// End to end through the real binary: mosquitto -> iotd -> SQLite -> REST; the basic
// publish -> REST check also on PostgreSQL and MariaDB servers.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "support/database_server.hpp"
#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

class PipelineE2E : public ::testing::Test {
 protected:
  TempDir dir;
  MosquittoServer broker;
  std::unique_ptr<IotdProcess> iotd;

  void SetUp() override { start_iotd({}); }

  void start_iotd(std::map<std::string, std::string> env) {
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", broker.url(), std::move(env)});
    ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
        << iotd->log();
  }

  void publish(std::vector<OutMessage> msgs) {
    auto r = publish_all(broker.url(), "e2e-pub", msgs, 1);
    ASSERT_EQ(r.acknowledged, msgs.size());
  }

  json latest(const std::string& device) {
    auto r = iotd->get("/api/v1/readings/latest?device_id=" + device);
    return r.status == 200 ? r.json() : json();
  }

  void published_reading_is_served_latest_history_stats_and_export();
};

void PipelineE2E::published_reading_is_served_latest_history_stats_and_export() {
  publish({{"sensors/ESP32_001/data",
            R"({"temperature": 24.5, "vibration": 12.3, "gas": 450.0, "power": 250.5, "timestamp": "2026-01-29T14:30:45"})"},
           {"sensors/ESP32_001/data",
            R"({"temperature": 25.5, "vibration": 11.0, "gas": 470.0, "power": 251.5, "timestamp": "2026-01-29T14:31:45"})"}});
  ASSERT_TRUE(eventually([&] { return !latest("ESP32_001").is_null(); }, 10s)) << iotd->log();
  auto l = latest("ESP32_001");
  EXPECT_EQ(l["device_id"], "ESP32_001");
  EXPECT_EQ(l["metrics"]["temperature"]["value"], 25.5);
  EXPECT_EQ(l["metrics"]["temperature"]["timestamp"], "2026-01-29T14:31:45.000Z");

  auto h = iotd->get("/api/v1/readings?device_id=ESP32_001&limit=10").json();
  ASSERT_EQ(h["count"], 2);
  EXPECT_EQ(h["data"][0]["timestamp"], "2026-01-29T14:31:45.000Z");  // newest first
  EXPECT_EQ(h["data"][1]["metrics"]["gas"], 450.0);

  auto s = iotd->get("/api/v1/stats?device_id=ESP32_001").json();
  EXPECT_EQ(s["metrics"]["temperature"]["count"], 2);
  EXPECT_DOUBLE_EQ(s["metrics"]["temperature"]["avg"].get<double>(), 25.0);
  EXPECT_EQ(s["metrics"]["gas"]["max"], 470.0);

  auto a = iotd->get("/api/v1/aggregate?device_id=ESP32_001&metric=temperature&interval=1h"
                     "&from=2026-01-29T14:00:00Z&to=2026-01-29T15:00:00Z").json();
  ASSERT_EQ(a["buckets"].size(), 1u);
  EXPECT_EQ(a["buckets"][0]["metrics"]["temperature"]["count"], 2);

  auto e = iotd->get("/api/v1/export?device_id=ESP32_001&format=columnar").json();
  EXPECT_EQ(e["sample_count"], 2);
  EXPECT_EQ(e["columns"]["temperature"], json({24.5, 25.5}));

  auto csv = iotd->get("/api/v1/export?device_id=ESP32_001&format=csv&metric=temperature");
  EXPECT_EQ(csv.status, 200);
  EXPECT_NE(csv.body.find("timestamp,device_id,temperature"), std::string::npos) << csv.body;
  EXPECT_NE(csv.body.find("2026-01-29T14:30:45.000Z,ESP32_001,24.5"), std::string::npos) << csv.body;
}

TEST_F(PipelineE2E, PublishedReadingIsServedLatestHistoryStatsAndExport) {
  published_reading_is_served_latest_history_stats_and_export();
}

// The same on a database server (started for the test).
class PipelineOnServer : public PipelineE2E, public ::testing::WithParamInterface<std::string> {
 protected:
  std::unique_ptr<DatabaseServer> db;
  void SetUp() override {
    db = std::make_unique<DatabaseServer>(GetParam());
    start_iotd({{"IOTD_DATABASE_URL", db->url()}});
  }
  void TearDown() override { iotd.reset(); }  // before its database server goes
};

TEST_P(PipelineOnServer, PublishedReadingIsServedLatestHistoryStatsAndExport) {
  published_reading_is_served_latest_history_stats_and_export();
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(PipelineOnServer);  // no server installed
INSTANTIATE_TEST_SUITE_P(Backends, PipelineOnServer, ::testing::ValuesIn(server_backends()),
                         [](const auto& info) { return info.param; });

TEST_F(PipelineE2E, AlertIsRaisedUpdatedClearedAndAcknowledged) {
  publish({{"sensors/device5/data", R"({"temperature": 57.21, "timestamp": 1767225600})"},
           {"sensors/device5/data", R"({"temperature": 61.0, "timestamp": 1767225660})"}});
  json alerts;
  ASSERT_TRUE(eventually([&] {
    alerts = iotd->get("/api/v1/alerts?device_id=device5").json();
    return alerts["count"] == 1 && alerts["data"][0]["count"] == 2;
  }, 10s)) << alerts.dump();
  auto a = alerts["data"][0];
  EXPECT_EQ(a["metric"], "temperature");
  EXPECT_EQ(a["state"], "active");
  EXPECT_EQ(a["peak_value"], 61.0);
  EXPECT_EQ(a["raised_at"], "2026-01-01T00:00:00.000Z");

  publish({{"sensors/device5/data", R"({"temperature": 21.0, "timestamp": 1767225720})"}});
  ASSERT_TRUE(eventually([&] {
    return iotd->get("/api/v1/alerts?device_id=device5&state=cleared").json()["count"] == 1;
  }, 10s));

  auto id = std::to_string(a["id"].get<long long>());
  EXPECT_EQ(iotd->post("/api/v1/alerts/" + id + "/ack", "").status, 401);
  EXPECT_EQ(iotd->post("/api/v1/alerts/" + id + "/ack", "", {{"X-API-Key", "wrong-key-wrong-key"}}).status, 403);
  auto ack = iotd->post("/api/v1/alerts/" + id + "/ack", "", {{"X-API-Key", kTestAdminKey}});
  ASSERT_EQ(ack.status, 200) << ack.body;
  EXPECT_EQ(ack.json()["acknowledged"], true);
  EXPECT_EQ(iotd->post("/api/v1/alerts/999999/ack", "", {{"Authorization", std::string("Bearer ") + kTestAdminKey}}).status, 404);
}

// Rules written over REST apply from the next message on, without a restart; a manual
// alert on the same device and metric neither blocks nor clears the rule's alert.
TEST_F(PipelineE2E, RuleChangesApplyWithoutARestartAndManualAlertsStandApart) {
  const std::map<std::string, std::string> admin{{"X-API-Key", kTestAdminKey}};
  auto manual = iotd->post("/api/v1/alerts",
                           R"({"device_id": "rule-dev", "metric": "temperature",
                               "severity": "info", "message": "probe replaced"})",
                           admin);
  ASSERT_EQ(manual.status, 201) << manual.body;
  const auto manual_id = manual.json()["id"].get<long long>();

  auto put = iotd->request("PUT", "/api/v1/rules/temperature?device_id=rule-dev",
                           R"({"max": 30, "severity": "critical"})", admin);
  ASSERT_EQ(put.status, 201) << put.body;
  publish({{"sensors/rule-dev/data", R"({"temperature": 35, "timestamp": 1767225600})"}});
  json alerts;
  ASSERT_TRUE(eventually([&] {
    alerts = iotd->get("/api/v1/alerts?device_id=rule-dev&state=active").json();
    return alerts["count"] == 2;
  }, 10s)) << alerts.dump() << iotd->log();
  json raised;
  for (const auto& a : alerts["data"])
    if (a["kind"] == "threshold") raised = a;
  ASSERT_TRUE(raised.is_object()) << alerts.dump();
  EXPECT_EQ(raised["threshold_max"], 30);
  EXPECT_EQ(raised["severity"], "critical");
  EXPECT_EQ(raised["first_value"], 35);

  // Deleted: the global default (max 50) applies to the next message, which is inside it.
  ASSERT_EQ(iotd->request("DELETE", "/api/v1/rules/temperature?device_id=rule-dev", "", admin).status, 204);
  publish({{"sensors/rule-dev/data", R"({"temperature": 35, "timestamp": 1767225660})"}});
  ASSERT_TRUE(eventually([&] {
    return latest("rule-dev")["metrics"]["temperature"]["timestamp"] == "2026-01-01T00:01:00.000Z";
  }, 10s)) << latest("rule-dev").dump();
  ASSERT_TRUE(eventually([&] {
    alerts = iotd->get("/api/v1/alerts?device_id=rule-dev").json();
    return alerts["count"] == 2;
  }, 10s)) << alerts.dump();
  for (const auto& a : alerts["data"]) {
    if (a["kind"] == "manual") {
      EXPECT_EQ(a["id"], manual_id);
      EXPECT_EQ(a["state"], "active");
    } else {
      EXPECT_EQ(a["id"], raised["id"]);  // no new alert
      EXPECT_EQ(a["state"], "cleared");
      EXPECT_EQ(a["count"], 1);
    }
  }
}

TEST_F(PipelineE2E, BadPayloadsAreRejectedWithReasonsAndGoodOnesStillStored) {
  publish({{"iot/device-001/telemetry", "not-json"},
           {"sensors/ESP32_001/data", R"({"temperature":nan,"humidity":nan,"gas":1873})"},
           {"sensors/ESP32_001/data", R"({"data": "01 03 0C 32 30"})"},
           {"sensors/ESP32_001/data", std::string("\xff\xfe\x00\x01", 4)},
           {"sensors/ok/data", R"({"temperature": 20})"}});
  ASSERT_TRUE(eventually([&] { return !latest("ok").is_null(); }, 10s));
  EXPECT_EQ(latest("ESP32_001")["metrics"]["gas"]["value"], 1873.0) << "nan fields dropped, message kept";
  EXPECT_FALSE(latest("ESP32_001")["metrics"].contains("temperature"));

  EXPECT_EQ(iotd->get("/api/v1/rejects").status, 401);
  auto rj = iotd->get("/api/v1/rejects", {{"X-API-Key", kTestAdminKey}});
  ASSERT_EQ(rj.status, 200);
  auto rejects = rj.json();
  ASSERT_EQ(rejects["count"], 3) << rejects.dump();
  std::multiset<std::string> reasons;
  for (const auto& r : rejects["data"]) reasons.insert(r["reason"].get<std::string>());
  EXPECT_EQ(reasons, (std::multiset<std::string>{"not_json", "not_json", "no_metrics"}));
  auto h = iotd->get("/api/v1/health").json();
  EXPECT_EQ(h["status"], "ok") << h.dump();
}

TEST_F(PipelineE2E, CommandAcksAreSubscribedAndNotRejectedAsTelemetry) {
  publish({{"control/relay-1/ack", R"({"command_id": "c-1", "status": "ok"})"},
           {"control/relay-1/ack", R"({"command_id": "c-2", "status": "maybe"})"},
           {"sensors/relay-1/data", R"({"temperature": 21})"}});
  ASSERT_TRUE(eventually([&] { return !latest("relay-1").is_null(); }, 10s)) << iotd->log();
  auto rj = iotd->get("/api/v1/rejects", {{"X-API-Key", kTestAdminKey}});
  ASSERT_EQ(rj.status, 200);
  auto rejects = rj.json();
  ASSERT_EQ(rejects["count"], 1) << "only the malformed ack: " << rejects.dump();
  EXPECT_EQ(rejects["data"][0]["reason"], "bad_command_ack") << rejects.dump();
  EXPECT_EQ(rejects["data"][0]["topic"], "control/relay-1/ack") << rejects.dump();
  EXPECT_EQ(rejects["data"][0]["source"], "mqtt") << rejects.dump();
}

TEST_F(PipelineE2E, InvalidQueriesGetJsonErrors) {
  for (const char* target : {"/api/v1/readings?limit=0", "/api/v1/readings?limit=10001",
                             "/api/v1/readings?limit=abc", "/api/v1/readings?from=yesterday",
                             "/api/v1/readings?device_id=bad%20id", "/api/v1/aggregate?interval=7m",
                             "/api/v1/readings?from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"}) {
    auto r = iotd->get(target);
    EXPECT_EQ(r.status, 400) << target << " -> " << r.body;
    EXPECT_TRUE(r.json()["error"].contains("message")) << target;
  }
  auto nf = iotd->get("/api/v1/nope");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.json()["error"]["code"], "not_found");
  EXPECT_EQ(iotd->get("/api/v1/readings/latest?device_id=never-seen").status, 404);
}

TEST_F(PipelineE2E, GracefulRestartKeepsDataAndExitsZero) {
  publish({{"sensors/keep/data", R"({"humidity": 40, "timestamp": "2026-03-01T00:00:00Z"})"}});
  ASSERT_TRUE(eventually([&] { return !latest("keep").is_null(); }, 10s));
  EXPECT_EQ(iotd->stop(), 0) << iotd->log();
  iotd->start();
  EXPECT_EQ(latest("keep")["metrics"]["humidity"]["value"], 40.0);
  EXPECT_EQ(iotd->get("/api/v1/readings?device_id=keep").json()["count"], 1);
}

TEST_F(PipelineE2E, SeedCompatibilityRoutes) {
  publish({{"sensors/ESP32_001/data", R"({"temperature": 24.5, "gas": 450.0, "timestamp": "2026-01-29T14:30:45"})"}});
  ASSERT_TRUE(eventually([&] { return !latest("ESP32_001").is_null(); }, 10s));
  EXPECT_EQ(iotd->get("/api/health").json()["status"], "healthy");
  auto l = iotd->get("/api/sensors/latest?device_id=ESP32_001").json();
  EXPECT_EQ(l["data"]["temperature"], 24.5);
  auto nf = iotd->get("/api/sensors/latest?device_id=ESP32_404");
  EXPECT_EQ(nf.status, 404);
  EXPECT_EQ(nf.json()["message"], "No sensor readings found");
  auto ml = iotd->get("/api/sensors/ml-data?device_id=ESP32_001").json();
  EXPECT_EQ(ml["data"]["gases"], json({450.0}));
  EXPECT_EQ(ml["data"]["temperatures"], json({24.5}));
  auto st = iotd->get("/api/sensors/stats?device_id=ESP32_001").json();
  EXPECT_EQ(st["stats"]["avg_temperature"], 24.5);
}

}  // namespace
}  // namespace iotd::test
