// The real route table's access levels, walked route by route against an expected table:
// a route added without an entry here fails, so none ships open by accident. Then the real
// guard in front of the real routes: no protected route runs its handler without its key.
#include <gtest/gtest.h>

#include <map>
#include <set>
#include <string>
#include <utility>

#include "iotd/http/api.hpp"
#include "iotd/http/auth.hpp"

namespace iotd::http {
namespace {

using Key = std::pair<std::string, std::string>;  // method, pattern

const std::map<Key, Access>& expected_access() {
  static const std::map<Key, Access> table{
      {{"GET", "/api/v1/health"}, Access::open},
      {{"GET", "/api/v1/health/live"}, Access::open},
      {{"GET", "/api/v1/readings/latest"}, Access::open},
      {{"GET", "/api/v1/readings"}, Access::open},
      {{"GET", "/api/v1/stats"}, Access::open},
      {{"GET", "/api/v1/aggregate"}, Access::open},
      {{"GET", "/api/v1/export"}, Access::open},
      {{"GET", "/api/v1/alerts"}, Access::open},
      {{"POST", "/api/v1/alerts"}, Access::admin},
      {{"GET", "/api/v1/alerts/{id}"}, Access::open},
      {{"POST", "/api/v1/alerts/{id}/ack"}, Access::admin},
      {{"GET", "/api/v1/rejects"}, Access::admin},
      {{"GET", "/api/v1/rules"}, Access::open},
      {{"PUT", "/api/v1/rules/{metric}"}, Access::admin},
      {{"DELETE", "/api/v1/rules/{metric}"}, Access::admin},
      // Devices (issue 9).
      {{"GET", "/api/v1/devices"}, Access::open},
      {{"POST", "/api/v1/devices"}, Access::admin},
      {{"GET", "/api/v1/devices/{id}"}, Access::open},
      {{"PUT", "/api/v1/devices/{id}"}, Access::admin},
      {{"PATCH", "/api/v1/devices/{id}"}, Access::admin},
      {{"DELETE", "/api/v1/devices/{id}"}, Access::admin},
      {{"POST", "/api/v1/devices/{id}/heartbeat"}, Access::device_or_admin},
      {{"POST", "/api/v1/devices/{id}/key"}, Access::admin},
      {{"GET", "/api/devices"}, Access::open},
      {{"POST", "/api/devices"}, Access::admin},
      {{"GET", "/api/devices/{id}"}, Access::open},
      {{"PUT", "/api/devices/{id}"}, Access::admin},
      {{"DELETE", "/api/devices/{id}"}, Access::admin},
      {{"POST", "/api/devices/{id}/heartbeat"}, Access::device_or_admin},
      {{"POST", "/api/devices/{id}/alerts"}, Access::admin},
      {{"GET", "/api/devices/{id}/raw-data"}, Access::open},
      // HTTP ingest (issue 9)
      {{"POST", "/api/v1/ingest"}, Access::device_or_admin},
      {{"POST", "/api/v1/ingest/batch"}, Access::device_or_admin},
      {{"GET", "/api/v1/devices/{id}/history"}, Access::open},
      {{"GET", "/api/v1/devices/{id}/aggregate"}, Access::open},
      {{"GET", "/api/health"}, Access::open},
      {{"GET", "/api/sensors/latest"}, Access::open},
      {{"GET", "/api/sensors/history"}, Access::open},
      {{"GET", "/api/sensors/stats"}, Access::open},
      {{"GET", "/api/sensors/ml-data"}, Access::open},
      {{"GET", "/health"}, Access::open},
      {{"GET", "/sensors/latest"}, Access::open},
      {{"GET", "/sensors/history"}, Access::open},
      {{"GET", "/alerts"}, Access::open},
      {{"GET", "/stats"}, Access::open},
      {{"GET", "/api/devices/{id}/metrics"}, Access::open},
      {{"GET", "/api/devices/{id}/alerts"}, Access::open},
      {{"POST", "/api/alerts/{id}/acknowledge"}, Access::admin},
      {{"GET", "/api/stats"}, Access::open},
      // Commands (issue 9): admin, reads included (parameters may carry secrets).
      {{"POST", "/api/v1/devices/{id}/commands"}, Access::admin},
      {{"GET", "/api/v1/devices/{id}/commands"}, Access::admin},
      {{"GET", "/api/v1/devices/{id}/commands/{command_id}"}, Access::admin},
      {{"POST", "/api/control"}, Access::admin},
      // Operations (issue 11).
      {{"GET", "/metrics"}, Access::open},
      {{"GET", "/openapi.json"}, Access::open},
      {{"GET", "/docs"}, Access::open},
      {{"GET", "/docs/redoc.standalone.js"}, Access::open},
      // Dashboard (issue 10).
      {{"GET", "/"}, Access::open},
      {{"GET", "/dashboard/{file}"}, Access::open},
  };
  return table;
}

Router real_routes() {
  Router router;
  register_api_routes(router, ApiContext{});  // no database: a handler that runs answers 503
  return router;
}

TEST(RouteTable, EveryRouteHasTheExpectedAccess) {
  const Router router = real_routes();
  std::set<Key> seen;
  for (const auto& route : router.routes()) {
    const Key key{route.method, route.pattern};
    EXPECT_TRUE(seen.insert(key).second) << route.method << " " << route.pattern << " registered twice";
    auto it = expected_access().find(key);
    if (it == expected_access().end()) {
      ADD_FAILURE() << route.method << " " << route.pattern << " (access " << to_string(route.access)
                    << ") is not in the expected access table: add it there with its access";
      continue;
    }
    EXPECT_EQ(to_string(route.access), std::string(to_string(it->second))) << route.method << " " << route.pattern;
  }
  for (const auto& [key, access] : expected_access())
    EXPECT_TRUE(seen.count(key)) << key.first << " " << key.second << " is expected but not registered";
}

TEST(RouteTable, NoWriteIsOpen) {
  const Router router = real_routes();
  for (const auto& route : router.routes()) {
    if (route.method != "GET" && route.method != "HEAD") {
      EXPECT_NE(route.access, Access::open) << route.method << " " << route.pattern;
    }
  }
}

// A concrete path for a pattern: {params} become "1".
std::string path_of(const std::string& pattern) {
  std::string out;
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '{') {
      i = pattern.find('}', i);
      out += '1';
    } else {
      out += pattern[i];
    }
  }
  return out;
}

