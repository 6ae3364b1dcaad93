// The operations routes (issue 11) through the real route table, no sockets: /metrics
// renders every metric of the registry (also ones added later) and the process metrics;
// /openapi.json documents exactly the routes the router has, with the access each declares;
// /docs and its script are served from the binary and load nothing from another host.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>

#include "iotd/core/assets.hpp"
#include "iotd/http/api.hpp"
#include "route_call.hpp"

namespace iotd::http {
namespace {

using nlohmann::json;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

class OperationsRoutes : public ::testing::Test {
 protected:
  void SetUp() override {
    ApiContext ctx;
    ctx.counters = &counters_;
    ctx.sample_metrics = [this] {
      ++samples_;
      counters_.journal_backlog_frames = 42;
    };
    register_api_routes(router_, std::move(ctx));
  }

  Response get(const std::string& path) {
    auto m = router_.match("GET", path);
    EXPECT_NE(m.route, nullptr) << path;
    if (!m.route) return {};
    EXPECT_EQ(m.route->exec, Exec::io) << path << " must answer from memory";
    EXPECT_EQ(m.route->access, Access::open) << path;
    return test::route_call(router_, RouteGuard{}, "GET", path);
  }

  json openapi() {
    auto r = get("/openapi.json");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.content_type, "application/json");
    return json::parse(r.body);
  }

  Counters counters_;
  int samples_ = 0;
  Router router_;
};

TEST_F(OperationsRoutes, MetricsRenderTheRegistryAfterSamplingAndTheProcessMetrics) {
  counters_.messages_stored += 3;
  counters_.add_reject("not_json", 2);
  counters_.record_commit(std::chrono::milliseconds(3), 7);
  auto r = get("/metrics");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.content_type, "text/plain; version=0.0.4; charset=utf-8");
  EXPECT_EQ(samples_, 1);
  const std::string& b = r.body;
  EXPECT_NE(b.find("\niotd_messages_stored_total 3\n"), std::string::npos) << b;
  EXPECT_NE(b.find("\niotd_rejects_total{reason=\"not_json\"} 2\n"), std::string::npos) << b;
  EXPECT_NE(b.find("\niotd_commit_batch_size_bucket{le=\"10\"} 1\n"), std::string::npos) << b;
  EXPECT_NE(b.find("\niotd_journal_backlog_frames 42\n"), std::string::npos) << "sampled before rendering\n" << b;
  EXPECT_NE(b.find("# TYPE iotd_journal_size_bytes gauge\n"), std::string::npos) << b;
  EXPECT_NE(b.find("# TYPE iotd_http_request_duration_seconds histogram\n"), std::string::npos) << b;
  for (const char* family : {"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
                             "process_max_fds", "process_start_time_seconds", "process_virtual_memory_bytes"}) {
    const auto at = b.find(std::string("\n") + family + " ");
    ASSERT_NE(at, std::string::npos) << family << "\n" << b;
    const double v = std::stod(b.substr(at + std::string(family).size() + 2));
    // CPU time can still read 0 in a process that ran for less than a clock tick (the test
    // alone under --gtest_filter); every other family is positive in any live process.
    if (std::string_view(family) == "process_cpu_seconds_total")
      EXPECT_GE(v, 0) << family;
    else
      EXPECT_GT(v, 0) << family;
  }
}

// Every metric declared in the registry has its family in the text, whoever declared it:
// what another module adds to Counters shows up without touching the route.
TEST_F(OperationsRoutes, EveryRegisteredMetricHasAFamily) {
  const auto body = get("/metrics").body;
  ASSERT_FALSE(counters_.metrics().empty());
  for (const auto* m : counters_.metrics()) {
    const std::string prefix = "# TYPE iotd_" + std::string(m->info().name);
    EXPECT_NE(body.find(prefix), std::string::npos) << m->info().name << " missing from /metrics";
  }
}

TEST_F(OperationsRoutes, EveryRouteIsDocumentedAndEveryDocumentedOperationIsRouted) {
  const json doc = openapi();
  ASSERT_EQ(doc.value("openapi", ""), "3.1.0");
  const json& paths = doc.at("paths");
  std::set<std::pair<std::string, std::string>> routed;
  std::ostringstream missing, extra;
  for (const auto& route : router_.routes()) {
    routed.emplace(lower(route.method), route.pattern);
    if (!paths.contains(route.pattern) || !paths[route.pattern].contains(lower(route.method)))
      missing << "\n  " << route.method << " " << route.pattern;
  }
  static const std::set<std::string> kMethods{"get", "put", "post", "delete", "patch", "head", "options", "trace"};
  for (const auto& [path, item] : paths.items())
    for (const auto& [method, _] : item.items())
      if (kMethods.count(method) && !routed.count({method, path}))
        extra << "\n  " << method << " " << path;
  EXPECT_EQ(missing.str(), "") << "routes missing from docs/openapi.json (add them):" << missing.str();
  EXPECT_EQ(extra.str(), "") << "operations in docs/openapi.json that no route serves:" << extra.str();
}

