// HTTP ingest (issue 9) through the real binary: POST /api/v1/ingest and /ingest/batch,
// then the REST reads, on SQLite and on PostgreSQL and MariaDB servers. MQTT is off: HTTP
// is the only way in. (Device keys and 503s are covered at unit level, tests/unit/http.)
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>

#include "support/database_server.hpp"
#include "support/iotd_process.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::map<std::string, std::string> kAdmin{{"X-API-Key", kTestAdminKey},
                                                 {"Content-Type", "application/json"}};

class HttpIngest : public ::testing::Test {
 protected:
  TempDir dir;
  std::unique_ptr<IotdProcess> iotd;

  void SetUp() override { start_iotd({}); }

  void start_iotd(std::map<std::string, std::string> env) {
    env["IOTD_HTTP_BODY_LIMIT"] = "64KiB";
    iotd = std::make_unique<IotdProcess>(IotdProcess::Options{dir / "iotd", "", std::move(env)});
  }

  HttpReply post(const std::string& path, const std::string& body) { return iotd->post(path, body, kAdmin); }
  std::int64_t count(const std::string& sql) { return db_count(iotd->database_url(), sql); }

  void ingest_then_read_retry_batch_and_backfill();
};

void HttpIngest::ingest_then_read_retry_batch_and_backfill() {
  // One message: 201 once committed, so it is served at once (no polling).
  const std::string msg =
      R"({"device_id": "http-1", "timestamp": "2026-01-29T14:30:45Z", "msg_id": "a1", "temperature": 24.5, "hum": 41})";
  auto r = post("/api/v1/ingest", msg);
  ASSERT_EQ(r.status, 201) << r.body << iotd->log();
  auto stored = r.json();
  EXPECT_EQ(stored["stored"], true);
  EXPECT_EQ(stored["device_id"], "http-1");
  auto h = iotd->get("/api/v1/readings?device_id=http-1").json();
  ASSERT_EQ(h["count"], 1);
  EXPECT_EQ(h["data"][0]["id"], stored["id"]);
  EXPECT_EQ(h["data"][0]["metrics"], (json{{"humidity", 41}, {"temperature", 24.5}}));
  auto l = iotd->get("/api/v1/readings/latest?device_id=http-1").json();
  EXPECT_EQ(l["metrics"]["temperature"]["value"], 24.5);

  // The client did not see the answer and retries: stored once.
  auto retry = post("/api/v1/ingest", msg);
  ASSERT_EQ(retry.status, 200) << retry.body;
  EXPECT_EQ(retry.json()["duplicate"], true);
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 1);

  // A batch with good and bad items.
  auto b = post("/api/v1/ingest/batch", R"([
      {"device_id": "http-2", "timestamp": 1769697045000, "seq": 1, "temperature": 20},
      {"device_id": "http-2", "timestamp": 1769697046000, "seq": 2, "temperature": 21},
      {"device_id": "http-2", "note": "no metrics"},
      {"device_id": "bad id with spaces", "temperature": 1},
      {"device_id": "http-1", "timestamp": "2026-01-29T14:30:45Z", "msg_id": "a1", "temperature": 24.5, "hum": 41}
    ])");
  ASSERT_EQ(b.status, 200) << b.body;
  auto bj = b.json();
  EXPECT_EQ(bj["accepted"], 2);
  EXPECT_EQ(bj["duplicates"], 1);
  ASSERT_EQ(bj["rejected"].size(), 2u) << bj.dump();
  EXPECT_EQ(bj["rejected"][0]["index"], 2);
  EXPECT_EQ(bj["rejected"][0]["reason"], "no_metrics");
  EXPECT_EQ(bj["rejected"][1]["index"], 3);
  EXPECT_EQ(iotd->get("/api/v1/readings?device_id=http-2").json()["count"], 2);
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 3);
  auto rejects = iotd->get("/api/v1/rejects?reason=no_metrics", {{"X-API-Key", kTestAdminKey}}).json();
  ASSERT_EQ(rejects["count"], 1);
  EXPECT_EQ(rejects["data"][0]["source"], "http");

  // Backfill: a device flushes readings from two days before, out of order.
  auto bf = post("/api/v1/ingest/batch", R"([
      {"device_id": "http-bf", "timestamp": "2026-01-27T10:59:00Z", "temperature": 50},
      {"device_id": "http-bf", "timestamp": "2026-01-27T10:00:10Z", "temperature": 10},
      {"device_id": "http-bf", "timestamp": "2026-01-27T10:00:20Z", "temperature": 30},
      {"device_id": "http-bf", "timestamp": "2026-01-27T11:30:00Z", "temperature": 70}
    ])");
  ASSERT_EQ(bf.status, 200) << bf.body;
  ASSERT_EQ(bf.json()["accepted"], 4);
  auto bh = iotd->get("/api/v1/readings?device_id=http-bf&from=2026-01-27T00:00:00Z&to=2026-01-28T00:00:00Z").json();
  ASSERT_EQ(bh["count"], 4);
  EXPECT_EQ(bh["data"][0]["timestamp"], "2026-01-27T11:30:00.000Z");
  EXPECT_EQ(bh["data"][3]["timestamp"], "2026-01-27T10:00:10.000Z");
  auto bs = iotd->get("/api/v1/stats?device_id=http-bf&metric=temperature").json();
  EXPECT_EQ(bs["metrics"]["temperature"]["count"], 4);
  EXPECT_DOUBLE_EQ(bs["metrics"]["temperature"]["avg"].get<double>(), 40.0);
  auto ranged = iotd->get("/api/v1/stats?device_id=http-bf&from=2026-01-27T10:00:15Z&to=2026-01-27T11:00:00Z").json();
  EXPECT_EQ(ranged["metrics"]["temperature"]["count"], 2) << ranged.dump();
  EXPECT_EQ(ranged["metrics"]["temperature"]["min"], 30);
  auto a = iotd->get("/api/v1/aggregate?device_id=http-bf&metric=temperature&interval=1h"
                     "&from=2026-01-27T10:00:00Z&to=2026-01-27T12:00:00Z").json();
  ASSERT_EQ(a["buckets"].size(), 2u) << a.dump();
  EXPECT_EQ(a["buckets"][0]["metrics"]["temperature"]["count"], 3);
  EXPECT_EQ(a["buckets"][0]["metrics"]["temperature"]["max"], 50);
  EXPECT_EQ(a["buckets"][1]["metrics"]["temperature"]["count"], 1);
  EXPECT_EQ(a["buckets"][1]["metrics"]["temperature"]["min"], 70);
}

