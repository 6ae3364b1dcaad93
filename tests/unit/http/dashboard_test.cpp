// The dashboard (issue 10) through the real route table, no sockets: GET / is the page and
// every file it names is served at /dashboard/{file} with its content type; nothing in the
// page, its script or its style sheet loads from another host.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <optional>
#include <regex>
#include <set>
#include <string>

#include "iotd/core/assets.hpp"
#include "iotd/http/api.hpp"
#include "route_call.hpp"

namespace iotd::http {
namespace {

class DashboardRoutes : public ::testing::Test {
 protected:
  void SetUp() override { register_api_routes(router_, ApiContext{}); }

  Response get(const std::string& path) {
    auto m = router_.match("GET", path);
    EXPECT_NE(m.route, nullptr) << path;
    if (!m.route) return {};
    EXPECT_EQ(m.route->exec, Exec::io) << path << " must answer from memory";
    EXPECT_EQ(m.route->access, Access::open) << path;
    return test::route_call(router_, RouteGuard{}, "GET", path);
  }

  Router router_;
};

TEST_F(DashboardRoutes, PageAndEveryAssetItNamesAnswer200WithTheirContentType) {
  auto page = get("/");
  ASSERT_EQ(page.status, 200);
  EXPECT_EQ(page.content_type, "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("<title>iotd dashboard</title>"), std::string::npos) << page.body;

  // Every local file the page names, found in the page itself.
  std::set<std::string> named;
  const std::regex ref(R"re((?:src|href)="(/dashboard/[^"]+)")re");
  for (std::sregex_iterator it(page.body.begin(), page.body.end(), ref), end; it != end; ++it)
    named.insert((*it)[1].str());
  const std::set<std::string> expected = {"/dashboard/app.js", "/dashboard/style.css", "/dashboard/uPlot.min.js",
                                          "/dashboard/uPlot.min.css"};
  EXPECT_EQ(named, expected);

  for (const auto& path : named) {
    auto r = get(path);
    EXPECT_EQ(r.status, 200) << path;
    const bool js = path.ends_with(".js");
    EXPECT_EQ(r.content_type, js ? "text/javascript; charset=utf-8" : "text/css; charset=utf-8") << path;
    EXPECT_GT(r.body.size(), 1000u) << path;
  }
  EXPECT_NE(get("/dashboard/uPlot.min.js").body.find("uPlot"), std::string::npos);
  EXPECT_NE(get("/dashboard/app.js").body.find("/api/v1/stream"), std::string::npos);
}

TEST_F(DashboardRoutes, NothingLoadsFromAnotherHost) {
  for (const char* path : {"/", "/dashboard/app.js", "/dashboard/style.css", "/dashboard/uPlot.min.css"}) {
    const auto body = get(path).body;
    EXPECT_EQ(body.find("http://"), std::string::npos) << path;
    EXPECT_EQ(body.find("https://"), std::string::npos) << path;
    EXPECT_EQ(body.find("//cdn"), std::string::npos) << path;
  }
  // uPlot's bundle: no script, style or font from a host.
  const auto lib = get("/dashboard/uPlot.min.js").body;
  for (const char* s : {"cdn.", "unpkg.com", "jsdelivr", "googleapis", "src=\"http", "url(http"})
    EXPECT_EQ(lib.find(s), std::string::npos) << s;
}

TEST_F(DashboardRoutes, UnknownFileIs404WithTheJsonError) {
  for (const char* path : {"/dashboard/nope.js", "/dashboard/index.html"}) {
    auto r = get(path);
    EXPECT_EQ(r.status, 404) << path;
    EXPECT_EQ(r.content_type.rfind("application/json", 0), 0u) << r.content_type;
    const auto j = nlohmann::json::parse(r.body);
    EXPECT_EQ(j["error"]["code"], "not_found") << r.body;
  }
  // The page is cached only after revalidation, so an upgraded iotd serves its own script.
  bool no_cache = false;
  for (const auto& [k, v] : get("/").headers) no_cache |= (k == "Cache-Control" && v == "no-cache");
  EXPECT_TRUE(no_cache);
}

TEST(DashboardAssets, TableHoldsThePageAndItsFiles) {
  const auto table = assets::dashboard();
  ASSERT_EQ(table.size(), 5u);
  ASSERT_NE(assets::find(table, "/"), nullptr);
  EXPECT_EQ(assets::find(table, "/")->bytes.back(), '\n');
}

}  // namespace
}  // namespace iotd::http
