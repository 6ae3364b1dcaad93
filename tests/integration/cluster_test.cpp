// Several iotd instances on one mosquitto and one PostgreSQL (issue 13 items 2, 4, 5;
// docs/architecture.md §21). Instance A reads `sensors/{device_id}/data`, instance B
// `site2/{device_id}/data`: both map the same device, so the test decides which instance
// gets each message. With IOTD_CLUSTER=on an alarm is raised once and cleared once whichever
// instance sees the readings; with it off the same sequence raises a duplicate (the bug the
// setting fixes, so that this test can fail).
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <string>

#include "support/database_server.hpp"
#include "support/iotd_process.hpp"
#include "support/process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"
#include "support/ws_client.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

std::string slurp_text(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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

  std::unique_ptr<IotdProcess> start_one(const std::string& name, const std::string& topic, bool cluster,
                                         std::map<std::string, std::string> extra = {}) {
    std::map<std::string, std::string> env{{"IOTD_DATABASE_URL", db->url()},
                                           {"IOTD_INSTANCE_ID", name},
                                           {"IOTD_MQTT_TOPICS", topic},
                                           {"IOTD_COMMIT_DELAY", "0"},
                                           {"IOTD_CLUSTER", cluster ? "on" : "off"}};
    env.merge(extra);
    auto p = std::make_unique<IotdProcess>(IotdProcess::Options{dir / name, broker.url(), env});
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

  // Statements run as the server's superuser in database postgres (one psql session);
  // psql's exit code.
  int psql(const std::vector<std::string>& statements) {
    const auto url = db->url();  // postgresql://iotd:iotd@127.0.0.1:PORT/iotd
    const auto port = url.substr(url.rfind(':') + 1, url.rfind('/') - url.rfind(':') - 1);
    std::vector<std::string> argv{(*find_postgres_bindir() / "psql").string(), "-h", "127.0.0.1", "-p", port,
                                  "-U", "postgres", "-d", "postgres", "-v", "ON_ERROR_STOP=1"};
    for (const auto& s : statements) argv.insert(argv.end(), {"-c", s});
    ProcessOptions po;
    po.log_file = dir / "psql.txt";
    return Process::exit_code(run_process(argv, po, 30s));
  }

  void TearDown() override {  // the instances before their database server
    a.reset();
    b.reset();
  }

  std::unique_ptr<WsClient> stream(IotdProcess& p, const std::string& target) {
    auto ws = std::make_unique<WsClient>(p.port());
    EXPECT_TRUE(ws->connect(target)) << target << ": " << ws->error() << " " << ws->body();
    EXPECT_TRUE(eventually([&] { return p.get("/api/v1/health").json()["counters"]["ws_clients"] == 1; }, 5s));
    return ws;
  }

  static std::optional<json> next(WsClient& ws, std::chrono::milliseconds limit = 10s) {
    auto m = ws.receive(limit);
    if (!m) return std::nullopt;
    return json::parse(*m);
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

// A WebSocket client on B gets the readings and alerts A commits (PostgreSQL LISTEN/NOTIFY),
// as the rows A stored.
TEST_F(Cluster, StreamOnOneInstanceCarriesTheOtherInstancesCommits) {
  start(true);
  auto ws = stream(*b, "/api/v1/stream?device_id=boiler");
  publish_all(broker.url(), "cluster-pub", {{"sensors/boiler/data", R"({"temperature": 24.5, "humidity": 40.25})"}}, 1);
  auto f = next(*ws);
  ASSERT_TRUE(f) << ws->error() << a->log() << b->log();
  EXPECT_EQ((*f)["type"], "reading");
  auto rows = a->get("/api/v1/readings?device_id=boiler").json();
  ASSERT_EQ(rows["count"], 1);
  json frame = *f;
  frame.erase("type");
  EXPECT_EQ(frame, rows["data"][0]);
  // B's latest values (served from its memory) have A's reading too.
  auto latest = b->get("/api/v1/readings/latest?device_id=boiler");
  ASSERT_EQ(latest.status, 200) << latest.body;
  EXPECT_NE(latest.body.find("24.5"), std::string::npos) << latest.body;

  put_rule(*a, "temperature", R"({"max": 30})");
  publish_all(broker.url(), "cluster-pub", {{"sensors/boiler/data", R"({"temperature": 35.5})"}}, 1);
  auto reading = next(*ws), raised = next(*ws);
  ASSERT_TRUE(reading && raised) << ws->error() << a->log();
  EXPECT_EQ((*reading)["metrics"]["temperature"], 35.5);
  EXPECT_EQ((*raised)["type"], "alert");
  EXPECT_EQ((*raised)["event"], "raised");
  EXPECT_EQ((*raised)["state"], "active");
  EXPECT_EQ((*raised)["last_value"], 35.5);
  // B's own commits still arrive once (its own notifications are skipped).
  publish_all(broker.url(), "cluster-pub", {{"site2/boiler/data", R"({"temperature": 36})"}}, 1);
  auto own = next(*ws), updated = next(*ws);
  ASSERT_TRUE(own && updated) << ws->error();
  EXPECT_EQ((*own)["metrics"]["temperature"], 36);
  EXPECT_EQ((*updated)["event"], "updated");
  EXPECT_FALSE(next(*ws, 500ms)) << "a frame arrived twice";
  // B counted A's two readings as relayed, not its own; A counted B's one.
  auto counters = b->get("/api/v1/health").json()["counters"];
  EXPECT_EQ(counters["cluster_relayed_readings"], 2) << counters.dump();
  EXPECT_EQ(counters["cluster_relay_connected"], 1) << counters.dump();
  EXPECT_TRUE(eventually(
      [&] { return a->get("/api/v1/health").json()["counters"]["cluster_relayed_readings"] == 1; }, 5s));
}

// The relay reads the latest values whenever it starts listening (docs/architecture.md §21):
// a reading A commits while B's relay cannot listen (its connection ended, the database
// refusing new ones) reaches B's latest values when it listens again. Before that catch-up
// B answered the older value until the device's next reading; the same gap opened at every
// start, between loading the cache and the first LISTEN.
TEST_F(Cluster, LatestValuesCommittedWhileTheRelayWasAwayReachTheOtherInstance) {
  start(true);
  auto latest_of = [&](IotdProcess& p) {
    auto r = p.get("/api/v1/readings/latest?device_id=boiler");
    return r.status == 200 ? r.json()["metrics"]["temperature"]["value"] : json();
  };
  send("sensors/boiler/data", R"({"temperature": 20})");
  ASSERT_TRUE(eventually([&] { return latest_of(*b) == 20; }, 5s)) << b->log();
  ASSERT_EQ(psql({"ALTER DATABASE iotd ALLOW_CONNECTIONS false",
                  "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'iotd-relay b'"}),
            0)
      << slurp_text(dir / "psql.txt");
  ASSERT_TRUE(eventually([&] { return b->log().find("cluster relay: connection lost") != std::string::npos; }, 5s))
      << b->log();
  auto relay_connected = [&](IotdProcess& p) { return p.get("/api/v1/health").json()["counters"]["cluster_relay_connected"]; };
  EXPECT_TRUE(eventually([&] { return relay_connected(*b) == 0; }, 5s)) << "/metrics shows the relay away";
  publish_all(broker.url(), "cluster-pub", {{"sensors/boiler/data", R"({"temperature": 35})"}}, 1);
  ASSERT_TRUE(eventually([&] { return latest_of(*a) == 35; }, 10s)) << a->log();  // A's pool stays connected
  std::this_thread::sleep_for(300ms);
  EXPECT_EQ(latest_of(*b), 20) << "B's relay was not away";
  ASSERT_EQ(psql({"ALTER DATABASE iotd ALLOW_CONNECTIONS true"}), 0);
  EXPECT_TRUE(eventually([&] { return latest_of(*b) == 35; }, 15s)) << b->log();
  EXPECT_TRUE(eventually([&] { return relay_connected(*b) == 1; }, 5s));
}

// Publish on A -> frame on B, one message at a time: the remote path's latency, next to
// the local path (publish on A -> frame on A) measured the same way in the same run. Each
// publish opens its own MQTT connection (publish_all), which both figures include.
TEST_F(Cluster, RemoteStreamLatency) {
  start(true);
  auto measure = [&](IotdProcess& viewer, const std::string& device) {
    auto ws = stream(viewer, "/api/v1/stream?device_id=" + device);
    std::vector<double> ms;
    for (int i = 0; i < 60; ++i) {
      const auto t0 = Clock::now();
      publish_all(broker.url(), "cluster-lat", {{"sensors/" + device + "/data", "{\"n\": " + std::to_string(i) + "}"}}, 1);
      auto f = next(*ws);
      EXPECT_TRUE(f) << i << ws->error();
      if (!f) break;
      EXPECT_EQ((*f)["metrics"]["n"], i);
      ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    }
    std::sort(ms.begin(), ms.end());
    return std::pair{ms[ms.size() / 2], ms[ms.size() * 99 / 100]};
  };
  const auto remote = measure(*b, "lat");
  const auto local = measure(*a, "lat2");
  std::printf("publish (QoS 1, own connection) -> frame, n=60: other instance p50 %.1f ms p99 %.1f ms; "
              "same instance p50 %.1f ms p99 %.1f ms\n", remote.first, remote.second, local.first, local.second);
  EXPECT_LT(remote.first, 1000);
}

// A rule set on A applies to what B evaluates; a device key created or rotated on A is
// known (or forgotten) on B; within the bound of the relay (a notification, <= 100 ms
// queued, plus B's next batch).
TEST_F(Cluster, RuleAndKeyChangesOnOneInstanceApplyOnTheOther) {
  start(true);
  send("site2/boiler/data", R"({"temperature": 20})");  // B has loaded its (empty) rules
  put_rule(*a, "temperature", R"({"max": 30})");
  std::this_thread::sleep_for(1s);
  send("site2/boiler/data", R"({"temperature": 35})");
  EXPECT_TRUE(eventually([&] { return count("SELECT COUNT(*) FROM alerts WHERE state = 'active'") == 1; }, 5s))
      << b->log();

  auto created = a->post("/api/v1/devices", R"({"device_id": "meter-1"})", kAdmin);
  ASSERT_EQ(created.status, 201) << created.body;
  const std::string key = created.json()["api_key"];
  const std::map<std::string, std::string> as_device{{"X-API-Key", key}, {"Content-Type", "application/json"}};
  ASSERT_TRUE(eventually([&] { return b->post("/api/v1/ingest", R"({"kwh": 1})", as_device).status == 201; }, 2s))
      << b->log();
  auto rotated = a->post("/api/v1/devices/meter-1/key", "", kAdmin);
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  EXPECT_TRUE(eventually([&] { return b->post("/api/v1/ingest", R"({"kwh": 2})", as_device).status == 403; }, 2s))
      << b->post("/api/v1/ingest", R"({"kwh": 2})", as_device).status << b->log();
  const std::map<std::string, std::string> new_key{{"X-API-Key", rotated.json()["api_key"].get<std::string>()},
                                                   {"Content-Type", "application/json"}};
  EXPECT_EQ(b->post("/api/v1/ingest", R"({"kwh": 3})", new_key).status, 201);
}

// A command issued on A, acknowledged on a topic only B reads: B's writer updates the row,
// and both instances answer "acknowledged".
TEST_F(Cluster, CommandAckReachingTheOtherInstanceUpdatesTheCommand) {
  a = start_one("a", "sensors/{device_id}/data", true, {{"IOTD_COMMAND_ACK_TOPIC", "nowhere/{device_id}/ack"}});
  b = start_one("b", "site2/{device_id}/data", true, {{"IOTD_COMMAND_ACK_TOPIC", "control/{device_id}/ack"}});
  send("sensors/valve/data", R"({"open": 1})");
  auto r = a->post("/api/v1/devices/valve/commands", R"({"command": "close"})", kAdmin);
  ASSERT_EQ(r.status, 202) << r.body;
  const std::string id = r.json()["command_id"];
  auto state = [&](IotdProcess& p) {
    auto g = p.get("/api/v1/devices/valve/commands/" + id, kAdmin);
    return g.status == 200 ? g.json()["state"].get<std::string>() : std::to_string(g.status);
  };
  ASSERT_TRUE(eventually([&] { return state(*a) == "sent"; }, 10s)) << state(*a);
  publish_all(broker.url(), "cluster-dev", {{"control/valve/ack", json({{"command_id", id}, {"status", "ok"}}).dump()}}, 1);
  EXPECT_TRUE(eventually([&] { return state(*b) == "acknowledged"; }, 10s)) << state(*b) << b->log();
  EXPECT_EQ(state(*a), "acknowledged");
}

}  // namespace
}  // namespace iotd::test