TEST(RouteTable, TheGuardStopsEveryProtectedRouteWithoutItsKey) {
  const Router router = real_routes();
  const RouteGuard guard = make_route_guard("s3cret-admin-key");
  int protected_routes = 0;
  for (const auto& route : router.routes()) {
    Request req;
    req.method = route.method;
    req.path = req.target = path_of(route.pattern);
    auto m = router.match(req.method, req.path);
    ASSERT_EQ(m.route, &route) << req.path;
    auto denied = guard(route, req);
    if (route.access == Access::open) {
      EXPECT_FALSE(denied) << route.pattern << " is open but the guard refused it";
      continue;
    }
    ++protected_routes;
    ASSERT_TRUE(denied) << route.method << " " << route.pattern << " passed the guard without a key";
    EXPECT_EQ(denied->status, 401) << route.pattern;
    req.headers["x-api-key"] = "wrong";
    auto wrong = guard(route, req);
    ASSERT_TRUE(wrong) << route.pattern;
    EXPECT_EQ(wrong->status, 403) << route.pattern;
    if (route.access == Access::admin) {
      req.headers["x-api-key"] = "s3cret-admin-key";
      EXPECT_FALSE(guard(route, req)) << route.pattern << " refused the admin key";
    }
  }
  // ack x2, rejects, manual alert, rule put and delete (6); devices (issue 9): v1 post, put,
  // patch, delete, heartbeat, key, seed 003 post, put, delete, heartbeat, alerts (11);
  // commands (issue 9): v1 post, list, show, seed 002 control (4); ingest, ingest/batch (2).
  EXPECT_EQ(protected_routes, 23);
}

}  // namespace
}  // namespace iotd::http
