// REST handlers against a real, migrated SQLite database in a TempDir: response shapes,
// paging, exports, auth, the seed compatibility routes and database failures. Fixture data
// goes in through the writer's WriteStore; the LatestCache is filled from it as at start.
// No sockets: routes are called through the Router, behind the route guard as the server
// runs them.
#include "iotd/http/api.hpp"
#include "route_call.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <soci/soci.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "iotd/core/reading.hpp"
#include "iotd/http/auth.hpp"
#include "iotd/storage/database.hpp"
#include "support/temp_dir.hpp"

namespace iotd::http {
namespace {

using nlohmann::json;

constexpr std::int64_t kT0 = 1'769'644'800'000;  // 2026-01-29T00:00:00Z
constexpr const char* kDbErrorMessage =
    "the database query failed; try again later (details are in the server log)";

// A reading as the decoder makes it: metrics sorted by name, device time with a dedup key.
Reading reading(std::string dev, std::int64_t ts, std::vector<std::pair<std::string, double>> metrics,
                std::int64_t received_delay = 250) {
  static std::int64_t dedup = 0;
  Reading r;
  r.device_id = std::move(dev);
  r.ts_ms = ts;
  r.received_at_ms = ts + received_delay;
  r.has_device_time = true;
  r.dedup_key = ++dedup;
  r.metrics = std::move(metrics);
  std::sort(r.metrics.begin(), r.metrics.end());
  return r;
}

class ApiTest : public ::testing::Test {
 protected:
  ApiTest()
      : spec_(storage::parse_database_url("sqlite:///" + (dir_ / "iotd.db").string())) {
    storage::migrate(spec_);
    ws_ = storage::make_write_store(spec_);
    repo_ = storage::make_repository(spec_, 2);
  }

  void SetUp() override { build(); }

  void build(std::string admin_key = "s3cret", storage::Repository* repo = nullptr) {
    router_ = Router();
    ApiContext ctx;
    ctx.repo = repo ? repo : repo_.get();
    ctx.latest = &latest_;
    ctx.counters = &counters_;
    ctx.health = [this] { return health_; };
    ctx.version = "1.2.3";
    ctx.rules_changed = [this] { ++rules_changed_; };
    register_api_routes(router_, ctx);
    guard_ = make_route_guard(std::move(admin_key));
  }

  Response call(const std::string& method, const std::string& target, std::string body = {},
                std::map<std::string, std::string> headers = {}) {
    auto answers = std::make_shared<std::atomic<int>>(0);
    auto r = test::route_call(router_, guard_, method, target, std::move(body), std::move(headers), answers);
    if (answers->load() > 0) {  // the router and the guard answer without the handler
      EXPECT_EQ(answers->load(), 1) << target;
    }
    return r;
  }

  Exec exec_of(const std::string& method, const std::string& path) {
    auto m = router_.match(method, path);
    EXPECT_NE(m.route, nullptr) << path;
    return m.route ? m.route->exec : Exec::io;
  }

  // The body followed by every streamed chunk, one element per stream call.
  static std::vector<std::string> drain_chunks(Response& r) {
    std::vector<std::string> out{r.body};
    if (!r.stream) return out;
    for (int i = 0; i < 100000; ++i) {
      std::string chunk;
      bool more = r.stream(chunk);
      out.push_back(std::move(chunk));
      if (!more) return out;
    }
    ADD_FAILURE() << "stream never ended";
    return out;
  }

  static std::string drain(Response& r) {
    std::string all;
    for (const auto& c : drain_chunks(r)) all += c;
    return all;
  }

  static json body(const Response& r) {
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
    return j;
  }

  // A plain session on the test database: "another process".
  std::unique_ptr<soci::session> raw() const {
    return std::make_unique<soci::session>(spec_.backend, spec_.connect_string);
  }

  // One committed writer batch; the cache is then reloaded from the database, as at start.
  std::vector<std::int64_t> store(const std::vector<Reading>& rs) {
    std::vector<std::optional<std::int64_t>> ids;
    ws_->begin();
    try {
      ids = ws_->insert_messages(rs);
      ws_->commit();
    } catch (...) {
      ws_->rollback();
      throw;
    }
    std::vector<std::int64_t> out;
    for (const auto& id : ids) {
      EXPECT_TRUE(id.has_value()) << "unexpected content duplicate";
      out.push_back(id.value_or(0));
    }
    latest_.load(ws_->load_latest());
    return out;
  }

  // Five messages from two devices, one second apart; row(n) is the id of the n-th (1-based).
  void add_rows() {
    ids_ = store({
        reading("esp-1", kT0 + 1000, {{"temperature", 21.5}, {"humidity", 40}}),
        reading("esp-2", kT0 + 2000, {{"temperature", 19.25}}),
        reading("esp-1", kT0 + 3000, {{"temperature", 22}, {"gas", 450.5}}),
        reading("esp-1", kT0 + 4000, {{"humidity", 41.5}}),
        reading("esp-2", kT0 + 5000, {{"temperature", 0.1}, {"gas", 300}}),
    });
    ASSERT_EQ(ids_.size(), 5u);
  }
  std::int64_t row(int n) const { return ids_.at(static_cast<std::size_t>(n - 1)); }

  static storage::Alert sample_alert(std::string dev, bool ack) {
    storage::Alert a;
    a.device_id = std::move(dev);
    a.metric = "temperature";
    a.message = "temperature 55 above 50";
    a.threshold_min = 0;
    a.threshold_max = 50;
    a.first_value = 55;
    a.last_value = 56;
    a.peak_value = 57.5;
    a.count = 3;
    a.raised_ts_ms = kT0;
    a.raised_received_at_ms = kT0 + 10;
    a.updated_ts_ms = kT0 + 5000;
    a.acknowledged = ack;
    return a;
  }

  // Inserts the alerts in one writer batch and sets their ids.
  void insert_alerts(std::vector<storage::Alert>& as) {
    ws_->begin();
    for (auto& a : as) a.id = ws_->insert_alert(a);
    ws_->commit();
  }

  static void expect_v1_db_error(const Response& r, const std::string& what) {
    EXPECT_EQ(r.status, 503) << what << ": " << r.body;
    auto j = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(j.is_object()) << what << ": " << r.body;
    EXPECT_EQ(j, (json{{"error", {{"code", "database_unavailable"}, {"message", kDbErrorMessage}}}}))
        << what;
  }

