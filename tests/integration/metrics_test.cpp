// GET /metrics with the real tools (docs/architecture.md §11, "Operations"): promtool checks
// the exposition of a running iotd, and a real Prometheus (Debian package) started on
// loopback scrapes it and, through its HTTP query API, sees iotd_messages_stored_total grow
// after MQTT publishes.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

class MetricsOnIotd : public ::testing::Test {
 protected:
  TempDir dir;
  MosquittoServer broker;
  std::optional<IotdProcess> iotd;

  void SetUp() override {
    iotd.emplace(IotdProcess::Options{dir / "iotd", broker.url(), {}});
    ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
        << iotd->log();
  }

  void publish(int n) {
    std::vector<OutMessage> msgs;
    for (int i = 0; i < n; ++i)
      msgs.push_back({"sensors/prom-" + std::to_string(i % 5) + "/data",
                      R"({"temperature": )" + std::to_string(20 + i % 10) + "}"});
    ASSERT_EQ(publish_all(broker.url(), "metrics-pub", msgs, 1).acknowledged, msgs.size());
  }
};

TEST_F(MetricsOnIotd, PromtoolAcceptsTheExposition) {
  IOTD_REQUIRE_PROGRAM(promtool, "promtool");
  publish(10);
  ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/readings?limit=1").json()["count"] == 1; }, 10s));
  (void)iotd->get("/no/such/route");  // an unmatched route and a 4xx in http_responses
  auto r = iotd->get("/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("\niotd_messages_stored_total 10\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\niotd_mqtt_connected 1\n"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("\niotd_http_responses_total{route=\"unmatched\",status=\"4xx\"} 1\n"), std::string::npos)
      << r.body;
  // Latency per route pattern: the unmatched request and the readings queries each under their own.
  EXPECT_NE(r.body.find("\niotd_http_request_duration_seconds_count{route=\"unmatched\"} 1\n"), std::string::npos)
      << r.body;
  EXPECT_NE(r.body.find("\niotd_http_request_duration_seconds_bucket{route=\"/api/v1/readings\",le=\"+Inf\"} "),
            std::string::npos)
      << r.body;
  write_file(dir / "metrics.txt", r.body);
  // promtool reads the exposition on stdin; its lint findings (names, units, suffixes) fail it too.
  const int status = run_process({"/bin/sh", "-c", "\"$0\" check metrics < \"$1\"", promtool.string(),
                                  (dir / "metrics.txt").string()},
                                 {.env = {}, .cwd = {}, .log_file = dir / "promtool.log"}, 30s);
  std::ifstream log(dir / "promtool.log");
  const std::string findings((std::istreambuf_iterator<char>(log)), std::istreambuf_iterator<char>());
  EXPECT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << findings;
  EXPECT_EQ(findings, "");
}

// The documents come out of the binary itself, over its real HTTP server.
TEST_F(MetricsOnIotd, TheBinaryServesTheOpenApiDocumentAndTheDocsPage) {
  auto doc = iotd->get("/openapi.json");
  ASSERT_EQ(doc.status, 200);
  EXPECT_EQ(doc.json()["openapi"], "3.1.0");
  EXPECT_TRUE(doc.json()["paths"].contains("/metrics"));
  auto page = iotd->get("/docs");
  ASSERT_EQ(page.status, 200);
  EXPECT_NE(page.body.find("/docs/redoc.standalone.js"), std::string::npos);
  auto script = iotd->get("/docs/redoc.standalone.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_GT(script.body.size(), 500'000u);
  EXPECT_EQ(iotd->request("HEAD", "/docs", "", {}).status, 200);
}

// One instant query's single sample value through Prometheus's HTTP API (nullopt: no sample).
std::optional<double> query(HttpClient& prom, const std::string& promql) {
  std::string target = "/api/v1/query?query=";
  for (unsigned char c : promql) {
    if (std::isalnum(c) || c == '_') target += static_cast<char>(c);
    else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      target += buf;
    }
  }
  auto r = prom.get(target);
  if (r.status != 200) return std::nullopt;
  auto j = json::parse(r.body);
  if (j.value("status", "") != "success" || j["data"]["result"].empty()) return std::nullopt;
  return std::stod(j["data"]["result"][0]["value"][1].get<std::string>());
}

TEST_F(MetricsOnIotd, PrometheusScrapesItAndSeesStoredMessagesGrow) {
  IOTD_REQUIRE_PROGRAM(prometheus, "prometheus");
  const auto port = free_tcp_port();
  write_file(dir / "prometheus.yml",
             "global:\n"
             "  scrape_interval: 1s\n"
             "  scrape_timeout: 1s\n"
             "scrape_configs:\n"
             "  - job_name: iotd\n"
             "    static_configs:\n"
             "      - targets: ['127.0.0.1:" + std::to_string(iotd->port()) + "']\n");
  Process prom({prometheus.string(), "--config.file=" + (dir / "prometheus.yml").string(),
                "--storage.tsdb.path=" + (dir / "tsdb").string(),
                "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=warn"},
               {.env = {}, .cwd = dir.path(), .log_file = dir / "prometheus.log"});
  ASSERT_TRUE(wait_for_tcp(port, Clock::now() + 30s)) << prom.read_log();
  HttpClient client("127.0.0.1", port);

  // The first scrapes: the target is up and nothing is stored yet.
  ASSERT_TRUE(eventually([&] { return query(client, "up{job=\"iotd\"}") == 1.0; }, 30s)) << prom.read_log();
  ASSERT_TRUE(eventually([&] { return query(client, "iotd_messages_stored_total").has_value(); }, 15s));
  EXPECT_EQ(query(client, "iotd_messages_stored_total"), 0.0);

  publish(40);
  EXPECT_TRUE(eventually([&] { return query(client, "iotd_messages_stored_total") == 40.0; }, 20s))
      << "last seen: " << query(client, "iotd_messages_stored_total").value_or(-1) << "\n" << prom.read_log();
  // The rest of what a dashboard reads, through the same scrape.
  EXPECT_EQ(query(client, "iotd_mqtt_connected"), 1.0);
  EXPECT_TRUE(eventually([&] { return query(client, "iotd_commit_duration_seconds_count").value_or(0) >= 1; }, 10s));
  EXPECT_GT(query(client, "process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_GT(query(client, "sum(iotd_http_responses_total{route=\"/metrics\"})").value_or(0), 0);
  // Every scrape is an HTTP request: the latency histogram counts them under their route.
  EXPECT_GT(query(client, "iotd_http_request_duration_seconds_count{route=\"/metrics\"}").value_or(0), 0);
  EXPECT_GT(query(client, "iotd_http_request_duration_seconds_sum{route=\"/metrics\"}").value_or(0), 0);
  EXPECT_GT(query(client, "iotd_http_request_duration_seconds_bucket{route=\"/metrics\",le=\"10\"}").value_or(0), 0);
}

}  // namespace
}  // namespace iotd::test
