// Retention (docs/architecture.md §17) through the real binary, on SQLite, PostgreSQL and
// MariaDB: readings ingested with device times 40 days back (and fresh ones), an alert raised
// and cleared 40 days back, one raised then and still active, rejects backdated 40 days. With
// retention off everything is served; restarted with IOTD_RETENTION=30d,
// IOTD_RETENTION_ALERTS=30d and IOTD_RETENTION_REJECTS=30d, the old rows leave the tables and
// every API (history, stats, aggregates, alerts, rejects) while fresh ones, the active alert and
// latest values stay, and HTTP ingest keeps answering 201 while the backlog is deleted.
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <map>
#include <memory>
#include <string>

#include "iotd/storage/database.hpp"
#include "support/database_server.hpp"
#include "support/iotd_process.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::map<std::string, std::string> kAdmin{{"X-API-Key", kTestAdminKey},
                                                 {"Content-Type", "application/json"}};
constexpr std::int64_t kDay = 24LL * 3600 * 1000;
constexpr int kOldBatches = 6;  // x 1000 old readings: more than one retention step
constexpr int kFresh = 20;

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch()).count();
}

class Retention : public ::testing::Test {
 protected:
  TempDir dir;
  std::unique_ptr<IotdProcess> iotd;
  std::string database_url;  // empty: SQLite in dir
  std::int64_t t0 = now_ms();
  std::int64_t old = t0 - 40 * kDay;

  void start_iotd(std::map<std::string, std::string> env) {
    if (!database_url.empty()) env["IOTD_DATABASE_URL"] = database_url;
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", "", std::move(env)});
  }
  HttpReply post(const std::string& path, const std::string& body) { return iotd->post(path, body, kAdmin); }
  std::int64_t count(const std::string& sql) { return db_count(iotd->database_url(), sql); }
  json get(const std::string& target) {
    auto r = iotd->get(target, {{"X-API-Key", kTestAdminKey}});
    EXPECT_EQ(r.status, 200) << target << " " << r.body;
    return r.json();
  }
  void reading(const std::string& device, std::int64_t ts, double temperature) {
    json m{{"device_id", device}, {"timestamp", ts}, {"temperature", temperature}};
    auto r = post("/api/v1/ingest", m.dump());
    ASSERT_EQ(r.status, 201) << r.body;
  }
  void run();
};

