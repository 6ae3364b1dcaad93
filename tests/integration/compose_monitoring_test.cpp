// The compose stack's monitoring files, proven without a Docker engine: promtool checks
// docker/prometheus/prometheus.yml; the Grafana provisioning names the datasource uid the
// dashboard uses; and every PromQL expression of docker/grafana/dashboards/iotd.json names
// only metrics a running iotd exports and returns data when run through a real Prometheus
// (Debian package) that scrapes a real iotd with the shipped scrape config.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "support/http_client.hpp"
#include "support/iotd_process.hpp"
#include "support/process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

const std::filesystem::path kSourceDir(IOTD_SOURCE_DIR);
const std::filesystem::path kPrometheusConfig = kSourceDir / "docker/prometheus/prometheus.yml";
const std::filesystem::path kDashboard = kSourceDir / "docker/grafana/dashboards/iotd.json";
const std::filesystem::path kDatasources = kSourceDir / "docker/grafana/provisioning/datasources/prometheus.yml";

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

void write_file(const std::filesystem::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// Replaces every occurrence of `from` in `s`; returns how many there were.
int replace_all(std::string& s, const std::string& from, const std::string& to) {
  int n = 0;
  for (auto at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()), ++n)
    s.replace(at, from.size(), to);
  return n;
}

struct Target {
  std::string panel;
  std::string expr;
};

// Every query target of every panel in the dashboard.
std::vector<Target> dashboard_targets(const json& dashboard) {
  std::vector<Target> out;
  for (const auto& panel : dashboard.at("panels"))
    for (const auto& t : panel.value("targets", json::array()))
      out.push_back({panel.value("title", ""), t.value("expr", "")});
  return out;
}

// The metric names a PromQL expression reads (iotd's and the process_ families; label
// names and functions never start with those prefixes).
std::vector<std::string> metric_names(const std::string& expr) {
  static const std::regex name(R"(\b(?:iotd|process)_[a-z0-9_]+)");
  std::vector<std::string> out;
  for (std::sregex_iterator it(expr.begin(), expr.end(), name), end; it != end; ++it) out.push_back(it->str());
  return out;
}

// The sample names in a Prometheus text exposition.
std::set<std::string> sample_names(const std::string& exposition) {
  std::set<std::string> out;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') continue;
    out.insert(line.substr(0, line.find_first_of("{ ")));
  }
  return out;
}

// The names in `expr` that `exported` lacks.
std::vector<std::string> unknown_names(const std::string& expr, const std::set<std::string>& exported) {
  std::vector<std::string> out;
  for (const auto& n : metric_names(expr))
    if (!exported.contains(n)) out.push_back(n);
  return out;
}

// An instant query through Prometheus's HTTP API: its result vector (nullopt: an error).
std::optional<json> query(HttpClient& prom, const std::string& promql) {
  std::string target = "/api/v1/query?query=";
  for (unsigned char c : promql) {
    if (std::isalnum(c) || c == '_') {
      target += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      target += buf;
    }
  }
  auto r = prom.get(target);
  if (r.status != 200) return std::nullopt;
  auto j = json::parse(r.body);
  if (j.value("status", "") != "success") return std::nullopt;
  return j["data"]["result"];
}

TEST(DockerComposeMonitoring, PrometheusConfigPassesPromtool) {
  IOTD_REQUIRE_PROGRAM(promtool, "promtool");
  TempDir dir;
  int status = run_process({promtool.string(), "check", "config", kPrometheusConfig.string()},
                           {.env = {}, .cwd = {}, .log_file = dir / "promtool.log"}, 30s);
  EXPECT_EQ(Process::exit_code(status), 0) << Process::describe(status) << "\n" << slurp(dir / "promtool.log");

  // The same check fails on a copy with an unknown key.
  std::string broken = slurp(kPrometheusConfig);
  ASSERT_EQ(replace_all(broken, "scrape_interval: 15s", "scrape_interval: 15s\n  not_a_key: 1"), 1);
  write_file(dir / "broken.yml", broken);
  status = run_process({promtool.string(), "check", "config", (dir / "broken.yml").string()},
                       {.env = {}, .cwd = {}, .log_file = dir / "broken.log"}, 30s);
  EXPECT_NE(Process::exit_code(status), 0) << slurp(dir / "broken.log");
  EXPECT_NE(slurp(dir / "broken.log").find("not_a_key"), std::string::npos) << slurp(dir / "broken.log");
}