TEST_F(HttpIngest, IngestThenReadRetryStoredOnceBatchAndBackfill) {
  ingest_then_read_retry_batch_and_backfill();
}

TEST_F(HttpIngest, BadBodiesAre4xxWithTheJsonErrorAndNothingIsStored) {
  auto not_json = post("/api/v1/ingest", "temperature=21");
  EXPECT_EQ(not_json.status, 400);
  EXPECT_EQ(not_json.json()["error"]["code"], "not_json");
  auto not_array = post("/api/v1/ingest/batch", R"({"device_id": "x", "temperature": 1})");
  EXPECT_EQ(not_array.status, 400);
  EXPECT_EQ(not_array.json()["error"]["code"], "not_an_array");
  auto broken = post("/api/v1/ingest/batch", R"([{"device_id": "x", "temperature": 1})");
  EXPECT_EQ(broken.status, 400);
  EXPECT_EQ(broken.json()["error"]["code"], "not_json");

  // Over IOTD_HTTP_BODY_LIMIT (64 KiB here): 413 before anything is decoded.
  std::string big = "[";
  for (int i = 0; i < 2000; ++i) big += (i ? "," : "") + std::string(R"({"device_id": "x", "temperature": 1})");
  big += "]";
  ASSERT_GT(big.size(), 64u * 1024);
  auto too_big = post("/api/v1/ingest/batch", big);
  EXPECT_EQ(too_big.status, 413);
  EXPECT_EQ(too_big.json()["error"]["code"], "payload_too_large");

  auto no_key = iotd->post("/api/v1/ingest", R"({"device_id": "x", "temperature": 1})");
  EXPECT_EQ(no_key.status, 401);
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 0);
}

// The same on a database server (started for the test).
class HttpIngestOnServer : public HttpIngest, public ::testing::WithParamInterface<std::string> {
 protected:
  std::unique_ptr<DatabaseServer> db;
  void SetUp() override {
    db = std::make_unique<DatabaseServer>(GetParam());
    start_iotd({{"IOTD_DATABASE_URL", db->url()}});
  }
  void TearDown() override { iotd.reset(); }  // before its database server goes
};

TEST_P(HttpIngestOnServer, IngestThenReadRetryStoredOnceBatchAndBackfill) {
  ingest_then_read_retry_batch_and_backfill();
}

// The database goes away: a request is answered 503 with Retry-After once
// IOTD_INGEST_TIMEOUT passes (the writer keeps retrying its batch); the client's retries
// after the server is back end in a 2xx, and the message is stored once however the first
// attempt ended.
TEST_P(HttpIngestOnServer, DatabaseDownIs503RetryAfterAndTheRetryIsStoredOnce) {
  iotd.reset();
  start_iotd({{"IOTD_DATABASE_URL", db->url()}, {"IOTD_INGEST_TIMEOUT", "1s"}});
  ASSERT_EQ(post("/api/v1/ingest", R"({"device_id": "o-1", "timestamp": 1769697000000, "n": 0})").status, 201);
  db->stop();
  const std::string msg = R"({"device_id": "o-1", "timestamp": 1769697045000, "msg_id": "m-7", "n": 7})";
  const auto t0 = std::chrono::steady_clock::now();
  auto r = post("/api/v1/ingest", msg);
  EXPECT_EQ(r.status, 503) << r.body;
  EXPECT_EQ(r.headers["retry-after"], "5");
  EXPECT_EQ(r.json()["error"]["code"], "ingest_timeout");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s) << "answered at IOTD_INGEST_TIMEOUT, not when the database returned";
  db->start();
  HttpReply retry;
  ASSERT_TRUE(eventually([&] {
    retry = post("/api/v1/ingest", msg);
    return retry.status == 201 || retry.status == 200;
  }, 60s)) << retry.status << " " << retry.body << "\n" << iotd->log();
  EXPECT_EQ(post("/api/v1/ingest", msg).status, 200) << "a further retry is a duplicate";
  EXPECT_EQ(count("SELECT COUNT(*) FROM messages"), 2);
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(HttpIngestOnServer);  // no server installed
INSTANTIATE_TEST_SUITE_P(Backends, HttpIngestOnServer, ::testing::ValuesIn(server_backends()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace iotd::test