  iotd::test::TempDir dir_;
  storage::ConnectionSpec spec_;
  std::unique_ptr<storage::WriteStore> ws_;
  std::unique_ptr<storage::Repository> repo_;
  std::vector<std::int64_t> ids_;
  storage::LatestCache latest_;
  Counters counters_;
  HealthSnapshot health_;
  Router router_;
  RouteGuard guard_;
  int rules_changed_ = 0;
};

// ---- routing ------------------------------------------------------------------------------

TEST_F(ApiTest, DatabaseRoutesRunOnTheBlockingPoolAndMemoryRoutesOnIo) {
  EXPECT_EQ(exec_of("GET", "/api/v1/health"), Exec::io);
  EXPECT_EQ(exec_of("GET", "/api/v1/health/live"), Exec::io);
  EXPECT_EQ(exec_of("GET", "/api/v1/readings/latest"), Exec::io);
  for (const char* p : {"/api/v1/readings", "/api/v1/stats", "/api/v1/aggregate", "/api/v1/export",
                        "/api/v1/alerts", "/api/v1/rules", "/api/v1/rejects",
                        "/api/v1/devices/x/history", "/api/v1/devices/x/aggregate",
                        "/api/sensors/latest", "/api/sensors/history", "/api/sensors/stats",
                        "/api/sensors/ml-data", "/sensors/history", "/alerts", "/stats",
                        "/api/devices/x/metrics", "/api/devices/x/alerts", "/api/stats"})
    EXPECT_EQ(exec_of("GET", p), Exec::blocking) << p;
  EXPECT_EQ(exec_of("POST", "/api/v1/alerts/1/ack"), Exec::blocking);
  EXPECT_EQ(exec_of("POST", "/api/alerts/1/acknowledge"), Exec::blocking);
}

// ---- health -------------------------------------------------------------------------------

TEST_F(ApiTest, HealthOk) {
  health_.database_backend = "sqlite";
  health_.mqtt_connected = true;
  health_.mqtt_url = "tcp://127.0.0.1:1883";
  health_.uptime_ms = 12'345;
  counters_.messages_stored = 7;
  counters_.add_reject("not_json", 2);
  auto r = call("GET", "/api/v1/health");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["reasons"], json::array());
  EXPECT_EQ(j["database"]["ok"], true);
  EXPECT_EQ(j["database"]["backend"], "sqlite");
  EXPECT_EQ(j["mqtt"]["enabled"], true);
  EXPECT_EQ(j["mqtt"]["connected"], true);
  EXPECT_EQ(j["mqtt"]["url"], "tcp://127.0.0.1:1883");
  EXPECT_EQ(j["journal"]["backlog"], 0);
  EXPECT_EQ(j["ingest"]["paused"], false);
  EXPECT_TRUE(j["ingest"]["reason"].is_null());
  EXPECT_EQ(j["uptime_s"], 12);
  EXPECT_EQ(j["version"], "1.2.3");
  EXPECT_EQ(j["counters"]["messages_stored"], 7);
  EXPECT_EQ(j["counters"]["rejects"]["not_json"], 2);
  EXPECT_EQ(j["counters"]["rejects_total"], 2);
}

TEST_F(ApiTest, HealthDegradedIsStill200) {
  health_.mqtt_connected = false;
  auto r = call("GET", "/api/v1/health");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["status"], "degraded");
  EXPECT_EQ(j["reasons"][0], "mqtt disconnected");
}

TEST_F(ApiTest, HealthUnavailableWhenTheDatabaseIsDownOrIngestPaused) {
  health_.database_ok = false;
  health_.database_error = "connection refused";
  auto r = call("GET", "/api/v1/health");
  EXPECT_EQ(r.status, 503);
  auto j = body(r);
  EXPECT_EQ(j["status"], "unavailable");
  EXPECT_EQ(j["database"]["error"], "connection refused");
  EXPECT_EQ(j["reasons"][0], "database unreachable: connection refused");

  health_ = {};
  health_.ingest_paused = true;
  health_.ingest_pause_reason = "journal at its bound (1 GiB)";
  auto p = call("GET", "/api/v1/health");
  EXPECT_EQ(p.status, 503);
  EXPECT_EQ(body(p)["ingest"]["reason"], "journal at its bound (1 GiB)");
}

TEST_F(ApiTest, LivenessAlwaysAlive) {
  health_.database_ok = false;
  auto r = call("GET", "/api/v1/health/live");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body, R"({"status":"alive"})");
}

// ---- latest ---------------------------------------------------------------------------

TEST_F(ApiTest, LatestListsEveryDevice) {
  // Three commits, as the writer makes them; the last humidity-free message leaves the
  // older humidity value in place.
  std::vector<Reading> rs{reading("b-dev", kT0, {{"temperature", 21.5}}, 100),
                          reading("a-dev", kT0 + 1000, {{"humidity", 0.1}, {"temperature", 1e21}}, 100),
                          reading("a-dev", kT0 + 2000, {{"temperature", -3.25}}, 100)};
  for (const auto& r : rs) store({r});
  auto r = call("GET", "/api/v1/readings/latest");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["data"][0]["device_id"], "a-dev");
  EXPECT_EQ(j["data"][0]["last_seen_at"], "2026-01-29T00:00:02.100Z");
  EXPECT_EQ(j["data"][0]["metrics"]["temperature"]["value"], -3.25);
  EXPECT_EQ(j["data"][0]["metrics"]["temperature"]["timestamp"], "2026-01-29T00:00:02.000Z");
  EXPECT_EQ(j["data"][0]["metrics"]["humidity"]["value"], 0.1);
  EXPECT_EQ(j["data"][0]["metrics"]["humidity"]["timestamp"], "2026-01-29T00:00:01.000Z");
  EXPECT_EQ(j["data"][1]["device_id"], "b-dev");
  EXPECT_EQ(j["data"][1]["metrics"]["temperature"]["value"], 21.5);
  // Shortest round-trip formatting, straight into the body.
  EXPECT_NE(r.body.find("\"value\":0.1,"), std::string::npos) << r.body;

  // The writer's path (apply after each commit) gives the same answer as the start-up load.
  latest_.load({});
  for (const auto& x : rs) latest_.apply(x);
  EXPECT_EQ(call("GET", "/api/v1/readings/latest").body, r.body);
}

TEST_F(ApiTest, LatestForOneDevice) {
  store({reading("esp-1", kT0, {{"temperature", 22.5}}, 100)});
  auto r = call("GET", "/api/v1/readings/latest?device_id=esp-1");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.body,
            R"({"device_id":"esp-1","last_seen_at":"2026-01-29T00:00:00.100Z","metrics":{"temperature":{"value":22.5,"timestamp":"2026-01-29T00:00:00.000Z"}}})");
  auto missing = call("GET", "/api/v1/readings/latest?device_id=nope");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing)["error"]["code"], "not_found");
  auto bad = call("GET", "/api/v1/readings/latest?device_id=a%20b");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(body(bad)["error"]["code"], "invalid_parameter");
}

TEST_F(ApiTest, LatestEmpty) {
  latest_.load(ws_->load_latest());  // a fresh database has no devices
  auto r = call("GET", "/api/v1/readings/latest");
  EXPECT_EQ(r.body, R"({"count":0,"data":[]})");
}

// ---- readings -----------------------------------------------------------------------------

TEST_F(ApiTest, ReadingsNewestFirstWithKeysetPaging) {
  add_rows();
  auto r = call("GET", "/api/v1/readings?limit=2");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["limit"], 2);
  EXPECT_EQ(j["offset"], 0);
  EXPECT_EQ(j["data"][0]["id"], row(5));
  EXPECT_EQ(j["data"][0]["device_id"], "esp-2");
  EXPECT_EQ(j["data"][0]["timestamp"], "2026-01-29T00:00:05.000Z");
  EXPECT_EQ(j["data"][0]["received_at"], "2026-01-29T00:00:05.250Z");
  EXPECT_EQ(j["data"][0]["metrics"], (json{{"gas", 300}, {"temperature", 0.1}}));
  EXPECT_EQ(j["data"][1]["id"], row(4));
  ASSERT_TRUE(j["next"].is_string());

  std::vector<std::int64_t> ids;
  std::string next = j["next"];
  for (int page = 0; page < 5 && !next.empty(); ++page) {
    auto p = body(call("GET", "/api/v1/readings?limit=2&before=" + next));
    EXPECT_EQ(p["offset"], 0);
    for (const auto& d : p["data"]) ids.push_back(d["id"]);
    next = p["next"].is_null() ? "" : p["next"].get<std::string>();
  }
  EXPECT_EQ(ids, (std::vector<std::int64_t>{row(3), row(2), row(1)}));
  EXPECT_TRUE(next.empty()) << "next is null on the last page";
}