// The dashboard is valid JSON, every panel queries the provisioned datasource (by uid), and
// the datasource points at the compose stack's Prometheus.
TEST(DockerComposeMonitoring, DashboardUsesTheProvisionedDatasource) {
  const json dashboard = json::parse(slurp(kDashboard));  // throws (fails) on bad JSON
  EXPECT_EQ(dashboard.value("uid", ""), "iotd");
  const std::string provisioning = slurp(kDatasources);
  EXPECT_NE(provisioning.find("uid: iotd-prometheus"), std::string::npos) << provisioning;
  EXPECT_NE(provisioning.find("url: http://prometheus:9090"), std::string::npos) << provisioning;
  ASSERT_GE(dashboard.at("panels").size(), 10u);
  std::set<int> ids;
  for (const auto& panel : dashboard.at("panels")) {
    const std::string title = panel.value("title", "");
    EXPECT_TRUE(ids.insert(panel.value("id", -1)).second) << "duplicate panel id: " << title;
    EXPECT_EQ(panel["datasource"]["uid"], "iotd-prometheus") << title;
    ASSERT_FALSE(panel.value("targets", json::array()).empty()) << title;
    for (const auto& t : panel["targets"]) {
      EXPECT_EQ(t["datasource"]["uid"], "iotd-prometheus") << title;
      EXPECT_FALSE(t.value("expr", "").empty()) << title;
    }
  }
}

class DockerComposeMonitoringOnIotd : public ::testing::Test {
 protected:
  TempDir dir;
  MosquittoServer broker;
  std::optional<IotdProcess> iotd;
  std::vector<Target> targets;