// The security schemes an operation lists, as the access they stand for: none -> open;
// admin* -> admin; device* -> device; both -> device_or_admin.
std::string documented_access(const json& operation) {
  if (!operation.contains("security")) return "(no security: say [] for an open route)";
  bool admin = false, device = false, other = false;
  for (const auto& requirement : operation["security"])
    for (const auto& [scheme, _] : requirement.items()) {
      if (scheme.rfind("admin", 0) == 0) {
        admin = true;
      } else if (scheme.rfind("device", 0) == 0) {
        device = true;
      } else {
        other = true;
      }
    }
  if (other) return "(unknown scheme)";
  if (admin && device) return "device_or_admin";
  if (admin) return "admin";
  if (device) return "device";
  return "open";
}

TEST_F(OperationsRoutes, DocumentedSecurityMatchesEachRoutesAccess) {
  const json doc = openapi();
  const json& schemes = doc.at("components").at("securitySchemes");
  for (const auto& route : router_.routes()) {
    const auto& paths = doc.at("paths");
    if (!paths.contains(route.pattern) || !paths[route.pattern].contains(lower(route.method))) continue;  // above
    const json& op = paths[route.pattern][lower(route.method)];
    EXPECT_EQ(documented_access(op), to_string(route.access)) << route.method << " " << route.pattern;
    for (const auto& requirement : op.value("security", json::array())) {
      for (const auto& [scheme, _] : requirement.items())
        EXPECT_TRUE(schemes.contains(scheme)) << route.method << " " << route.pattern << ": " << scheme;
    }
    if (route.access != Access::open) {
      EXPECT_TRUE(op["responses"].contains("401")) << route.method << " " << route.pattern;
      EXPECT_TRUE(op["responses"].contains("403")) << route.method << " " << route.pattern;
    }
  }
}

// Every {name} in a pattern is a documented path parameter of its operation.
TEST_F(OperationsRoutes, PathParametersAreDocumented) {
  const json doc = openapi();
  const json& shared = doc.at("components").at("parameters");
  for (const auto& route : router_.routes()) {
    const auto& paths = doc.at("paths");
    if (!paths.contains(route.pattern) || !paths[route.pattern].contains(lower(route.method))) continue;
    std::set<std::string> documented;
    for (const auto& p : paths[route.pattern][lower(route.method)].value("parameters", json::array())) {
      json param = p;
      if (p.contains("$ref")) {
        const std::string ref = p["$ref"];
        param = shared.at(ref.substr(ref.rfind('/') + 1));
      }
      if (param.value("in", "") == "path") documented.insert(param.value("name", ""));
    }
    for (std::size_t open = route.pattern.find('{'); open != std::string::npos; open = route.pattern.find('{', open + 1)) {
      const auto name = route.pattern.substr(open + 1, route.pattern.find('}', open) - open - 1);
      EXPECT_TRUE(documented.count(name)) << route.method << " " << route.pattern << ": path parameter " << name;
    }
  }
}

TEST_F(OperationsRoutes, DocsPageAndScriptAreServedWithoutAnotherHost) {
  auto page = get("/docs");
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("spec-url=\"/openapi.json\""), std::string::npos) << page.body;
  EXPECT_NE(page.body.find("src=\"/docs/redoc.standalone.js\""), std::string::npos) << page.body;
  EXPECT_EQ(page.body.find("http://"), std::string::npos) << page.body;
  EXPECT_EQ(page.body.find("https://"), std::string::npos) << page.body;
  EXPECT_EQ(get("/docs/").body, page.body);

  auto script = get("/docs/redoc.standalone.js");
  EXPECT_EQ(script.status, 200);
  EXPECT_EQ(script.content_type, "text/javascript; charset=utf-8");
  EXPECT_GT(script.body.size(), 500'000u) << "the whole Redoc bundle";
  EXPECT_NE(script.body.find("Redoc"), std::string::npos);
  // The bundle names hosts in licences, links and JSON Schema ids; what it must not do is
  // load a resource from one: no CDN host, no image or script source off this server.
  for (const char* s : {"cdn.", "unpkg.com", "jsdelivr", "googleapis", "cdnjs", "src:\"http", "src=\"http"})
    EXPECT_EQ(script.body.find(s), std::string::npos) << s;
}

TEST(EmbeddedAssets, FindByPath) {
  const auto table = assets::operations();
  ASSERT_EQ(table.size(), 3u);
  ASSERT_NE(assets::find(table, "/openapi.json"), nullptr);
  EXPECT_EQ(assets::find(table, "/openapi.json")->content_type, "application/json");
  EXPECT_EQ(assets::find(table, "/nope"), nullptr);
  // Bytes are the file's, whole: the document parses and ends where the file does.
  EXPECT_TRUE(json::accept(assets::find(table, "/openapi.json")->bytes));
  EXPECT_EQ(assets::find(table, "/docs")->bytes.back(), '\n');
}

}  // namespace
}  // namespace iotd::http