TEST_F(ApiTest, ReadingsFiltersReachTheRepository) {
  add_rows();
  auto ids_of = [](const json& j) {
    std::vector<std::int64_t> v;
    for (const auto& d : j["data"]) v.push_back(d["id"]);
    return v;
  };
  auto r = call("GET", "/api/v1/readings?device_id=esp-1&metric=temperature&from=2026-01-29T00:00:00Z&to=2026-01-29T01:00:00Z&offset=1");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["offset"], 1);
  ASSERT_EQ(j["count"], 1);
  EXPECT_EQ(j["data"][0]["id"], row(1));
  EXPECT_EQ(j["data"][0]["metrics"], (json{{"temperature", 21.5}}));
  EXPECT_TRUE(j["next"].is_null());

  // Each filter on its own: device, metric (carriers only, shown alone), [from, to).
  EXPECT_EQ(ids_of(body(call("GET", "/api/v1/readings?device_id=esp-2"))),
            (std::vector<std::int64_t>{row(5), row(2)}));
  auto gas = body(call("GET", "/api/v1/readings?metric=gas"));
  EXPECT_EQ(ids_of(gas), (std::vector<std::int64_t>{row(5), row(3)}));
  EXPECT_EQ(gas["data"][1]["metrics"], (json{{"gas", 450.5}}));
  EXPECT_EQ(ids_of(body(call("GET", "/api/v1/readings?from=2026-01-29T00:00:02Z&to=2026-01-29T00:00:04Z"))),
            (std::vector<std::int64_t>{row(3), row(2)}));
  EXPECT_EQ(ids_of(body(call("GET", "/api/v1/readings?offset=3"))),
            (std::vector<std::int64_t>{row(2), row(1)}));
  EXPECT_EQ(body(call("GET", "/api/v1/readings?device_id=ghost"))["count"], 0);
}

TEST_F(ApiTest, ReadingsValidationErrorsAre400) {
  // Validation comes before any query: with the messages table gone these still say 400.
  raw()->once << "DROP TABLE messages";
  auto r = call("GET", "/api/v1/readings?limit=0");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["code"], "invalid_parameter");
  EXPECT_EQ(body(r)["error"]["message"], "limit must be an integer from 1 to 10000");
  EXPECT_EQ(call("GET", "/api/v1/readings?offset=1&before=1_1").status, 400);
  expect_v1_db_error(call("GET", "/api/v1/readings?limit=1"), "valid request");
}

TEST_F(ApiTest, DeviceHistoryTakesTheDeviceFromThePath) {
  add_rows();
  auto j = body(call("GET", "/api/v1/devices/esp-2/history"));
  EXPECT_EQ(j["count"], 2);
  for (const auto& d : j["data"]) EXPECT_EQ(d["device_id"], "esp-2");
  EXPECT_EQ(j["data"][0]["id"], row(5));
  EXPECT_EQ(j["data"][1]["id"], row(2));
}

TEST_F(ApiTest, DatabaseFailureIs503) {
  add_rows();
  ASSERT_EQ(call("GET", "/api/v1/readings").status, 200);
  // The table vanishes under the running repository (its pooled sessions are open).
  raw()->once << "DROP TABLE messages";
  expect_v1_db_error(call("GET", "/api/v1/readings"), "/api/v1/readings");
  auto compat = call("GET", "/api/sensors/history");
  EXPECT_EQ(compat.status, 503);
  EXPECT_EQ(body(compat), (json{{"error", kDbErrorMessage}}));
  auto seed000 = call("GET", "/sensors/history");
  EXPECT_EQ(seed000.status, 503);
  EXPECT_EQ(body(seed000), (json{{"detail", kDbErrorMessage}}));
  // Routes that need only other tables still work.
  EXPECT_EQ(call("GET", "/api/v1/rules").status, 200);
}

TEST_F(ApiTest, UnmigratedDatabaseIs503OnEveryDatabaseRoute) {
  auto bare = storage::parse_database_url("sqlite:///" + (dir_ / "never-migrated.db").string());
  auto broken = storage::make_repository(bare, 1);
  build("s3cret", broken.get());
  const std::map<std::string, std::string> key{{"x-api-key", "s3cret"}};
  for (const char* p : {"/api/v1/readings", "/api/v1/stats", "/api/v1/aggregate", "/api/v1/export",
                        "/api/v1/export?format=csv", "/api/v1/alerts", "/api/v1/alerts/1",
                        "/api/v1/rules", "/api/v1/rejects", "/api/v1/devices/x/history",
                        "/api/v1/devices/x/aggregate"})
    expect_v1_db_error(call("GET", p, "", key), p);
  expect_v1_db_error(call("POST", "/api/v1/alerts/1/ack", "", key), "ack");
  for (const char* p : {"/api/sensors/latest", "/api/sensors/history", "/api/sensors/stats",
                        "/api/sensors/ml-data", "/api/devices/x/metrics", "/api/devices/x/alerts",
                        "/api/stats"}) {
    auto r = call("GET", p);
    EXPECT_EQ(r.status, 503) << p;
    EXPECT_EQ(body(r), (json{{"error", kDbErrorMessage}})) << p;
  }
  auto ack = call("POST", "/api/alerts/1/acknowledge", "", key);
  EXPECT_EQ(ack.status, 503);
  EXPECT_EQ(body(ack), (json{{"error", kDbErrorMessage}}));
  for (const char* p : {"/sensors/history", "/alerts", "/stats"}) {
    auto r = call("GET", p);
    EXPECT_EQ(r.status, 503) << p;
    EXPECT_EQ(body(r), (json{{"detail", kDbErrorMessage}})) << p;
  }
  // An ndjson export needs nothing before its first chunk: the failure surfaces in the
  // stream, which aborts the connection (router.hpp).
  auto nd = call("GET", "/api/v1/export?format=ndjson");
  EXPECT_EQ(nd.status, 200);
  ASSERT_TRUE(nd.stream);
  std::string chunk;
  EXPECT_ANY_THROW(nd.stream(chunk));
}

// ---- stats, aggregate -------------------------------------------------------------------