  void SetUp() override {
    targets = dashboard_targets(json::parse(slurp(kDashboard)));
    ASSERT_FALSE(targets.empty());
    iotd.emplace(IotdProcess::Options{dir / "iotd", broker.url(), {}});
    ASSERT_TRUE(eventually([&] { return iotd->get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
        << iotd->log();
  }

  // `n` readings and one payload that is not JSON (a reject, so the rejects family has a
  // sample); waits until they are stored.
  void publish(int n, int round) {
    std::vector<OutMessage> msgs;
    for (int i = 0; i < n; ++i)
      msgs.push_back({"sensors/dash-" + std::to_string(i % 4) + "/data",
                      R"({"temperature": )" + std::to_string(20 + i % 10) + "}"});
    msgs.push_back({"sensors/dash-0/data", "not json"});
    ASSERT_EQ(publish_all(broker.url(), "dash-pub-" + std::to_string(round), msgs, 1).acknowledged, msgs.size());
    ASSERT_TRUE(eventually([&] { return stored() >= n * (round + 1); }, 15s)) << iotd->get("/metrics").body;
  }

  // iotd_messages_stored_total from iotd's own /metrics.
  long stored() {
    const std::string body = iotd->get("/metrics").body;
    const std::string key = "\niotd_messages_stored_total ";
    const auto at = body.find(key);
    return at == std::string::npos ? -1 : std::stol(body.substr(at + key.size()));
  }
};

// Every metric a dashboard query names is one iotd exports (the name check fails on a
// name iotd lacks).
TEST_F(DockerComposeMonitoringOnIotd, EveryDashboardQueryNamesAnExportedMetric) {
  publish(10, 0);
  ASSERT_TRUE(eventually([&] { return iotd->get("/metrics").body.find("iotd_rejects_total{") != std::string::npos; },
                         10s));
  const auto r = iotd->get("/metrics");
  ASSERT_EQ(r.status, 200);
  const auto exported = sample_names(r.body);
  for (const auto& t : targets) {
    EXPECT_FALSE(metric_names(t.expr).empty()) << t.panel << ": " << t.expr;
    const auto unknown = unknown_names(t.expr, exported);
    EXPECT_TRUE(unknown.empty()) << t.panel << ": " << t.expr << " names " << unknown.front();
  }
  EXPECT_EQ(unknown_names("rate(iotd_messages_stored_total[1m]) / iotd_no_such_metric", exported),
            std::vector<std::string>{"iotd_no_such_metric"});
}

// The shipped scrape config (its iotd target pointed at this iotd, 1 s scrapes) feeds a
// real Prometheus; every dashboard query, with Grafana's $__rate_interval set, returns data.
TEST_F(DockerComposeMonitoringOnIotd, EveryDashboardQueryReturnsDataFromARealPrometheus) {
  IOTD_REQUIRE_PROGRAM(prometheus, "prometheus");
  std::string config = slurp(kPrometheusConfig);
  ASSERT_EQ(replace_all(config, "\"iotd:8080\"", "\"127.0.0.1:" + std::to_string(iotd->port()) + "\""), 1);
  ASSERT_EQ(replace_all(config, "scrape_interval: 15s", "scrape_interval: 1s"), 1);
  ASSERT_EQ(replace_all(config, "scrape_timeout: 5s", "scrape_timeout: 1s"), 1);
  write_file(dir / "prometheus.yml", config);
  const auto port = free_tcp_port();
  Process prom({prometheus.string(), "--config.file=" + (dir / "prometheus.yml").string(),
                "--storage.tsdb.path=" + (dir / "tsdb").string(),
                "--web.listen-address=127.0.0.1:" + std::to_string(port), "--log.level=error"},
               {.env = {}, .cwd = dir.path(), .log_file = dir / "prometheus.log"});
  ASSERT_TRUE(wait_for_tcp(port, Clock::now() + 30s)) << prom.read_log();
  HttpClient client("127.0.0.1", port);

  const auto value = [&](const std::string& promql) -> std::optional<double> {
    auto r = query(client, promql);
    if (!r || r->empty()) return std::nullopt;
    return std::stod((*r)[0]["value"][1].get<std::string>());
  };
  ASSERT_TRUE(eventually([&] { return value(R"(up{job="iotd",database="postgresql"})") == 1.0; }, 30s))
      << prom.read_log();
  publish(20, 0);
  ASSERT_TRUE(eventually([&] { return value("iotd_messages_stored_total") >= 20.0; }, 20s)) << prom.read_log();
  publish(20, 1);  // a second round inside the rate window
  ASSERT_TRUE(eventually([&] { return value("iotd_messages_stored_total") >= 40.0; }, 20s)) << prom.read_log();

  for (const auto& t : targets) {
    std::string expr = t.expr;
    replace_all(expr, "$__rate_interval", "30s");
    EXPECT_EQ(expr.find('$'), std::string::npos) << "an unhandled Grafana variable: " << t.expr;
    std::optional<json> last;
    const bool has_data = eventually(
        [&] {
          last = query(client, expr);
          return last && !last->empty();
        },
        10s);
    EXPECT_TRUE(has_data) << t.panel << ": " << expr << " -> " << (last ? last->dump() : "query error");
  }
  // The stored rate the ingest panel shows is the messages just published, not a zero series.
  EXPECT_GT(value("sum(rate(iotd_messages_stored_total[30s]))").value_or(0), 0.0);
  EXPECT_GT(value(R"(sum(rate(iotd_rejects_total{reason="not_json"}[30s])))").value_or(0), 0.0);
}

}  // namespace
}  // namespace iotd::test
