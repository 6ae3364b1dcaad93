// The health routes on their own (no database, no sockets): /api/v1/health renders the
// health policy's verdict and every metric of the registry; the other three are constant.
#include "iotd/http/health_routes.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace iotd::http {
namespace {

using nlohmann::json;

class HealthRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiContext ctx;
    ctx.counters = &counters_;
    ctx.health = [this] { return health_; };
    ctx.version = "9.8.7";
    register_health_routes(router_, ctx);
    health_.mqtt_connected = true;
  }

  Response get(const std::string& path) {
    auto m = router_.match("GET", path);
    EXPECT_NE(m.route, nullptr) << path;
    if (!m.route) return {};
    EXPECT_EQ(m.route->exec, Exec::io) << path;
    std::optional<Response> out;
    m.route->handler(Request{}, m.params, [&](Response r) { out = std::move(r); });
    return out.value_or(Response{});
  }

  Counters counters_;
  HealthSnapshot health_;
  Router router_;
};

TEST_F(HealthRoutesTest, RegistersTheFourHealthRoutes) {
  std::vector<std::string> patterns;
  for (const auto& r : router_.routes()) patterns.push_back(r.method + " " + r.pattern);
  EXPECT_EQ(patterns, (std::vector<std::string>{"GET /api/v1/health", "GET /api/v1/health/live",
                                                "GET /api/health", "GET /health"}));
  EXPECT_EQ(get("/api/v1/health/live").body, R"({"status":"alive"})");
  EXPECT_EQ(json::parse(get("/api/health").body),
            (json{{"status", "healthy"}, {"service", "iotd"}, {"version", "9.8.7"}}));
  EXPECT_EQ(json::parse(get("/health").body)["status"], "healthy");
}

TEST_F(HealthRoutesTest, CountersObjectHasOneEntryPerRegisteredMetric) {
  auto j = json::parse(get("/api/v1/health").body)["counters"];
  std::vector<std::string> expected;
  for (const auto* m : counters_.metrics()) {
    std::string key(m->info().name);
    if (m->info().unit == metrics::Unit::seconds) key += "_seconds";  // histograms in seconds
    expected.push_back(key);
  }
  for (const auto& k : expected) EXPECT_TRUE(j.contains(k)) << k;
  // Labelled counters add "<name>_total"; nothing else.
  EXPECT_EQ(j.size(), expected.size() + 4) << j.dump();
  EXPECT_TRUE(j.contains("rejects_total"));
  EXPECT_TRUE(j.contains("http_responses_total"));
  EXPECT_TRUE(j.contains("commands_total"));  // commands by state (issue 9)
  EXPECT_TRUE(j.contains("retention_deleted_rows_total"));  // rows deleted by table (issue 11)
  EXPECT_TRUE(j["last_commit_at"].is_null()) << "never committed";
  EXPECT_EQ(j["rejects"], json::object());
  EXPECT_EQ(j["rejects_total"], 0);
}

TEST_F(HealthRoutesTest, CountersKeepTheirKeysAndValues) {
  counters_.messages_stored = 7;
  counters_.mqtt_received += 9;
  counters_.last_commit_at_ms = 1'769'644'800'123;
  counters_.add_reject("not_json", 2);
  counters_.add_reject("no_metrics");
  counters_.record_commit(std::chrono::milliseconds(2), 3);
  const std::vector<std::string> routes{"/api/v1/health", "/api/v1/readings"};
  counters_.set_http_routes(routes);
  counters_.record_http_response(0, 200);
  counters_.record_http_response(0, 200);
  counters_.record_http_response(1, 400);
  counters_.record_http_response(metrics::RouteStatusCounter::kUnmatched, 404);
  auto j = json::parse(get("/api/v1/health").body)["counters"];
  EXPECT_EQ(j["messages_stored"], 7);
  EXPECT_EQ(j["mqtt_received"], 9);
  EXPECT_EQ(j["http_requests"], 4);
  EXPECT_EQ(j["last_commit_at"], "2026-01-29T00:00:00.123Z");
  EXPECT_EQ(j["rejects"], (json{{"no_metrics", 1}, {"not_json", 2}}));
  EXPECT_EQ(j["rejects_total"], 3);
  EXPECT_EQ(j["http_responses"], (json{{"/api/v1/health", {{"2xx", 2}}},
                                       {"/api/v1/readings", {{"4xx", 1}}},
                                       {"unmatched", {{"4xx", 1}}}}));
  EXPECT_EQ(j["http_responses_total"], 4);
  const auto& d = j["commit_duration_seconds"];
  EXPECT_EQ(d["count"], 1);
  EXPECT_NEAR(d["sum"].get<double>(), 0.002, 1e-12);
  EXPECT_EQ(d["buckets"]["0.0005"], 0);
  EXPECT_EQ(d["buckets"]["0.001"], 0);
  EXPECT_EQ(d["buckets"]["0.0025"], 1);
  EXPECT_EQ(d["buckets"]["+Inf"], 1);
  EXPECT_EQ(j["commit_batch_size"]["buckets"]["5"], 1);
  EXPECT_EQ(j["commit_batch_size"]["sum"], 3.0);
}

TEST_F(HealthRoutesTest, DatabaseOutageGives503WithOneDatabaseReason) {
  health_.database_ok = false;
  health_.database_error = "connection refused";
  health_.journal_backlog = 12;
  auto r = get("/api/v1/health");
  EXPECT_EQ(r.status, 503);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["status"], "unavailable");
  EXPECT_EQ(j["reasons"], (json{"database unreachable: connection refused"}));
  EXPECT_EQ(j["database"]["ok"], false);
  EXPECT_EQ(j["database"]["error"], "connection refused");
  EXPECT_EQ(j["journal"]["backlog"], 12);
  EXPECT_EQ(j["version"], "9.8.7");
  EXPECT_TRUE(j["counters"].contains("messages_stored")) << "503 still carries the counters";
}

TEST_F(HealthRoutesTest, DegradedIs200AndNoStore) {
  health_.mqtt_connected = false;
  health_.mqtt_state = "connecting";
  auto r = get("/api/v1/health");
  EXPECT_EQ(r.status, 200);
  auto j = json::parse(r.body);
  EXPECT_EQ(j["status"], "degraded");
  EXPECT_EQ(j["reasons"], (json{"mqtt connecting"}));
  bool no_store = false;
  for (const auto& [k, v] : r.headers) no_store |= k == "Cache-Control" && v == "no-store";
  EXPECT_TRUE(no_store);
}

TEST(HealthRoutes, WithoutCountersOrHealthSourceAnswersOkWithEmptyCounters) {
  Router router;
  ApiContext ctx;
  ctx.version = "1.0";
  ctx.health = [] {
    HealthSnapshot h;
    h.mqtt_enabled = false;
    return h;
  };
  register_health_routes(router, ctx);
  auto m = router.match("GET", "/api/v1/health");
  ASSERT_NE(m.route, nullptr);
  Response out;
  m.route->handler(Request{}, m.params, [&](Response r) { out = std::move(r); });
  EXPECT_EQ(out.status, 200);
  auto j = json::parse(out.body);
  EXPECT_EQ(j["status"], "ok");
  EXPECT_EQ(j["counters"], json::object());
  EXPECT_EQ(j["version"], "1.0");
}

}  // namespace
}  // namespace iotd::http