TEST_F(ApiTest, StatsShape) {
  add_rows();
  store({reading("esp-1", kT0 - 60'000, {{"temperature", 100}})});  // before `from`
  auto r = call("GET", "/api/v1/stats?device_id=esp-1&from=2026-01-29");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["device_id"], "esp-1");
  EXPECT_EQ(j["from"], "2026-01-29T00:00:00.000Z");
  EXPECT_TRUE(j["to"].is_null());
  EXPECT_EQ(j["metrics"], (json{{"temperature", {{"count", 2}, {"min", 21.5}, {"max", 22.0}, {"avg", 21.75}}},
                                {"humidity", {{"count", 2}, {"min", 40}, {"max", 41.5}, {"avg", 40.75}}},
                                {"gas", {{"count", 1}, {"min", 450.5}, {"max", 450.5}, {"avg", 450.5}}}}));

  // Without a range the earlier message counts too.
  auto all = body(call("GET", "/api/v1/stats?device_id=esp-1&metric=temperature"));
  ASSERT_EQ(all["metrics"].size(), 1u);
  EXPECT_EQ(all["metrics"]["temperature"]["count"], 3);
  EXPECT_EQ(all["metrics"]["temperature"]["min"], 21.5);
  EXPECT_EQ(all["metrics"]["temperature"]["max"], 100);
  EXPECT_DOUBLE_EQ(all["metrics"]["temperature"]["avg"].get<double>(), (21.5 + 22 + 100) / 3);
  // A range inside one minute comes from the raw messages: [00:00:02, 00:00:04).
  auto part = body(call("GET", "/api/v1/stats?from=2026-01-29T00:00:02Z&to=2026-01-29T00:00:04Z"));
  EXPECT_EQ(part["to"], "2026-01-29T00:00:04.000Z");
  EXPECT_EQ(part["metrics"], (json{{"temperature", {{"count", 2}, {"min", 19.25}, {"max", 22}, {"avg", 20.625}}},
                                   {"gas", {{"count", 1}, {"min", 450.5}, {"max", 450.5}, {"avg", 450.5}}}}));
  EXPECT_EQ(body(call("GET", "/api/v1/stats?device_id=ghost"))["metrics"], json::object());
  // Note: a zero-count Stat (rendered with null min/max/avg) never comes out of the
  // repository, so that branch of the handler is not reachable from here.
}

TEST_F(ApiTest, AggregateShape) {
  add_rows();
  store({reading("esp-1", kT0 + 7 * 60'000, {{"temperature", 30}})});
  auto r = call("GET", "/api/v1/aggregate?from=2026-01-29T00:00:00Z&to=2026-01-29T02:00:00Z&interval=5m");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["interval"], "5m");
  EXPECT_EQ(j["from"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(j["to"], "2026-01-29T02:00:00.000Z");
  EXPECT_TRUE(j["device_id"].is_null());
  ASSERT_EQ(j["buckets"].size(), 2u);
  EXPECT_EQ(j["buckets"][0]["start"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(j["buckets"][0]["metrics"]["temperature"]["count"], 4);
  EXPECT_EQ(j["buckets"][0]["metrics"]["temperature"]["min"], 0.1);
  EXPECT_EQ(j["buckets"][0]["metrics"]["temperature"]["max"], 22);
  EXPECT_DOUBLE_EQ(j["buckets"][0]["metrics"]["temperature"]["avg"].get<double>(), (21.5 + 19.25 + 22 + 0.1) / 4);
  EXPECT_EQ(j["buckets"][0]["metrics"]["gas"], (json{{"count", 2}, {"min", 300}, {"max", 450.5}, {"avg", 375.25}}));
  EXPECT_EQ(j["buckets"][1]["start"], "2026-01-29T00:05:00.000Z");
  EXPECT_EQ(j["buckets"][1]["metrics"], (json{{"temperature", {{"count", 1}, {"min", 30}, {"max", 30}, {"avg", 30}}}}));

  EXPECT_EQ(call("GET", "/api/v1/aggregate?interval=2s").status, 400);
  auto dev = body(call("GET", "/api/v1/devices/esp-1/aggregate?from=2026-01-29T00:00:00Z&to=2026-01-29T00:05:00Z&interval=5m"));
  EXPECT_EQ(dev["device_id"], "esp-1");
  ASSERT_EQ(dev["buckets"].size(), 1u);
  EXPECT_EQ(dev["buckets"][0]["metrics"]["temperature"], (json{{"count", 2}, {"min", 21.5}, {"max", 22}, {"avg", 21.75}}));
  EXPECT_EQ(body(call("GET", "/api/v1/devices/esp-1/aggregate"))["device_id"], "esp-1");
}

// ---- export ------------------------------------------------------------------------------

TEST_F(ApiTest, ExportColumnarIsOldestFirstWithNullGaps) {
  add_rows();
  auto r = call("GET", "/api/v1/export?device_id=esp-1");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["sample_count"], 3);
  EXPECT_EQ(j["truncated"], false);
  const auto& c = j["columns"];
  EXPECT_EQ(c["timestamp"], (json{"2026-01-29T00:00:01.000Z", "2026-01-29T00:00:03.000Z", "2026-01-29T00:00:04.000Z"}));
  EXPECT_EQ(c["device_id"], (json{"esp-1", "esp-1", "esp-1"}));
  EXPECT_EQ(c["temperature"], (json{21.5, 22, nullptr}));
  EXPECT_EQ(c["humidity"], (json{40, nullptr, 41.5}));
  EXPECT_EQ(c["gas"], (json{nullptr, 450.5, nullptr}));
  EXPECT_EQ(c.size(), 5u);
}

TEST_F(ApiTest, ExportColumnarLimitKeepsTheNewestWithoutFromAndTheOldestWithFrom) {
  add_rows();
  auto newest = body(call("GET", "/api/v1/export?limit=2"));
  EXPECT_EQ(newest["sample_count"], 2);
  EXPECT_EQ(newest["truncated"], true);
  EXPECT_EQ(newest["columns"]["timestamp"], (json{"2026-01-29T00:00:04.000Z", "2026-01-29T00:00:05.000Z"}));
  auto from = body(call("GET", "/api/v1/export?limit=2&from=2026-01-29"));
  EXPECT_EQ(from["truncated"], true);
  EXPECT_EQ(from["columns"]["timestamp"], (json{"2026-01-29T00:00:01.000Z", "2026-01-29T00:00:02.000Z"}));
  auto all = body(call("GET", "/api/v1/export?limit=5"));
  EXPECT_EQ(all["sample_count"], 5);
  EXPECT_EQ(all["truncated"], false);
}

TEST_F(ApiTest, ExportCsvStreamsWithAHeaderFromTheRollups) {
  add_rows();
  auto r = call("GET", "/api/v1/export?format=csv");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/csv; charset=utf-8");
  ASSERT_TRUE(r.stream);
  auto text = drain(r);
  EXPECT_EQ(text,
            "timestamp,device_id,gas,humidity,temperature\n"
            "2026-01-29T00:00:01.000Z,esp-1,,40,21.5\n"
            "2026-01-29T00:00:02.000Z,esp-2,,,19.25\n"
            "2026-01-29T00:00:03.000Z,esp-1,450.5,,22\n"
            "2026-01-29T00:00:04.000Z,esp-1,,41.5,\n"
            "2026-01-29T00:00:05.000Z,esp-2,300,,0.1\n");
  // The header's columns are those of the range: esp-2 never sent humidity.
  auto dev = call("GET", "/api/v1/export?format=csv&device_id=esp-2");
  EXPECT_EQ(drain(dev),
            "timestamp,device_id,gas,temperature\n"
            "2026-01-29T00:00:02.000Z,esp-2,,19.25\n"
            "2026-01-29T00:00:05.000Z,esp-2,300,0.1\n");
}

TEST_F(ApiTest, ExportCsvWithAMetricFilterNeedsNoRollups) {
  add_rows();
  raw()->once << "DROP TABLE rollup_1m";
  auto r = call("GET", "/api/v1/export?format=csv&metric=gas&limit=1");
  EXPECT_EQ(r.status, 200);
  auto text = drain(r);
  EXPECT_EQ(text, "timestamp,device_id,gas\n2026-01-29T00:00:03.000Z,esp-1,450.5\n");
  // Without the filter the header needs the rollups, which are gone.
  expect_v1_db_error(call("GET", "/api/v1/export?format=csv"), "csv without metric");
}

TEST_F(ApiTest, ExportNdjsonPagesThroughLargeRanges) {
  std::vector<Reading> rs;
  for (int i = 1; i <= 12'001; ++i) rs.push_back(reading("d", kT0 + i * 1000, {{"v", double(i)}}));
  auto ids = store(rs);
  auto r = call("GET", "/api/v1/export?format=ndjson");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "application/x-ndjson");
  auto chunks = drain_chunks(r);
  // One repository page per chunk, each a short read of at most 5000 rows.
  std::size_t pages = 0;
  std::string text;
  for (const auto& c : chunks) {
    auto n = std::count(c.begin(), c.end(), '\n');
    EXPECT_LE(n, 5000);
    if (n > 0) ++pages;
    text += c;
  }
  EXPECT_GE(pages, 3u) << "short read transactions, one per page";
  std::size_t lines = 0, pos = 0;
  while ((pos = text.find('\n')) != std::string::npos) {
    auto j = json::parse(text.substr(0, pos));
    if (lines < ids.size()) {
      EXPECT_EQ(j["id"].get<std::int64_t>(), ids[lines]);
      EXPECT_EQ(j["metrics"]["v"], lines + 1);
    }
    text.erase(0, pos + 1);
    ++lines;
  }
  EXPECT_EQ(lines, 12'001u);
}

TEST_F(ApiTest, ExportStreamLimitCapsRows) {
  add_rows();
  auto r = call("GET", "/api/v1/export?format=ndjson&limit=3");
  auto text = drain(r);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
  EXPECT_EQ(json::parse(text.substr(0, text.find('\n')))["id"], row(1)) << "oldest first";
}

TEST_F(ApiTest, ExportValidation) {
  EXPECT_EQ(call("GET", "/api/v1/export?format=xml").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/export?limit=100001").status, 400);
}

// ---- alerts, rules, rejects ----------------------------------------------------------

TEST_F(ApiTest, AlertsListShape) {
  std::vector<storage::Alert> as{sample_alert("esp-1", false), sample_alert("esp-1", false),
                                 sample_alert("esp-2", true)};
  as[1].state = "cleared";
  as[1].cleared_ts_ms = kT0 + 6000;
  insert_alerts(as);
  auto r = call("GET", "/api/v1/alerts?state=active&acknowledged=false");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  ASSERT_EQ(j["count"], 1);
  EXPECT_EQ(j["limit"], 100);
  EXPECT_EQ(j["offset"], 0);
  const auto& a = j["data"][0];
  for (const char* key : {"id", "device_id", "metric", "kind", "severity", "state", "message",
                          "threshold_min", "threshold_max", "first_value", "last_value",
                          "peak_value", "count", "raised_at", "received_at", "updated_at",
                          "cleared_at", "acknowledged", "acknowledged_at", "acknowledged_by"})
    EXPECT_TRUE(a.contains(key)) << key;
  EXPECT_EQ(a["id"], as[0].id);
  EXPECT_EQ(a["device_id"], "esp-1");
  EXPECT_EQ(a["kind"], "threshold");
  EXPECT_EQ(a["state"], "active");
  EXPECT_EQ(a["message"], "temperature 55 above 50");
  EXPECT_EQ(a["threshold_min"], 0);
  EXPECT_EQ(a["threshold_max"], 50);
  EXPECT_EQ(a["count"], 3);
  EXPECT_EQ(a["raised_at"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(a["received_at"], "2026-01-29T00:00:00.010Z");
  EXPECT_EQ(a["updated_at"], "2026-01-29T00:00:05.000Z");
  EXPECT_TRUE(a["cleared_at"].is_null());
  EXPECT_EQ(a["acknowledged"], false);
  EXPECT_TRUE(a["acknowledged_at"].is_null());
  EXPECT_TRUE(a["acknowledged_by"].is_null());
  EXPECT_EQ(a["peak_value"], 57.5);
  EXPECT_FALSE(a.contains("alert_type"));

  // The filters reach the database one by one.
  EXPECT_EQ(body(call("GET", "/api/v1/alerts"))["count"], 3);
  auto cleared = body(call("GET", "/api/v1/alerts?state=cleared"));
  ASSERT_EQ(cleared["count"], 1);
  EXPECT_EQ(cleared["data"][0]["id"], as[1].id);
  EXPECT_EQ(cleared["data"][0]["cleared_at"], "2026-01-29T00:00:06.000Z");
  auto acked = body(call("GET", "/api/v1/alerts?acknowledged=true"));
  ASSERT_EQ(acked["count"], 1);
  EXPECT_EQ(acked["data"][0]["id"], as[2].id);
  EXPECT_EQ(body(call("GET", "/api/v1/alerts?device_id=esp-1"))["count"], 2);
}

// ---- rules and manual alerts: the write side -----------------------------------------

const std::map<std::string, std::string> kAdmin{{"x-api-key", "s3cret"}};

TEST_F(ApiTest, PutRuleCreatesThenReplacesPerScopeAndTellsTheWriter) {
  auto created = call("PUT", "/api/v1/rules/temperature?device_id=esp-1",
                      R"({"max": 30, "hysteresis": 1.5, "severity": "critical"})", kAdmin);
  EXPECT_EQ(created.status, 201) << created.body;
  EXPECT_EQ(body(created), (json{{"metric", "temperature"}, {"scope", "device"},
                                 {"scope_value", "esp-1"}, {"min", nullptr}, {"max", 30},
                                 {"severity", "critical"}, {"hysteresis", 1.5}}));
  EXPECT_EQ(rules_changed_, 1);
  auto replaced = call("PUT", "/api/v1/rules/temperature?device_id=esp-1",
                       R"({"min": -5, "max": 35})", kAdmin);
  EXPECT_EQ(replaced.status, 200) << replaced.body;
  EXPECT_EQ(body(replaced)["severity"], "warning");
  EXPECT_EQ(rules_changed_, 2);
  auto type = call("PUT", "/api/v1/rules/humidity?device_type=greenhouse", R"({"min": 20})", kAdmin);
  EXPECT_EQ(type.status, 201) << type.body;
  // The global seed default is replaced in place, not duplicated.
  auto global = call("PUT", "/api/v1/rules/temperature", R"({"min": 1, "max": 45})", kAdmin);
  EXPECT_EQ(global.status, 200) << global.body;
  EXPECT_TRUE(body(global)["scope_value"].is_null());

  // Stored: GET /rules shows every scope.
  auto list = body(call("GET", "/api/v1/rules"))["data"];
  ASSERT_EQ(list.size(), 7u);  // 5 seed defaults + device + type
  std::map<std::string, json> by_key;
  for (const auto& r : list)
    by_key[r["metric"].get<std::string>() + "/" + r["scope"].get<std::string>()] = r;
  EXPECT_EQ(by_key["temperature/device"]["min"], -5);
  EXPECT_EQ(by_key["temperature/device"]["max"], 35);
  EXPECT_EQ(by_key["temperature/device"]["hysteresis"], 0);
  EXPECT_EQ(by_key["temperature/global"]["min"], 1);
  EXPECT_EQ(by_key["temperature/global"]["max"], 45);
  EXPECT_EQ(by_key["humidity/type"]["scope_value"], "greenhouse");
  EXPECT_TRUE(by_key["humidity/type"]["max"].is_null());
}

TEST_F(ApiTest, PutRuleValidationNamesTheField) {
  struct Case {
    std::string target, body, field;
  };
  const std::vector<Case> cases{
      {"/api/v1/rules/temperature?device_id=a&device_type=b", R"({"max": 1})", "device_id"},
      {"/api/v1/rules/temp%20x", R"({"max": 1})", "metric"},
      {"/api/v1/rules/temperature?device_id=bad%20id", R"({"max": 1})", "device_id"},
      {"/api/v1/rules/temperature?device_type=", R"({"max": 1})", "device_type"},
      {"/api/v1/rules/temperature", R"({"severity": "warning"})", "min or max"},
      {"/api/v1/rules/temperature", R"({"min": 10, "max": 10})", "min"},
      {"/api/v1/rules/temperature", R"({"min": "1", "max": 10})", "min"},
      {"/api/v1/rules/temperature", R"({"max": 1e999})", "max"},
      {"/api/v1/rules/temperature", R"({"max": true})", "max"},
      {"/api/v1/rules/temperature", R"({"min": 0, "max": 10, "hysteresis": -1})", "hysteresis"},
      {"/api/v1/rules/temperature", R"({"min": 0, "max": 10, "hysteresis": 10})", "hysteresis"},
      {"/api/v1/rules/temperature", R"({"max": 10, "severity": "fatal"})", "severity"},
      {"/api/v1/rules/temperature", R"({"max": 10, "severity": 3})", "severity"},
      {"/api/v1/rules/temperature", R"({"maximum": 10})", "maximum"},
      {"/api/v1/rules/temperature", R"([1])", "body"},
      {"/api/v1/rules/temperature", "not json", "body"},
  };
  for (const auto& c : cases) {
    auto r = call("PUT", c.target, c.body, kAdmin);
    EXPECT_EQ(r.status, 400) << c.target << " " << c.body << ": " << r.body;
    auto j = body(r);
    EXPECT_EQ(j["error"]["code"], "invalid_parameter") << c.body;
    EXPECT_NE(j["error"]["message"].get<std::string>().find(c.field), std::string::npos)
        << c.body << ": " << r.body;
  }
  EXPECT_EQ(rules_changed_, 0);
  EXPECT_EQ(repo_->rules().size(), 5u);  // nothing stored
}

TEST_F(ApiTest, RuleWritesNeedTheAdminKey) {
  EXPECT_EQ(call("PUT", "/api/v1/rules/temperature", R"({"max": 1})").status, 401);
  EXPECT_EQ(call("DELETE", "/api/v1/rules/temperature", "", {{"x-api-key", "nope"}}).status, 403);
  EXPECT_EQ(call("POST", "/api/v1/alerts",
                 R"({"device_id": "d", "severity": "info", "message": "m"})")
                .status,
            401);
  EXPECT_EQ(rules_changed_, 0);
  EXPECT_EQ(repo_->rules().size(), 5u);
  EXPECT_TRUE(repo_->alerts(storage::AlertQuery{}).empty());
}

TEST_F(ApiTest, DeleteRuleIs204ThenNotFound) {
  ASSERT_EQ(call("PUT", "/api/v1/rules/gas?device_type=kitchen", R"({"max": 800})", kAdmin).status,
            201);
  ASSERT_EQ(rules_changed_, 1);
  // Another scope of the same metric is a different rule.
  auto wrong_scope = call("DELETE", "/api/v1/rules/gas", "", kAdmin);
  EXPECT_EQ(wrong_scope.status, 404) << wrong_scope.body;
  EXPECT_EQ(body(wrong_scope)["error"]["code"], "not_found");
  auto gone = call("DELETE", "/api/v1/rules/gas?device_type=kitchen", "", kAdmin);
  EXPECT_EQ(gone.status, 204);
  EXPECT_TRUE(gone.body.empty());
  EXPECT_EQ(rules_changed_, 2);
  EXPECT_EQ(call("DELETE", "/api/v1/rules/gas?device_type=kitchen", "", kAdmin).status, 404);
  EXPECT_EQ(rules_changed_, 2);
  // The global seed default can be deleted too.
  EXPECT_EQ(call("DELETE", "/api/v1/rules/pressure", "", kAdmin).status, 204);
  for (const auto& r : repo_->rules()) EXPECT_NE(r.metric, "pressure");
  EXPECT_EQ(repo_->rules().size(), 4u);
}

TEST_F(ApiTest, ManualAlertIsStoredListedAndAcknowledgeable) {
  auto r = call("POST", "/api/v1/alerts",
                R"({"device_id": "never-seen", "metric": "door", "severity": "critical",
                    "message": "door forced open", "value": 1})",
                kAdmin);
  ASSERT_EQ(r.status, 201) << r.body;
  auto j = body(r);
  EXPECT_EQ(j["device_id"], "never-seen");
  EXPECT_EQ(j["metric"], "door");
  EXPECT_EQ(j["kind"], "manual");
  EXPECT_EQ(j["severity"], "critical");
  EXPECT_EQ(j["state"], "active");
  EXPECT_EQ(j["message"], "door forced open");
  EXPECT_EQ(j["first_value"], 1);
  EXPECT_EQ(j["acknowledged"], false);
  EXPECT_TRUE(j["threshold_max"].is_null());
  const auto id = j["id"].get<std::int64_t>();
  ASSERT_GT(id, 0);

  auto list = body(call("GET", "/api/v1/alerts?device_id=never-seen&state=active"));
  ASSERT_EQ(list["count"], 1);
  EXPECT_EQ(list["data"][0]["id"], id);
  EXPECT_EQ(list["data"][0]["kind"], "manual");

  // Without the optional metric and value.
  auto bare = call("POST", "/api/v1/alerts",
                   R"({"device_id": "never-seen", "severity": "info", "message": "maintenance"})",
                   kAdmin);
  ASSERT_EQ(bare.status, 201) << bare.body;
  EXPECT_EQ(body(bare)["metric"], "");
  EXPECT_EQ(body(call("GET", "/api/v1/alerts?device_id=never-seen"))["count"], 2);

  auto ack = call("POST", "/api/v1/alerts/" + std::to_string(id) + "/ack", R"({"by":"bob"})", kAdmin);
  EXPECT_EQ(ack.status, 200);
  EXPECT_EQ(repo_->alert(id)->acknowledged_by, "bob");
  EXPECT_EQ(rules_changed_, 0);
}

TEST_F(ApiTest, ManualAlertValidationNamesTheField) {
  struct Case {
    std::string body, field;
  };
  const std::vector<Case> cases{
      {R"({"severity": "info", "message": "m"})", "device_id"},
      {R"({"device_id": "bad id", "severity": "info", "message": "m"})", "device_id"},
      {R"({"device_id": "d", "metric": "a b", "severity": "info", "message": "m"})", "metric"},
      {R"({"device_id": "d", "message": "m"})", "severity"},
      {R"({"device_id": "d", "severity": "loud", "message": "m"})", "severity"},
      {R"({"device_id": "d", "severity": "info"})", "message"},
      {R"({"device_id": "d", "severity": "info", "message": ""})", "message"},
      {R"({"device_id": "d", "severity": "info", "message": "m", "value": "x"})", "value"},
      {R"({"device_id": "d", "severity": "info", "message": "m", "state": "cleared"})", "state"},
      {R"("text")", "body"},
  };
  for (const auto& c : cases) {
    auto r = call("POST", "/api/v1/alerts", c.body, kAdmin);
    EXPECT_EQ(r.status, 400) << c.body << ": " << r.body;
    EXPECT_NE(body(r)["error"]["message"].get<std::string>().find(c.field), std::string::npos)
        << c.body << ": " << r.body;
  }
  EXPECT_TRUE(repo_->alerts(storage::AlertQuery{}).empty());
}

TEST_F(ApiTest, AckNeedsTheAdminKey) {
  std::vector<storage::Alert> as{sample_alert("esp-1", false)};
  insert_alerts(as);
  const std::string path = "/api/v1/alerts/" + std::to_string(as[0].id) + "/ack";
  auto missing = call("POST", path);
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(body(missing)["error"]["code"], "unauthorized");
  EXPECT_EQ(missing.headers, (decltype(missing.headers){{"WWW-Authenticate", "Bearer"}}));
  auto wrong = call("POST", path, "", {{"x-api-key", "nope"}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(body(wrong)["error"]["code"], "forbidden");
  auto stored = repo_->alert(as[0].id);
  ASSERT_TRUE(stored);
  EXPECT_FALSE(stored->acknowledged);

  build("");
  auto unconfigured = call("POST", path, "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(unconfigured.status, 403);
  EXPECT_EQ(body(unconfigured)["error"]["message"], "admin key not configured: set IOTD_ADMIN_KEY");
  EXPECT_FALSE(repo_->alert(as[0].id)->acknowledged);
}

TEST_F(ApiTest, AckAcknowledgesAndReturnsTheAlert) {
  std::vector<storage::Alert> as{sample_alert("esp-1", false)};
  insert_alerts(as);
  const std::string path = "/api/v1/alerts/" + std::to_string(as[0].id) + "/ack";
  auto r = call("POST", path, R"({"by":"alice"})", {{"authorization", "Bearer s3cret"}});
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["id"], as[0].id);
  EXPECT_EQ(j["acknowledged"], true);
  EXPECT_EQ(j["acknowledged_by"], "alice");
  ASSERT_TRUE(j["acknowledged_at"].is_string());
  // Stored, not just echoed.
  auto stored = repo_->alert(as[0].id);
  ASSERT_TRUE(stored);
  EXPECT_TRUE(stored->acknowledged);
  EXPECT_EQ(stored->acknowledged_by, "alice");
  // A second acknowledgement succeeds and keeps the first one.
  auto no_body = call("POST", path, "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(no_body.status, 200);
  EXPECT_EQ(body(no_body)["acknowledged_by"], "alice");
  EXPECT_EQ(body(no_body)["acknowledged_at"], j["acknowledged_at"]);
}

TEST_F(ApiTest, AckWithoutABodyIsByAdmin) {
  std::vector<storage::Alert> as{sample_alert("esp-1", false)};
  insert_alerts(as);
  auto r = call("POST", "/api/v1/alerts/" + std::to_string(as[0].id) + "/ack", " \n",
                {{"x-api-key", "s3cret"}});
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(body(r)["acknowledged_by"], "admin");
}

TEST_F(ApiTest, AckErrors) {
  std::vector<storage::Alert> as{sample_alert("esp-1", false)};
  insert_alerts(as);
  const std::string id = std::to_string(as[0].id);
  std::map<std::string, std::string> key{{"x-api-key", "s3cret"}};
  auto missing = call("POST", "/api/v1/alerts/" + std::to_string(as[0].id + 1) + "/ack", "", key);
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing)["error"]["code"], "not_found");
  EXPECT_EQ(call("POST", "/api/v1/alerts/abc/ack", "", key).status, 400);
  EXPECT_EQ(call("POST", "/api/v1/alerts/" + id + "/ack", "not json", key).status, 400);
  EXPECT_EQ(call("POST", "/api/v1/alerts/" + id + "/ack", R"({"by":5})", key).status, 400);
  EXPECT_EQ(call("POST", "/api/v1/alerts/" + id + "/ack", "[]", key).status, 400);
  EXPECT_FALSE(repo_->alert(as[0].id)->acknowledged) << "rejected requests change nothing";
}

TEST_F(ApiTest, AlertById) {
  std::vector<storage::Alert> as{sample_alert("esp-1", true)};
  insert_alerts(as);
  auto j = body(call("GET", "/api/v1/alerts/" + std::to_string(as[0].id)));
  EXPECT_EQ(j["id"], as[0].id);
  EXPECT_EQ(j["acknowledged"], true);
  EXPECT_EQ(j["device_id"], "esp-1");
  auto missing = call("GET", "/api/v1/alerts/" + std::to_string(as[0].id + 1));
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing)["error"]["code"], "not_found");
}

TEST_F(ApiTest, RulesShape) {
  // The migration's seed rules plus a device rule another process added.
  raw()->once << "INSERT INTO rules(metric, scope, scope_value, max_value, hysteresis) "
                 "VALUES('humidity', 'device', 'esp-1', 90, 1.5)";
  auto r = call("GET", "/api/v1/rules");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  ASSERT_EQ(j["data"].size(), 6u);
  auto find = [&](const std::string& metric, const std::string& scope) {
    for (const auto& x : j["data"])
      if (x["metric"] == metric && x["scope"] == scope) return x;
    ADD_FAILURE() << metric << "/" << scope << " missing: " << j.dump();
    return json();
  };
  EXPECT_EQ(find("temperature", "global"),
            (json{{"metric", "temperature"}, {"scope", "global"}, {"scope_value", nullptr},
                  {"min", 0}, {"max", 50}, {"severity", "warning"}, {"hysteresis", 0}}));
  EXPECT_EQ(find("humidity", "device"),
            (json{{"metric", "humidity"}, {"scope", "device"}, {"scope_value", "esp-1"},
                  {"min", nullptr}, {"max", 90}, {"severity", "warning"}, {"hysteresis", 1.5}}));
}

TEST_F(ApiTest, RejectsNeedTheAdminKeyAndEncodeBinaryPayloads) {
  storage::RejectRecord text;
  text.source = "mqtt";
  text.topic = "sensors/x/data";
  text.payload = "{not json";
  text.payload_size = 9;
  text.reason = "not_json";
  text.received_at_ms = kT0;
  storage::RejectRecord bin = text;
  bin.payload = std::string("\x00\xff\x10", 3);
  bin.payload_size = 3;
  bin.reason = "bad_utf8";
  bin.received_at_ms = kT0 - 1000;
  ws_->begin();
  ws_->insert_rejects(std::vector{text, bin});
  ws_->commit();

  EXPECT_EQ(call("GET", "/api/v1/rejects").status, 401);
  EXPECT_EQ(call("GET", "/api/v1/rejects", "", {{"x-api-key", "nope"}}).status, 403);
  auto r = call("GET", "/api/v1/rejects?limit=10", "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  ASSERT_EQ(j["count"], 2);
  EXPECT_EQ(j["limit"], 10);
  // Newest first.
  EXPECT_EQ(j["data"][0]["payload"], "{not json");
  EXPECT_FALSE(j["data"][0].contains("payload_base64"));
  EXPECT_EQ(j["data"][0]["received_at"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(j["data"][0]["reason"], "not_json");
  EXPECT_EQ(j["data"][0]["source"], "mqtt");
  EXPECT_EQ(j["data"][0]["topic"], "sensors/x/data");
  EXPECT_EQ(j["data"][0]["payload_size"], 9);
  EXPECT_EQ(j["data"][1]["payload_base64"], "AP8Q");
  EXPECT_FALSE(j["data"][1].contains("payload"));
  EXPECT_EQ(j["data"][1]["payload_size"], 3);
  EXPECT_LT(j["data"][0]["id"], j["data"][1]["id"]) << "ordered by time, not id";

  auto one = body(call("GET", "/api/v1/rejects?reason=bad_utf8", "", {{"x-api-key", "s3cret"}}));
  ASSERT_EQ(one["count"], 1);
  EXPECT_EQ(one["data"][0]["reason"], "bad_utf8");
  EXPECT_EQ(body(call("GET", "/api/v1/rejects?limit=1", "", {{"x-api-key", "s3cret"}}))["count"], 1);
}

// ---- seed 002 ----------------------------------------------------------------------------

TEST_F(ApiTest, Seed002Health) {
  auto j = body(call("GET", "/api/health"));
  EXPECT_EQ(j, (json{{"status", "healthy"}, {"service", "iotd"}, {"version", "1.2.3"}}));
}

TEST_F(ApiTest, Seed002LatestIsTheNewestMessageFlattened) {
  add_rows();
  auto r = call("GET", "/api/sensors/latest?device_id=esp-1");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["data"], (json{{"id", row(4)}, {"device_id", "esp-1"}, {"humidity", 41.5},
                             {"timestamp", "2026-01-29T00:00:04.000Z"},
                             {"created_at", "2026-01-29T00:00:04.250Z"}}));
  EXPECT_EQ(body(call("GET", "/api/sensors/latest"))["data"]["id"], row(5));
  auto missing = call("GET", "/api/sensors/latest?device_id=ghost");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing), (json{{"message", "No sensor readings found"}, {"device_id", "ghost"}}));
  raw()->once << "DELETE FROM messages";
  auto none = call("GET", "/api/sensors/latest");
  EXPECT_EQ(none.status, 404);
  EXPECT_EQ(body(none), (json{{"message", "No sensor readings found"}, {"device_id", nullptr}}));
}

TEST_F(ApiTest, Seed002HistoryClampsLikeTheSeed) {
  add_rows();
  auto j = body(call("GET", "/api/sensors/history?device_id=esp-2&limit=0&offset=-5"));
  EXPECT_EQ(j["limit"], 1);
  EXPECT_EQ(j["offset"], 0);
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["device_id"], "esp-2");
  EXPECT_EQ(j["data"][0]["id"], row(5));
  EXPECT_EQ(j["data"][0]["temperature"], 0.1);
  EXPECT_EQ(j["data"][0]["gas"], 300);
  auto page2 = body(call("GET", "/api/sensors/history?device_id=esp-2&limit=1&offset=1"));
  EXPECT_EQ(page2["data"][0]["id"], row(2));
  auto bad = call("GET", "/api/sensors/history?limit=x");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(body(bad), (json{{"error", "Invalid limit parameter"}}));
  EXPECT_EQ(body(call("GET", "/api/sensors/history?offset=y")), (json{{"error", "Invalid offset parameter"}}));
}

TEST_F(ApiTest, Seed002StatsUsesAvgPrefixes) {
  add_rows();
  auto j = body(call("GET", "/api/sensors/stats?device_id=esp-1"));
  // esp-1: temperature 21.5, 22; humidity 40, 41.5; gas 450.5. count = the busiest metric's.
  EXPECT_EQ(j, (json{{"stats", {{"count", 2}, {"avg_temperature", 21.75}, {"avg_humidity", 40.75}, {"avg_gas", 450.5}}},
                     {"device_id", "esp-1"}}));
  auto ghost = body(call("GET", "/api/sensors/stats?device_id=ghost"));
  EXPECT_EQ(ghost, (json{{"stats", {{"count", 0}}}, {"device_id", "ghost"}}));
}

TEST_F(ApiTest, Seed002MlDataUsesPluralKeysNewestFirst) {
  add_rows();
  auto j = body(call("GET", "/api/sensors/ml-data?device_id=esp-1&limit=2"));
  EXPECT_EQ(j["sample_count"], 2);
  EXPECT_EQ(j["device_id"], "esp-1");
  const auto& d = j["data"];
  EXPECT_EQ(d["timestamps"], (json{"2026-01-29T00:00:04.000Z", "2026-01-29T00:00:03.000Z"}));
  EXPECT_EQ(d["temperatures"], (json{nullptr, 22}));
  EXPECT_EQ(d["humiditys"], (json{41.5, nullptr}));
  EXPECT_EQ(d["gases"], (json{nullptr, 450.5}));
  EXPECT_EQ(d["device_ids"], (json{"esp-1", "esp-1"}));
}

// ---- seed 000 ------------------------------------------------------------------------------

TEST_F(ApiTest, Seed000Routes) {
  add_rows();
  EXPECT_EQ(body(call("GET", "/health"))["status"], "healthy");
  auto latest = body(call("GET", "/sensors/latest"));
  ASSERT_TRUE(latest.is_array());
  ASSERT_EQ(latest.size(), 2u);
  // esp-1's newest value of each metric, flattened.
  EXPECT_EQ(latest[0], (json{{"device_id", "esp-1"}, {"gas", 450.5}, {"humidity", 41.5},
                             {"temperature", 22}, {"timestamp", "2026-01-29T00:00:04.000Z"},
                             {"received_at", "2026-01-29T00:00:04.250Z"}}));
  EXPECT_EQ(latest[1]["device_id"], "esp-2");
  EXPECT_EQ(latest[1]["temperature"], 0.1);
  auto history = body(call("GET", "/sensors/history?device_id=esp-1&limit=2"));
  ASSERT_TRUE(history.is_array());
  ASSERT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["id"], row(4));
  EXPECT_EQ(history[0]["received_at"], "2026-01-29T00:00:04.250Z");
  EXPECT_EQ(history[1]["id"], row(3));
  auto bad = call("GET", "/sensors/history?limit=0");
  EXPECT_EQ(bad.status, 422);
  EXPECT_TRUE(body(bad)["detail"].is_string());
  std::vector<storage::Alert> as{sample_alert("esp-1", false)};
  insert_alerts(as);
  auto alerts = body(call("GET", "/alerts"));
  ASSERT_TRUE(alerts.is_array());
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["id"], as[0].id);
  EXPECT_EQ(alerts[0]["alert_type"], "threshold");
  EXPECT_EQ(alerts[0]["created_at"], "2026-01-29T00:00:00.010Z");
  auto stats = body(call("GET", "/stats"));
  EXPECT_EQ(stats["total_devices"], 2);
  EXPECT_EQ(stats["metrics"]["temperature"]["count"], 4);
  EXPECT_DOUBLE_EQ(stats["metrics"]["temperature"]["avg"].get<double>(), (21.5 + 19.25 + 22 + 0.1) / 4);
  EXPECT_EQ(stats["metrics"]["gas"], (json{{"count", 2}, {"min", 300}, {"max", 450.5}, {"avg", 375.25}}));
}

// ---- seed 003 ----------------------------------------------------------------------------

TEST_F(ApiTest, Seed003MetricsIsAFlatAscendingArray) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  store({reading("dev-1", now - 120'000, {{"temperature", 23.5}, {"humidity", 40}}),
         reading("dev-1", now - 60'000, {{"temperature", 24}}),
         reading("dev-1", now - 7'200'000, {{"temperature", 1}}),
         reading("dev-2", now - 60'000, {{"temperature", 99}})});
  auto j = body(call("GET", "/api/devices/dev-1/metrics"));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u) << "the default range is the last hour";
  EXPECT_EQ(j[0]["metric"], "humidity");
  EXPECT_EQ(j[0]["value"], 40);
  EXPECT_EQ(j[1]["metric"], "temperature");
  EXPECT_EQ(j[1]["value"], 23.5);
  EXPECT_EQ(j[0]["time"], j[1]["time"]);
  EXPECT_EQ(j[2]["value"], 24);
  EXPECT_EQ(j[2]["device_id"], "dev-1");
  EXPECT_TRUE(j[2]["time"].is_string());
  EXPECT_LT(j[1]["time"].get<std::string>(), j[2]["time"].get<std::string>());
  auto wide = body(call("GET", "/api/devices/dev-1/metrics?start=-24h&stop=now()&metric=temperature"));
  ASSERT_EQ(wide.size(), 3u);
  EXPECT_EQ(wide[0]["value"], 1);
  for (const auto& m : wide) EXPECT_EQ(m["metric"], "temperature");
  auto bad = call("GET", "/api/devices/dev-1/metrics?start=yesterday");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(body(bad)["error"].is_string());
}

TEST_F(ApiTest, Seed003AlertsAndAcknowledge) {
  std::vector<storage::Alert> as{sample_alert("dev-1", false), sample_alert("dev-1", true),
                                 sample_alert("dev-2", false)};
  insert_alerts(as);
  auto all = body(call("GET", "/api/devices/dev-1/alerts"));
  EXPECT_EQ(all.size(), 2u);
  auto unacked = body(call("GET", "/api/devices/dev-1/alerts?acknowledged=false"));
  ASSERT_EQ(unacked.size(), 1u);
  EXPECT_EQ(unacked[0]["id"], as[0].id);
  auto acked = body(call("GET", "/api/devices/dev-1/alerts?acknowledged=TRUE"));
  ASSERT_EQ(acked.size(), 1u);
  EXPECT_EQ(acked[0]["id"], as[1].id);
  EXPECT_EQ(body(call("GET", "/api/devices/ghost/alerts")), json::array());
  auto stats = body(call("GET", "/api/stats"));
  EXPECT_EQ(stats["unacknowledged_alerts"], 2);

  const std::string path = "/api/alerts/" + std::to_string(as[0].id) + "/acknowledge";
  EXPECT_EQ(call("POST", path).status, 401);
  auto ok = call("POST", path, "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(body(ok)["acknowledged"], true);
  EXPECT_EQ(body(ok)["alert_type"], "threshold");
  EXPECT_EQ(body(call("GET", "/api/stats"))["unacknowledged_alerts"], 1);
  auto missing = call("POST", "/api/alerts/" + std::to_string(as[2].id + 1) + "/acknowledge", "",
                      {{"x-api-key", "s3cret"}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing), (json{{"error", "Alert not found"}}));
}

}  // namespace
}  // namespace iotd::http
