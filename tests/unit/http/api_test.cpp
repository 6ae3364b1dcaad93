// REST handlers against an in-memory Repository: response shapes, paging, exports, auth
// and the seed compatibility routes. No sockets: routes are called through the Router.
#include "iotd/http/api.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <optional>
#include <stdexcept>

namespace iotd::http {
namespace {

using nlohmann::json;
using storage::StoredReading;

bool before_cursor(const StoredReading& r, const storage::Cursor& c) {
  return r.ts_ms < c.ts || (r.ts_ms == c.ts && r.id < c.id);
}
bool after_cursor(const StoredReading& r, const storage::Cursor& c) {
  return r.ts_ms > c.ts || (r.ts_ms == c.ts && r.id > c.id);
}

class FakeRepo : public storage::Repository {
 public:
  std::vector<StoredReading> rows;
  std::map<std::string, storage::Stat> stats_result;
  std::vector<storage::Bucket> buckets;
  std::vector<storage::Alert> alert_list;
  std::vector<storage::Rule> rule_list;
  std::vector<storage::RejectRecord> reject_list;
  std::vector<storage::ReadingQuery> reading_queries;
  std::vector<storage::StatsQuery> stats_queries;
  std::vector<storage::AlertQuery> alert_queries;
  bool fail = false;

  void check() {
    if (fail) throw std::runtime_error("connection refused");
  }