void Retention::run() {
  // Phase 1, retention off (rejects' default 30d applies, but nothing is old yet).
  start_iotd({});
  for (int b = 0; b < kOldBatches; ++b) {
    json batch = json::array();
    for (int i = 0; i < 1000; ++i)
      batch.push_back({{"device_id", "old-" + std::to_string(i % 10)},
                       {"timestamp", old + (b * 1000 + i) * 1000LL},
                       {"humidity", 40 + i % 20}});
    auto r = post("/api/v1/ingest/batch", batch.dump());
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(r.json()["accepted"], 1000);
  }
  reading("old-clear", old, 60);        // raised 40 days ago
  reading("old-clear", old + 60'000, 20);  // and cleared a minute later
  reading("old-active", old, 70);       // raised 40 days ago, still active
  reading("fresh-clear", t0 - 3'600'000, 60);
  reading("fresh-clear", t0 - 3'540'000, 20);
  for (int i = 0; i < kFresh; ++i) reading("fresh", t0 - 600'000 + i * 1000, 20 + i);
  ASSERT_EQ(post("/api/v1/ingest", "not json at all").status, 400);
  ASSERT_EQ(post("/api/v1/ingest", "{still not json").status, 400);
  ASSERT_EQ(post("/api/v1/ingest", R"({"device_id": "fresh", "note": "no metrics"})").status, 400);

  const std::int64_t all_readings = kOldBatches * 1000 + 5 + kFresh;
  EXPECT_EQ(get("/api/v1/stats")["metrics"]["humidity"]["count"], kOldBatches * 1000);
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), all_readings);
  EXPECT_EQ(get("/api/v1/alerts?state=cleared")["count"], 2);
  EXPECT_EQ(get("/api/v1/rejects")["count"], 3);
  iotd->stop();
  {  // Backdate the two not_json rejects (their received_at is the server's clock).
    auto spec = storage::parse_database_url(iotd->database_url());
    soci::session s(spec.backend, spec.connect_string);
    long long back = 40 * kDay;
    s << "UPDATE rejects SET received_at = received_at - :b WHERE reason = 'not_json'", soci::use(back);
  }

  // Phase 2: retention on, a run every second (the first at start).
  start_iotd({{"IOTD_RETENTION", "30d"},
              {"IOTD_RETENTION_ALERTS", "30d"},
              {"IOTD_RETENTION_REJECTS", "30d"},
              {"IOTD_RETENTION_INTERVAL", "1s"}});
  // Ingest keeps working while the backlog goes.
  int posted = 0;
  ASSERT_TRUE(eventually([&] {
    reading("during", now_ms() - 1000 - posted, 21);
    ++posted;
    return count("SELECT COUNT(*) FROM messages WHERE ts < " + std::to_string(t0 - 30 * kDay)) == 0 &&
           count("SELECT COUNT(*) FROM rejects") == 1 && count("SELECT COUNT(*) FROM alerts") == 2;
  }, 60s)) << iotd->log();

  const std::int64_t fresh_readings = 2 + kFresh + posted;
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), fresh_readings);
  EXPECT_EQ(count("SELECT COUNT(*) FROM rollup_1m WHERE bucket < " + std::to_string(t0 - 30 * kDay)), 0);
  auto history = get("/api/v1/readings?limit=10000");
  EXPECT_EQ(history["count"], fresh_readings);
  EXPECT_EQ(get("/api/v1/readings?device_id=old-3")["count"], 0);
  auto stats = get("/api/v1/stats");  // all time: rollups
  EXPECT_FALSE(stats["metrics"].contains("humidity")) << stats.dump();
  EXPECT_EQ(stats["metrics"]["temperature"]["count"], fresh_readings) << stats.dump();
  auto agg = get("/api/v1/aggregate?interval=1d&from=-45d&to=now");
  for (const auto& b : agg["buckets"])
    EXPECT_FALSE(b["metrics"].contains("humidity")) << b.dump();
  auto cleared = get("/api/v1/alerts?state=cleared");
  ASSERT_EQ(cleared["count"], 1);
  EXPECT_EQ(cleared["data"][0]["device_id"], "fresh-clear");
  auto active = get("/api/v1/alerts?state=active");
  ASSERT_EQ(active["count"], 1) << active.dump();
  EXPECT_EQ(active["data"][0]["device_id"], "old-active");
  auto rejects = get("/api/v1/rejects");
  ASSERT_EQ(rejects["count"], 1);
  EXPECT_EQ(rejects["data"][0]["reason"], "no_metrics");
  // Latest values are kept (small; the device's last known state).
  auto latest = get("/api/v1/readings/latest?device_id=old-clear");
  EXPECT_EQ(latest["metrics"]["temperature"]["value"], 20);

  auto metrics = iotd->get("/metrics").body;
  EXPECT_NE(metrics.find("iotd_retention_deleted_rows_total{table=\"messages\"} " +
                         std::to_string(kOldBatches * 1000 + 3)), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("iotd_retention_deleted_rows_total{table=\"alerts\"} 1"), std::string::npos);
  EXPECT_NE(metrics.find("iotd_retention_deleted_rows_total{table=\"rejects\"} 2"), std::string::npos);
  EXPECT_NE(metrics.find("iotd_retention_last_run_timestamp_seconds"), std::string::npos);
  EXPECT_NE(iotd->log().find("retention deleted"), std::string::npos);
}

TEST_F(Retention, OldReadingsClearedAlertsAndRejectsGoFreshOnesAndActiveAlertsStay) { run(); }

// IOTD_REJECTS_MAX_BYTES end to end: the stored payload is cut to that many bytes, and the
// rejects API shows the cut payload next to the original size (payload_size).
TEST_F(Retention, RejectedPayloadIsCappedAtRejectsMaxBytesAndTheOriginalSizeIsShown) {
  start_iotd({{"IOTD_REJECTS_MAX_BYTES", "100"}});
  const std::string big = "not json: " + std::string(5000, 'x');
  ASSERT_EQ(post("/api/v1/ingest", big).status, 400);
  ASSERT_EQ(post("/api/v1/ingest", "short, not json").status, 400);
  auto rejects = get("/api/v1/rejects");
  ASSERT_EQ(rejects["count"], 2) << rejects.dump();
  std::map<std::int64_t, json> by_size;
  for (const auto& r : rejects["data"]) by_size[r["payload_size"].get<std::int64_t>()] = r;
  ASSERT_TRUE(by_size.contains(static_cast<std::int64_t>(big.size()))) << rejects.dump();
  EXPECT_EQ(by_size[static_cast<std::int64_t>(big.size())]["payload"], big.substr(0, 100));
  ASSERT_TRUE(by_size.contains(15));
  EXPECT_EQ(by_size[15]["payload"], "short, not json");
  EXPECT_EQ(count("SELECT MAX(LENGTH(payload)) FROM rejects"), 100);
}

class RetentionOnServer : public Retention, public ::testing::WithParamInterface<std::string> {
 protected:
  std::unique_ptr<DatabaseServer> db;
  void SetUp() override {
    db = std::make_unique<DatabaseServer>(GetParam());
    database_url = db->url();
  }
  void TearDown() override { iotd.reset(); }  // before its database server goes
};

TEST_P(RetentionOnServer, OldReadingsClearedAlertsAndRejectsGoFreshOnesAndActiveAlertsStay) { run(); }

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RetentionOnServer);  // no server installed
INSTANTIATE_TEST_SUITE_P(Backends, RetentionOnServer, ::testing::ValuesIn(server_backends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace iotd::test
