// Several iotd instances on one mosquitto and one PostgreSQL (issue 13 items 2, 4, 5;
// docs/architecture.md §21). Instance A reads `sensors/{device_id}/data`, instance B
// `site2/{device_id}/data`: both map the same device, so the test decides which instance
// gets each message. With IOTD_CLUSTER=on an alarm is raised once and cleared once whichever
// instance sees the readings; with it off the same sequence raises a duplicate (the bug the
// setting fixes, so that this test can fail).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "support/database_server.hpp"
#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"
#include "support/ws_client.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::map<std::string, std::string> kAdmin{{"X-API-Key", kTestAdminKey},
                                                {"Content-Type", "application/json"}};

class Cluster : public ::testing::Test {
 protected:
  TempDir dir;
  MosquittoServer broker;
  std::unique_ptr<DatabaseServer> db;
  std::unique_ptr<IotdProcess> a, b;

  void SetUp() override {
    if (find_postgres_bindir() == std::nullopt) GTEST_SKIP() << "PostgreSQL is not installed";
    db = std::make_unique<DatabaseServer>("postgresql");
  }

  // Both instances on the shared database; `cluster`: IOTD_CLUSTER.
  void start(bool cluster) {
    a = start_one("a", "sensors/{device_id}/data", cluster);
    b = start_one("b", "site2/{device_id}/data", cluster);
  }

  std::unique_ptr<IotdProcess> start_one(const std::string& name, const std::string& topic, bool cluster) {
    auto p = std::make_unique<IotdProcess>(IotdProcess::Options{
        dir / name, broker.url(),
        {{"IOTD_DATABASE_URL", db->url()},
         {"IOTD_INSTANCE_ID", name},
         {"IOTD_MQTT_TOPICS", topic},
         {"IOTD_COMMIT_DELAY", "0"},
         {"IOTD_CLUSTER", cluster ? "on" : "off"}}});
    EXPECT_TRUE(eventually([&] { return p->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
        << p->log();
    return p;
  }

  std::int64_t count(const std::string& sql) { return db_count(db->url(), sql); }

  // Publishes one reading and waits until it is stored (by whichever instance reads `topic`).
  void send(const std::string& topic, const std::string& payload) {
    const auto before = count("SELECT COUNT(*) FROM messages");
    auto r = publish_all(broker.url(), "cluster-pub", {{topic, payload}}, 1);
    ASSERT_EQ(r.acknowledged, 1u);
    ASSERT_TRUE(eventually([&] { return count("SELECT COUNT(*) FROM messages") == before + 1; }, 10s))
        << topic << "\nA:\n" << a->log() << "\nB:\n" << b->log();
  }

  void put_rule(IotdProcess& p, const std::string& metric, const std::string& body) {
    auto r = p.request("PUT", "/api/v1/rules/" + metric, body, kAdmin);
    ASSERT_EQ(r.status, 200) << r.body;
  }

  // Raise on A, stay high on B, clear on A.
  void cross_threshold_on_both() {
    put_rule(*a, "temperature", R"({"max": 30})");
    put_rule(*b, "temperature", R"({"max": 30})");
    // A first message on each makes sure both have picked up the rule (before the next batch).
    send("sensors/boiler/data", R"({"temperature": 20, "seq": 1})");
    send("site2/boiler/data", R"({"temperature": 21, "seq": 2})");
    send("sensors/boiler/data", R"({"temperature": 35, "seq": 3})");
    ASSERT_TRUE(eventually([&] { return count("SELECT COUNT(*) FROM alerts WHERE state = 'active'") == 1; }, 5s));
    send("site2/boiler/data", R"({"temperature": 37, "seq": 4})");
    send("sensors/boiler/data", R"({"temperature": 22, "seq": 5})");
  }
};

TEST_F(Cluster, AlarmIsRaisedOnceAndClearedOnceAcrossInstances) {
  start(true);
  cross_threshold_on_both();
  EXPECT_EQ(count("SELECT COUNT(*) FROM alerts"), 1) << a->log() << b->log();
  EXPECT_EQ(count("SELECT COUNT(*) FROM alerts WHERE state = 'cleared'"), 1);
  // B's reading updated A's alert: two readings out of range, peak from B.
  EXPECT_EQ(count("SELECT COUNT(*) FROM alerts WHERE count = 2 AND peak_value = 37"), 1);
  // Both instances serve the same answer.
  auto from_a = a->get("/api/v1/alerts?device_id=boiler").json();
  auto from_b = b->get("/api/v1/alerts?device_id=boiler").json();
  EXPECT_EQ(from_a["count"], 1);
  EXPECT_EQ(from_a, from_b);
}

// Without IOTD_CLUSTER each instance evaluates against its own memory: B raises a second
// alert for the device and it stays active after A cleared its own.
TEST_F(Cluster, WithoutTheSettingTheSameSequenceRaisesADuplicate) {
  start(false);
  cross_threshold_on_both();
  EXPECT_EQ(count("SELECT COUNT(*) FROM alerts"), 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM alerts WHERE state = 'active'"), 1);
}

}  // namespace
}  // namespace iotd::test