  storage::ReadingPage readings(const storage::ReadingQuery& q) override {
    check();
    reading_queries.push_back(q);
    std::vector<StoredReading> v;
    for (auto r : rows) {
      if (q.device_id && r.device_id != *q.device_id) continue;
      if (q.from_ms && r.ts_ms < *q.from_ms) continue;
      if (q.to_ms && r.ts_ms >= *q.to_ms) continue;
      if (q.metric) {
        auto m = json::parse(r.metrics_json);
        if (!m.contains(*q.metric)) continue;
        r.metrics_json = json{{*q.metric, m[*q.metric]}}.dump();
      }
      if (q.before && !q.oldest_first && !before_cursor(r, *q.before)) continue;
      if (q.after && q.oldest_first && !after_cursor(r, *q.after)) continue;
      v.push_back(std::move(r));
    }
    std::sort(v.begin(), v.end(), [&](const StoredReading& a, const StoredReading& b) {
      auto ka = std::make_pair(a.ts_ms, a.id), kb = std::make_pair(b.ts_ms, b.id);
      return q.oldest_first ? ka < kb : ka > kb;
    });
    std::size_t start = (q.before || q.after) ? 0 : static_cast<std::size_t>(q.offset);
    storage::ReadingPage page;
    for (std::size_t i = start; i < v.size() && page.rows.size() < static_cast<std::size_t>(q.limit); ++i)
      page.rows.push_back(v[i]);
    if (start + page.rows.size() < v.size() && !page.rows.empty())
      page.next = storage::Cursor{page.rows.back().ts_ms, page.rows.back().id};
    return page;
  }
  std::map<std::string, storage::Stat> stats(const storage::StatsQuery& q) override {
    check();
    stats_queries.push_back(q);
    return stats_result;
  }
  std::vector<storage::Bucket> aggregate(const storage::AggregateQuery&) override {
    check();
    return buckets;
  }
  std::vector<storage::Alert> alerts(const storage::AlertQuery& q) override {
    check();
    alert_queries.push_back(q);
    std::vector<storage::Alert> out;
    for (const auto& a : alert_list) {
      if (q.device_id && a.device_id != *q.device_id) continue;
      if (q.acknowledged && a.acknowledged != *q.acknowledged) continue;
      out.push_back(a);
    }
    return out;
  }
  std::optional<storage::Alert> alert(std::int64_t id) override {
    check();
    for (const auto& a : alert_list)
      if (a.id == id) return a;
    return std::nullopt;
  }
  bool acknowledge_alert(std::int64_t id, const std::string& by, std::int64_t at_ms) override {
    check();
    for (auto& a : alert_list)
      if (a.id == id) {
        a.acknowledged = true;
        a.acknowledged_by = by;
        a.acknowledged_at_ms = at_ms;
        return true;
      }
    return false;
  }
  std::vector<storage::RejectRecord> rejects(const storage::RejectQuery&) override {
    check();
    return reject_list;
  }
  std::vector<storage::Rule> rules() override {
    check();
    return rule_list;
  }
  void ping() override { check(); }
};

constexpr std::int64_t kT0 = 1'769'644'800'000;  // 2026-01-29T00:00:00Z

StoredReading row(std::int64_t id, std::string dev, std::int64_t ts, std::string metrics) {
  StoredReading r;
  r.id = id;
  r.device_id = std::move(dev);
  r.ts_ms = ts;
  r.received_at_ms = ts + 250;
  r.metrics_json = std::move(metrics);
  return r;
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override { build(); }

  void build(std::string admin_key = "s3cret") {
    router_ = Router();
    ApiContext ctx;
    ctx.repo = &repo_;
    ctx.latest = &latest_;
    ctx.counters = &counters_;
    ctx.health = [this] { return health_; };
    ctx.admin_key = std::move(admin_key);
    ctx.version = "1.2.3";
    register_api_routes(router_, ctx);
  }

  Response call(const std::string& method, const std::string& target, std::string body = {},
                std::map<std::string, std::string> headers = {}) {
    Request req;
    req.method = method;
    req.target = target;
    auto q = target.find('?');
    req.path = target.substr(0, q);
    if (q != std::string::npos) req.query = *parse_query_string(target.substr(q + 1));
    req.body = std::move(body);
    req.headers = std::move(headers);
    auto m = router_.match(method, req.path);
    if (!m.route) return error_response(m.status, "routing", m.allow);
    std::optional<Response> out;
    int calls = 0;
    m.route->handler(req, m.params, [&](Response r) {
      ++calls;
      out = std::move(r);
    });
    EXPECT_EQ(calls, 1) << target;
    return out.value_or(Response{});
  }

  Exec exec_of(const std::string& method, const std::string& path) {
    auto m = router_.match(method, path);
    EXPECT_NE(m.route, nullptr) << path;
    return m.route ? m.route->exec : Exec::io;
  }

  static std::string drain(Response& r) {
    std::string all = r.body;
    if (!r.stream) return all;
    for (int i = 0; i < 100000; ++i) {
      std::string chunk;
      bool more = r.stream(chunk);
      all += chunk;
      if (!more) return all;
    }
    ADD_FAILURE() << "stream never ended";
    return all;
  }

  static json body(const Response& r) {
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
    return j;
  }

  void add_rows() {
    repo_.rows = {
        row(1, "esp-1", kT0 + 1000, R"({"temperature":21.5,"humidity":40})"),
        row(2, "esp-2", kT0 + 2000, R"({"temperature":19.25})"),
        row(3, "esp-1", kT0 + 3000, R"({"temperature":22,"gas":450.5})"),
        row(4, "esp-1", kT0 + 4000, R"({"humidity":41.5})"),
        row(5, "esp-2", kT0 + 5000, R"({"temperature":0.1,"gas":300})"),
    };
  }

  storage::Alert sample_alert(std::int64_t id, std::string dev, bool ack) {
    storage::Alert a;
    a.id = id;
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

  FakeRepo repo_;
  storage::LatestCache latest_;
  Counters counters_;
  HealthSnapshot health_;
  Router router_;
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
  health_.degraded_reasons = {"mqtt disconnected"};
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

void apply(storage::LatestCache& c, std::string dev, std::int64_t ts,
           std::vector<std::pair<std::string, double>> metrics) {
  Reading r;
  r.device_id = std::move(dev);
  r.ts_ms = ts;
  r.received_at_ms = ts + 100;
  r.metrics = std::move(metrics);
  c.apply(r);
}

TEST_F(ApiTest, LatestListsEveryDevice) {
  apply(latest_, "b-dev", kT0, {{"temperature", 21.5}});
  apply(latest_, "a-dev", kT0 + 1000, {{"humidity", 0.1}, {"temperature", 1e21}});
  apply(latest_, "a-dev", kT0 + 2000, {{"temperature", -3.25}});
  auto r = call("GET", "/api/v1/readings/latest");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["data"][0]["device_id"], "a-dev");
  EXPECT_EQ(j["data"][0]["last_seen_at"], "2026-01-29T00:00:02.100Z");
  EXPECT_EQ(j["data"][0]["metrics"]["temperature"]["value"], -3.25);
  EXPECT_EQ(j["data"][0]["metrics"]["temperature"]["timestamp"], "2026-01-29T00:00:02.000Z");
  EXPECT_EQ(j["data"][0]["metrics"]["humidity"]["value"], 0.1);
  EXPECT_EQ(j["data"][1]["device_id"], "b-dev");
  // Shortest round-trip formatting, straight into the body.
  EXPECT_NE(r.body.find("\"value\":0.1,"), std::string::npos) << r.body;
}

TEST_F(ApiTest, LatestForOneDevice) {
  apply(latest_, "esp-1", kT0, {{"temperature", 22.5}});
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
  EXPECT_EQ(j["data"][0]["id"], 5);
  EXPECT_EQ(j["data"][0]["device_id"], "esp-2");
  EXPECT_EQ(j["data"][0]["timestamp"], "2026-01-29T00:00:05.000Z");
  EXPECT_EQ(j["data"][0]["received_at"], "2026-01-29T00:00:05.250Z");
  EXPECT_EQ(j["data"][0]["metrics"]["gas"], 300);
  EXPECT_EQ(j["data"][1]["id"], 4);
  ASSERT_TRUE(j["next"].is_string());

  std::vector<int> ids;
  std::string next = j["next"];
  for (int page = 0; page < 5 && !next.empty(); ++page) {
    auto p = body(call("GET", "/api/v1/readings?limit=2&before=" + next));
    for (const auto& d : p["data"]) ids.push_back(d["id"]);
    next = p["next"].is_null() ? "" : p["next"].get<std::string>();
  }
  EXPECT_EQ(ids, (std::vector<int>{3, 2, 1}));
  EXPECT_TRUE(next.empty()) << "next is null on the last page";
}

TEST_F(ApiTest, ReadingsFiltersReachTheRepository) {
  add_rows();
  auto r = call("GET", "/api/v1/readings?device_id=esp-1&metric=temperature&from=2026-01-29T00:00:00Z&to=2026-01-29T01:00:00Z&offset=1");
  EXPECT_EQ(r.status, 200);
  ASSERT_EQ(repo_.reading_queries.size(), 1u);
  const auto& q = repo_.reading_queries[0];
  EXPECT_EQ(q.device_id, "esp-1");
  EXPECT_EQ(q.metric, "temperature");
  EXPECT_EQ(q.from_ms, kT0);
  EXPECT_EQ(q.to_ms, kT0 + 3'600'000);
  EXPECT_EQ(q.offset, 1);
  auto j = body(r);
  EXPECT_EQ(j["offset"], 1);
  ASSERT_EQ(j["count"], 1);
  EXPECT_EQ(j["data"][0]["id"], 1);
  EXPECT_EQ(j["data"][0]["metrics"], (json{{"temperature", 21.5}}));
}

TEST_F(ApiTest, ReadingsValidationErrorsAre400) {
  auto r = call("GET", "/api/v1/readings?limit=0");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(body(r)["error"]["message"], "limit must be an integer from 1 to 10000");
  EXPECT_TRUE(repo_.reading_queries.empty());
  EXPECT_EQ(call("GET", "/api/v1/readings?offset=1&before=1_1").status, 400);
}

TEST_F(ApiTest, DeviceHistoryTakesTheDeviceFromThePath) {
  add_rows();
  auto j = body(call("GET", "/api/v1/devices/esp-2/history"));
  EXPECT_EQ(j["count"], 2);
  for (const auto& d : j["data"]) EXPECT_EQ(d["device_id"], "esp-2");
}

TEST_F(ApiTest, DatabaseFailureIs503) {
  repo_.fail = true;
  auto r = call("GET", "/api/v1/readings");
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(body(r)["error"]["code"], "database_unavailable");
  auto compat = call("GET", "/api/sensors/history");
  EXPECT_EQ(compat.status, 503);
  EXPECT_TRUE(body(compat)["error"].is_string());
}

// ---- stats, aggregate -------------------------------------------------------------------

TEST_F(ApiTest, StatsShape) {
  repo_.stats_result["temperature"] = storage::Stat{4, 19.25, 22.0, 84.0};
  repo_.stats_result["gas"] = storage::Stat{};
  auto r = call("GET", "/api/v1/stats?device_id=esp-1&from=2026-01-29");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["device_id"], "esp-1");
  EXPECT_EQ(j["from"], "2026-01-29T00:00:00.000Z");
  EXPECT_TRUE(j["to"].is_null());
  EXPECT_EQ(j["metrics"]["temperature"], (json{{"count", 4}, {"min", 19.25}, {"max", 22.0}, {"avg", 21.0}}));
  EXPECT_TRUE(j["metrics"]["gas"]["avg"].is_null());
  ASSERT_EQ(repo_.stats_queries.size(), 1u);
  EXPECT_EQ(repo_.stats_queries[0].from_ms, kT0);
}

TEST_F(ApiTest, AggregateShape) {
  storage::Bucket b;
  b.start_ms = kT0;
  b.metrics["temperature"] = storage::Stat{2, 20, 22, 42};
  repo_.buckets = {b};
  auto r = call("GET", "/api/v1/aggregate?from=2026-01-29T00:00:00Z&to=2026-01-29T02:00:00Z&interval=5m");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["interval"], "5m");
  EXPECT_EQ(j["from"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(j["to"], "2026-01-29T02:00:00.000Z");
  EXPECT_TRUE(j["device_id"].is_null());
  EXPECT_EQ(j["buckets"][0]["start"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(j["buckets"][0]["metrics"]["temperature"]["avg"], 21);
  EXPECT_EQ(call("GET", "/api/v1/aggregate?interval=2s").status, 400);
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
}

TEST_F(ApiTest, ExportColumnarLimitKeepsTheNewestWithoutFromAndTheOldestWithFrom) {
  add_rows();
  auto newest = body(call("GET", "/api/v1/export?limit=2"));
  EXPECT_EQ(newest["sample_count"], 2);
  EXPECT_EQ(newest["truncated"], true);
  EXPECT_EQ(newest["columns"]["timestamp"][0], "2026-01-29T00:00:04.000Z");
  EXPECT_EQ(newest["columns"]["timestamp"][1], "2026-01-29T00:00:05.000Z");
  auto from = body(call("GET", "/api/v1/export?limit=2&from=2026-01-29"));
  EXPECT_EQ(from["columns"]["timestamp"][0], "2026-01-29T00:00:01.000Z");
  EXPECT_EQ(from["columns"]["timestamp"][1], "2026-01-29T00:00:02.000Z");
  auto all = body(call("GET", "/api/v1/export?limit=5"));
  EXPECT_EQ(all["truncated"], false);
}

TEST_F(ApiTest, ExportCsvStreamsWithAHeaderFromTheRollups) {
  add_rows();
  repo_.stats_result["temperature"] = storage::Stat{4, 0.1, 22, 62.85};
  repo_.stats_result["humidity"] = storage::Stat{2, 40, 41.5, 81.5};
  repo_.stats_result["gas"] = storage::Stat{2, 300, 450.5, 750.5};
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
  for (const auto& q : repo_.reading_queries) EXPECT_TRUE(q.oldest_first);
}

TEST_F(ApiTest, ExportCsvWithAMetricFilterNeedsNoRollups) {
  add_rows();
  auto r = call("GET", "/api/v1/export?format=csv&metric=gas&limit=1");
  auto text = drain(r);
  EXPECT_EQ(text, "timestamp,device_id,gas\n2026-01-29T00:00:03.000Z,esp-1,450.5\n");
  EXPECT_TRUE(repo_.stats_queries.empty());
}

TEST_F(ApiTest, ExportNdjsonPagesThroughLargeRanges) {
  for (int i = 1; i <= 12'001; ++i)
    repo_.rows.push_back(row(i, "d", kT0 + i * 1000, R"({"v":)" + std::to_string(i) + "}"));
  auto r = call("GET", "/api/v1/export?format=ndjson");
  EXPECT_EQ(r.content_type, "application/x-ndjson");
  auto text = drain(r);
  std::size_t lines = 0, pos = 0;
  std::int64_t last_id = 0;
  while ((pos = text.find('\n')) != std::string::npos) {
    auto j = json::parse(text.substr(0, pos));
    EXPECT_EQ(j["id"].get<std::int64_t>(), last_id + 1);
    last_id = j["id"];
    text.erase(0, pos + 1);
    ++lines;
  }
  EXPECT_EQ(lines, 12'001u);
  EXPECT_GE(repo_.reading_queries.size(), 3u) << "short read transactions, one per page";
  for (const auto& q : repo_.reading_queries) EXPECT_LE(q.limit, 5000);
}

TEST_F(ApiTest, ExportStreamLimitCapsRows) {
  add_rows();
  auto r = call("GET", "/api/v1/export?format=ndjson&limit=3");
  auto text = drain(r);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 3);
}

TEST_F(ApiTest, ExportValidation) {
  EXPECT_EQ(call("GET", "/api/v1/export?format=xml").status, 400);
  EXPECT_EQ(call("GET", "/api/v1/export?limit=100001").status, 400);
}

// ---- alerts, rules, rejects ----------------------------------------------------------

TEST_F(ApiTest, AlertsListShape) {
  repo_.alert_list = {sample_alert(1, "esp-1", false)};
  auto r = call("GET", "/api/v1/alerts?state=active&acknowledged=false");
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["limit"], 100);
  EXPECT_EQ(j["offset"], 0);
  const auto& a = j["data"][0];
  for (const char* key : {"id", "device_id", "metric", "kind", "severity", "state", "message",
                          "threshold_min", "threshold_max", "first_value", "last_value",
                          "peak_value", "count", "raised_at", "received_at", "updated_at",
                          "cleared_at", "acknowledged", "acknowledged_at", "acknowledged_by"})
    EXPECT_TRUE(a.contains(key)) << key;
  EXPECT_EQ(a["raised_at"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(a["received_at"], "2026-01-29T00:00:00.010Z");
  EXPECT_TRUE(a["cleared_at"].is_null());
  EXPECT_TRUE(a["acknowledged_at"].is_null());
  EXPECT_EQ(a["peak_value"], 57.5);
  EXPECT_FALSE(a.contains("alert_type"));
  ASSERT_EQ(repo_.alert_queries.size(), 1u);
  EXPECT_EQ(repo_.alert_queries[0].state, "active");
  EXPECT_EQ(repo_.alert_queries[0].acknowledged, false);
}

TEST_F(ApiTest, AckNeedsTheAdminKey) {
  repo_.alert_list = {sample_alert(7, "esp-1", false)};
  auto missing = call("POST", "/api/v1/alerts/7/ack");
  EXPECT_EQ(missing.status, 401);
  EXPECT_EQ(body(missing)["error"]["code"], "unauthorized");
  auto wrong = call("POST", "/api/v1/alerts/7/ack", "", {{"x-api-key", "nope"}});
  EXPECT_EQ(wrong.status, 403);
  EXPECT_EQ(body(wrong)["error"]["code"], "forbidden");
  EXPECT_FALSE(repo_.alert_list[0].acknowledged);

  build("");
  auto unconfigured = call("POST", "/api/v1/alerts/7/ack", "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(unconfigured.status, 403);
  EXPECT_EQ(body(unconfigured)["error"]["message"], "admin key not configured: set IOTD_ADMIN_KEY");
}

TEST_F(ApiTest, AckAcknowledgesAndReturnsTheAlert) {
  repo_.alert_list = {sample_alert(7, "esp-1", false)};
  auto r = call("POST", "/api/v1/alerts/7/ack", R"({"by":"alice"})",
                {{"authorization", "Bearer s3cret"}});
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["id"], 7);
  EXPECT_EQ(j["acknowledged"], true);
  EXPECT_EQ(j["acknowledged_by"], "alice");
  EXPECT_TRUE(j["acknowledged_at"].is_string());
  auto no_body = call("POST", "/api/v1/alerts/7/ack", "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(no_body.status, 200);
}

TEST_F(ApiTest, AckErrors) {
  repo_.alert_list = {sample_alert(7, "esp-1", false)};
  std::map<std::string, std::string> key{{"x-api-key", "s3cret"}};
  EXPECT_EQ(call("POST", "/api/v1/alerts/8/ack", "", key).status, 404);
  EXPECT_EQ(call("POST", "/api/v1/alerts/abc/ack", "", key).status, 400);
  EXPECT_EQ(call("POST", "/api/v1/alerts/7/ack", "not json", key).status, 400);
  EXPECT_EQ(call("POST", "/api/v1/alerts/7/ack", R"({"by":5})", key).status, 400);
  EXPECT_EQ(call("POST", "/api/v1/alerts/7/ack", "[]", key).status, 400);
}

TEST_F(ApiTest, AlertById) {
  repo_.alert_list = {sample_alert(3, "esp-1", true)};
  EXPECT_EQ(body(call("GET", "/api/v1/alerts/3"))["id"], 3);
  EXPECT_EQ(call("GET", "/api/v1/alerts/4").status, 404);
}

TEST_F(ApiTest, RulesShape) {
  storage::Rule g;
  g.metric = "temperature";
  g.min = 0;
  g.max = 50;
  storage::Rule d;
  d.metric = "humidity";
  d.scope = "device";
  d.scope_value = "esp-1";
  d.max = 90;
  d.hysteresis = 1.5;
  repo_.rule_list = {g, d};
  auto j = body(call("GET", "/api/v1/rules"));
  ASSERT_EQ(j["data"].size(), 2u);
  EXPECT_EQ(j["data"][0], (json{{"metric", "temperature"}, {"scope", "global"}, {"scope_value", nullptr},
                                {"min", 0}, {"max", 50}, {"severity", "warning"}, {"hysteresis", 0}}));
  EXPECT_EQ(j["data"][1]["scope_value"], "esp-1");
  EXPECT_TRUE(j["data"][1]["min"].is_null());
}

TEST_F(ApiTest, RejectsNeedTheAdminKeyAndEncodeBinaryPayloads) {
  storage::RejectRecord text;
  text.id = 1;
  text.source = "mqtt";
  text.topic = "sensors/x/data";
  text.payload = "{not json";
  text.payload_size = 9;
  text.reason = "not_json";
  text.received_at_ms = kT0;
  storage::RejectRecord bin = text;
  bin.id = 2;
  bin.payload = std::string("\x00\xff\x10", 3);
  bin.payload_size = 3;
  repo_.reject_list = {text, bin};
  EXPECT_EQ(call("GET", "/api/v1/rejects").status, 401);
  auto r = call("GET", "/api/v1/rejects?limit=10", "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(r.status, 200);
  auto j = body(r);
  EXPECT_EQ(j["count"], 2);
  EXPECT_EQ(j["data"][0]["payload"], "{not json");
  EXPECT_FALSE(j["data"][0].contains("payload_base64"));
  EXPECT_EQ(j["data"][1]["payload_base64"], "AP8Q");
  EXPECT_FALSE(j["data"][1].contains("payload"));
  EXPECT_EQ(j["data"][0]["received_at"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(j["data"][0]["reason"], "not_json");
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
  EXPECT_EQ(j["data"], (json{{"id", 4}, {"device_id", "esp-1"}, {"humidity", 41.5},
                             {"timestamp", "2026-01-29T00:00:04.000Z"},
                             {"created_at", "2026-01-29T00:00:04.250Z"}}));
  EXPECT_EQ(body(call("GET", "/api/sensors/latest"))["data"]["id"], 5);
  auto missing = call("GET", "/api/sensors/latest?device_id=ghost");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing), (json{{"message", "No sensor readings found"}, {"device_id", "ghost"}}));
  repo_.rows.clear();
  auto none = call("GET", "/api/sensors/latest");
  EXPECT_EQ(body(none), (json{{"message", "No sensor readings found"}, {"device_id", nullptr}}));
}

TEST_F(ApiTest, Seed002HistoryClampsLikeTheSeed) {
  add_rows();
  auto j = body(call("GET", "/api/sensors/history?device_id=esp-2&limit=0&offset=-5"));
  EXPECT_EQ(j["limit"], 1);
  EXPECT_EQ(j["offset"], 0);
  EXPECT_EQ(j["count"], 1);
  EXPECT_EQ(j["device_id"], "esp-2");
  EXPECT_EQ(j["data"][0]["temperature"], 0.1);
  EXPECT_EQ(j["data"][0]["gas"], 300);
  auto bad = call("GET", "/api/sensors/history?limit=x");
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(body(bad), (json{{"error", "Invalid limit parameter"}}));
  EXPECT_EQ(body(call("GET", "/api/sensors/history?offset=y")), (json{{"error", "Invalid offset parameter"}}));
}

TEST_F(ApiTest, Seed002StatsUsesAvgPrefixes) {
  repo_.stats_result["temperature"] = storage::Stat{4, 19, 23, 84};
  repo_.stats_result["gas"] = storage::Stat{2, 300, 450, 750};
  auto j = body(call("GET", "/api/sensors/stats?device_id=esp-1"));
  EXPECT_EQ(j, (json{{"stats", {{"count", 4}, {"avg_temperature", 21}, {"avg_gas", 375}}}, {"device_id", "esp-1"}}));
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
  apply(latest_, "esp-1", kT0, {{"temperature", 22.5}});
  EXPECT_EQ(body(call("GET", "/health"))["status"], "healthy");
  auto latest = body(call("GET", "/sensors/latest"));
  ASSERT_TRUE(latest.is_array());
  EXPECT_EQ(latest[0]["device_id"], "esp-1");
  EXPECT_EQ(latest[0]["temperature"], 22.5);
  auto history = body(call("GET", "/sensors/history?device_id=esp-1&limit=2"));
  ASSERT_TRUE(history.is_array());
  EXPECT_EQ(history.size(), 2u);
  EXPECT_EQ(history[0]["id"], 4);
  auto bad = call("GET", "/sensors/history?limit=0");
  EXPECT_EQ(bad.status, 422);
  EXPECT_TRUE(body(bad)["detail"].is_string());
  repo_.alert_list = {sample_alert(1, "esp-1", false)};
  auto alerts = body(call("GET", "/alerts"));
  ASSERT_TRUE(alerts.is_array());
  EXPECT_EQ(alerts[0]["alert_type"], "threshold");
  repo_.stats_result["temperature"] = storage::Stat{2, 1, 3, 4};
  auto stats = body(call("GET", "/stats"));
  EXPECT_EQ(stats["total_devices"], 1);
  EXPECT_EQ(stats["metrics"]["temperature"]["avg"], 2);
}

// ---- seed 003 ----------------------------------------------------------------------------

TEST_F(ApiTest, Seed003MetricsIsAFlatAscendingArray) {
  const std::int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count();
  repo_.rows = {row(1, "dev-1", now - 120'000, R"({"temperature":23.5,"humidity":40})"),
                row(2, "dev-1", now - 60'000, R"({"temperature":24})"),
                row(3, "dev-1", now - 7'200'000, R"({"temperature":1})")};
  auto j = body(call("GET", "/api/devices/dev-1/metrics"));
  ASSERT_TRUE(j.is_array());
  ASSERT_EQ(j.size(), 3u) << "the default range is the last hour";
  EXPECT_EQ(j[0]["metric"], "humidity");
  EXPECT_EQ(j[0]["value"], 40);
  EXPECT_EQ(j[1]["metric"], "temperature");
  EXPECT_EQ(j[2]["value"], 24);
  EXPECT_EQ(j[2]["device_id"], "dev-1");
  EXPECT_TRUE(j[2]["time"].is_string());
  auto wide = body(call("GET", "/api/devices/dev-1/metrics?start=-24h&stop=now()&metric=temperature"));
  EXPECT_EQ(wide.size(), 3u);
  auto bad = call("GET", "/api/devices/dev-1/metrics?start=yesterday");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(body(bad)["error"].is_string());
}

TEST_F(ApiTest, Seed003AlertsAndAcknowledge) {
  repo_.alert_list = {sample_alert(1, "dev-1", false), sample_alert(2, "dev-1", true),
                      sample_alert(3, "dev-2", false)};
  auto all = body(call("GET", "/api/devices/dev-1/alerts"));
  EXPECT_EQ(all.size(), 2u);
  auto unacked = body(call("GET", "/api/devices/dev-1/alerts?acknowledged=false"));
  ASSERT_EQ(unacked.size(), 1u);
  EXPECT_EQ(unacked[0]["id"], 1);
  auto stats = body(call("GET", "/api/stats"));
  EXPECT_EQ(stats["unacknowledged_alerts"], 2);

  EXPECT_EQ(call("POST", "/api/alerts/1/acknowledge").status, 401);
  auto ok = call("POST", "/api/alerts/1/acknowledge", "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(ok.status, 200);
  EXPECT_EQ(body(ok)["acknowledged"], true);
  auto missing = call("POST", "/api/alerts/99/acknowledge", "", {{"x-api-key", "s3cret"}});
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing), (json{{"error", "Alert not found"}}));
}

}  // namespace
}  // namespace iotd::http
