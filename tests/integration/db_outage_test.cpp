// Database down / restart (docs/architecture.md §7, §9): iotd on a PostgreSQL or MariaDB server
// keeps taking QoS 1 messages into its journal while the server is stopped, says so on
// /api/v1/health (503) while liveness and the in-memory latest values still answer, and once
// the server is back stores every message exactly once and reports healthy again.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <set>
#include <string>
#include <thread>

#include "support/database_server.hpp"
#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

// count messages over 10 devices; metric "n" carries a unique number, with device time.
std::vector<OutMessage> numbered(int first, int count) {
  std::vector<OutMessage> out;
  const long long base_ms = 1767225600000LL;  // 2026-01-01
  for (int i = first; i < first + count; ++i)
    out.push_back({"sensors/dev" + std::to_string(i % 10) + "/data",
                   "{\"n\":" + std::to_string(i) + ",\"temperature\":" + std::to_string(20 + i % 10) +
                       ",\"timestamp\":" + std::to_string(base_ms + i) + "}"});
  return out;
}

std::int64_t stored(const std::string& url) {
  try {
    return db_count(url, "SELECT COUNT(*) FROM messages");
  } catch (const std::exception&) {
    return -1;  // the server is not (yet) reachable
  }
}

class DbOutage : public ::testing::TestWithParam<std::string> {};

TEST_P(DbOutage, JournalHoldsTheBacklogHealthSays503AndAllIsStoredOnceWhenTheServerIsBack) {
  DatabaseServer db(GetParam());
  TempDir dir;
  MosquittoServer broker;
  auto iotd = std::make_unique<IotdProcess>(
      IotdProcess::Options{dir / "iotd", broker.url(), {{"IOTD_DATABASE_URL", db.url()}}});
  ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
      << iotd->log();

  constexpr int kBefore = 1000, kDuring = 1500, kTotal = kBefore + kDuring;
  auto pub = publish_all(broker.url(), "outage-pub-a", numbered(0, kBefore), 1, 100);
  ASSERT_EQ(pub.acknowledged, static_cast<std::size_t>(kBefore));
  ASSERT_TRUE(eventually([&] { return stored(db.url()) == kBefore; }, 30s)) << iotd->log();
  ASSERT_EQ(iotd->get("/api/v1/health").status, 200);

  db.stop();
  auto pub2 = publish_all(broker.url(), "outage-pub-b", numbered(kBefore, kDuring), 1, 100);
  ASSERT_EQ(pub2.acknowledged, static_cast<std::size_t>(kDuring)) << "iotd journals while the database is down";

  HttpReply health;
  ASSERT_TRUE(eventually([&] {
    health = iotd->get("/api/v1/health");
    return health.status == 503;
  }, 20s)) << "health never said the database is down: " << health.body << "\n" << iotd->log();
  auto h = health.json();
  EXPECT_EQ(h["status"], "unavailable");
  EXPECT_EQ(h["database"]["ok"], false);
  ASSERT_TRUE(h["database"]["error"].is_string());
  EXPECT_FALSE(h["database"]["error"].get<std::string>().empty());
  EXPECT_EQ(iotd->get("/api/v1/health/live").status, 200);
  auto latest = iotd->get("/api/v1/readings/latest?device_id=dev3");
  EXPECT_EQ(latest.status, 200) << latest.body;
  if (latest.status == 200) {
    EXPECT_TRUE(latest.json()["metrics"].contains("n")) << latest.body;
  }
  const auto backlog = h["journal"]["backlog"].get<long long>();
  std::string error = h["database"]["error"].get<std::string>();
  std::replace(error.begin(), error.end(), '\n', ' ');
  std::this_thread::sleep_for(1s);  // a few failed retries with back-off
  ASSERT_TRUE(iotd->get("/api/v1/health/live").status == 200) << "iotd must survive the outage";

  db.start();
  ASSERT_TRUE(eventually([&] { return stored(db.url()) >= kTotal; }, 60s))
      << "stored " << stored(db.url()) << " of " << kTotal << "\n" << iotd->log();
  std::this_thread::sleep_for(500ms);  // a duplicate would land now
  auto values = db_metric_values(db.url(), "n");
  std::set<long long> unique;
  for (double v : values) unique.insert(static_cast<long long>(v));
  EXPECT_EQ(values.size(), static_cast<std::size_t>(kTotal)) << "rows stored (duplicates if more)";
  EXPECT_EQ(unique.size(), static_cast<std::size_t>(kTotal)) << "distinct messages (lost if fewer)";
  HttpReply after;
  EXPECT_TRUE(eventually([&] {
    after = iotd->get("/api/v1/health");
    return after.status == 200;
  }, 15s)) << after.body;
  // Reads work again through the reconnected pool.
  auto history = iotd->get("/api/v1/readings?device_id=dev3&limit=1");
  EXPECT_EQ(history.status, 200) << history.body;
  std::printf("[ outage %s ] %d stored before, %d published while down (health 503, journal backlog "
              "%lld, error: %s), %zu rows / %zu distinct after restart, health %d\n",
              GetParam().c_str(), kBefore, kDuring, backlog, error.c_str(), values.size(),
              unique.size(), after.status);
  iotd.reset();  // before its database server goes
}

TEST_P(DbOutage, IdleServiceNoticesTheOutageWithoutTraffic) {
  DatabaseServer db(GetParam());
  TempDir dir;
  IotdProcess iotd({dir / "iotd", "", {{"IOTD_DATABASE_URL", db.url()}}});  // no MQTT, no writes
  ASSERT_EQ(iotd.get("/api/v1/health").status, 200);
  db.stop();
  HttpReply down;
  ASSERT_TRUE(eventually([&] { down = iotd.get("/api/v1/health"); return down.status == 503; }, 20s))
      << "health should notice a database outage without any write; last: " << down.body;
  EXPECT_EQ(iotd.get("/api/v1/health/live").status, 200);
  db.start();
  ASSERT_TRUE(eventually([&] { return iotd.get("/api/v1/health").status == 200; }, 30s)) << iotd.log();
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(DbOutage);  // no server installed
INSTANTIATE_TEST_SUITE_P(Backends, DbOutage, ::testing::ValuesIn(server_backends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace iotd::test
