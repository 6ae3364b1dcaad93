// The devices API (issue 9) against a real, migrated SQLite database: the registry routes,
// keys (shown once, never read back, rotated, dropped on delete) through the real route
// guard and DeviceKeys map, heartbeat access, delete with and without purge, and seed 003's
// device routes in their shapes. Routes are called through the Router, behind the guard.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <soci/soci.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "iotd/http/api.hpp"
#include "iotd/http/auth.hpp"
#include "iotd/http/device_keys.hpp"
#include "iotd/storage/database.hpp"
#include "route_call.hpp"
#include "support/temp_dir.hpp"

namespace iotd::http {
namespace {

using nlohmann::json;

constexpr const char* kAdmin = "s3cret";
constexpr std::int64_t kT0 = 1'769'644'800'000;  // 2026-01-29T00:00:00Z

class DeviceApiTest : public ::testing::Test {
 protected:
  DeviceApiTest() : spec_(storage::parse_database_url("sqlite:///" + (dir_ / "iotd.db").string())) {
    storage::migrate(spec_);
    ws_ = storage::make_write_store(spec_);
    repo_ = storage::make_repository(spec_, 2);
    ApiContext ctx;
    ctx.repo = repo_.get();
    ctx.latest = &latest_;
    ctx.counters = &counters_;
    ctx.version = "test";
    ctx.device_keys = &keys_;
    ctx.device_changed = [this](const std::string& id) { changed_.push_back(id); };
    register_api_routes(router_, ctx);
    guard_ = make_route_guard(kAdmin, keys_.resolver());
  }

  Response call(const std::string& method, const std::string& target, std::string body = {},
                std::optional<std::string> key = kAdmin) {
    test::Headers headers;
    if (key) headers["x-api-key"] = *key;
    return test::route_call(router_, guard_, method, target, std::move(body), std::move(headers));
  }

  static json body(const Response& r) {
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
    return j;
  }

  // Creates a device through the API and returns its key.
  std::string create(const std::string& id, const std::string& type = "esp32") {
    auto r = call("POST", "/api/v1/devices",
                  json{{"device_id", id}, {"name", "N " + id}, {"type", type}}.dump());
    EXPECT_EQ(r.status, 201) << r.body;
    return body(r).value("api_key", "");
  }

  void store(const std::vector<Reading>& rs) {
    ws_->begin();
    ws_->insert_messages(rs);
    ws_->commit();
    latest_.load(ws_->load_latest());
  }

  static Reading reading(std::string dev, std::int64_t ts, double t, std::int64_t key) {
    Reading r;
    r.device_id = std::move(dev);
    r.ts_ms = ts;
    r.received_at_ms = ts + 5;
    r.has_device_time = true;
    r.dedup_key = key;
    r.metrics = {{"temperature", t}};
    return r;
  }

  static void expect_v1_error(const Response& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = body(r);
    EXPECT_EQ(j["error"]["code"], code) << r.body;
    EXPECT_TRUE(j["error"]["message"].is_string()) << r.body;
  }

  iotd::test::TempDir dir_;
  storage::ConnectionSpec spec_;
  std::unique_ptr<storage::WriteStore> ws_;
  std::unique_ptr<storage::Repository> repo_;
  storage::LatestCache latest_;
  Counters counters_;
  DeviceKeys keys_;
  std::vector<std::string> changed_;
  Router router_;
  RouteGuard guard_;
};

TEST_F(DeviceApiTest, CreateShowsTheKeyOnceAndNoReadShowsItOrItsHash) {
  auto r = call("POST", "/api/v1/devices",
                R"({"device_id": "esp-1", "name": "Boiler", "type": "esp32", "location": "B1",
                    "status": "maintenance", "metadata": {"fw": "1.2"}})");
  ASSERT_EQ(r.status, 201) << r.body;
  auto created = body(r);
  const std::string key = created["api_key"];
  EXPECT_EQ(key.size(), 64u);
  EXPECT_EQ(key.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(created["device_id"], "esp-1");
  EXPECT_EQ(created["name"], "Boiler");
  EXPECT_EQ(created["type"], "esp32");
  EXPECT_EQ(created["location"], "B1");
  EXPECT_EQ(created["status"], "maintenance");
  EXPECT_EQ(created["is_active"], false);
  EXPECT_EQ(created["metadata"], (json{{"fw", "1.2"}}));
  EXPECT_EQ(created["has_key"], true);
  EXPECT_TRUE(created["last_seen_at"].is_null());
  EXPECT_EQ(changed_, (std::vector<std::string>{"esp-1"}));
  EXPECT_EQ(keys_.resolve(to_hex(sha256(key))), "esp-1");

  // Stored as SHA-256 hex, never in clear.
  soci::session s(spec_.backend, spec_.connect_string);
  std::string stored;
  s << "SELECT api_key_hash FROM devices WHERE device_id = 'esp-1'", soci::into(stored);
  EXPECT_EQ(stored, to_hex(sha256(key)));

  const std::string hash = to_hex(sha256(key));
  for (const char* path : {"/api/v1/devices/esp-1", "/api/v1/devices", "/api/devices",
                           "/api/devices/esp-1"}) {
    auto g = call("GET", path, "", std::nullopt);
    EXPECT_EQ(g.status, 200) << path;
    EXPECT_EQ(g.body.find(key), std::string::npos) << path;
    EXPECT_EQ(g.body.find(hash), std::string::npos) << path;
    EXPECT_EQ(g.body.find("api_key"), std::string::npos) << path;
  }
  auto one = body(call("GET", "/api/v1/devices/esp-1", "", std::nullopt));
  EXPECT_EQ(one["name"], "Boiler");
  EXPECT_FALSE(one.contains("api_key"));
}

TEST_F(DeviceApiTest, BadBodiesAndIdsAre4xxWithTheJsonError) {
  expect_v1_error(call("POST", "/api/v1/devices", "not json"), 400, "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", "[1]"), 400, "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"name": "x"})"), 400, "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"device_id": "a b"})"), 400, "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"device_id": "a", "status": "broken"})"), 400,
                  "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"device_id": "a", "type": "a/b"})"), 400,
                  "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"device_id": "a", "metadata": [1]})"), 400,
                  "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"device_id": "a", "colour": "red"})"), 400,
                  "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"device_id": "a", "name": 5})"), 400,
                  "invalid_parameter");
  EXPECT_EQ(call("POST", "/api/v1/devices", R"({"device_id": "a"})", std::nullopt).status, 401);
  EXPECT_EQ(call("POST", "/api/v1/devices", R"({"device_id": "a"})", "wrong").status, 403);
  create("a");
  expect_v1_error(call("POST", "/api/v1/devices", R"({"device_id": "a"})"), 409, "conflict");
  expect_v1_error(call("GET", "/api/v1/devices/ghost"), 404, "not_found");
  expect_v1_error(call("GET", "/api/v1/devices/a%20b"), 400, "invalid_parameter");
  expect_v1_error(call("GET", "/api/v1/devices?status=gone"), 400, "invalid_parameter");
  expect_v1_error(call("GET", "/api/v1/devices?limit=0"), 400, "invalid_parameter");
  expect_v1_error(call("PUT", "/api/v1/devices/a", R"({"device_id": "b"})"), 400, "invalid_parameter");
  expect_v1_error(call("PATCH", "/api/v1/devices/ghost", R"({"name": "x"})"), 404, "not_found");
  expect_v1_error(call("DELETE", "/api/v1/devices/a?purge=maybe"), 400, "invalid_parameter");
  expect_v1_error(call("POST", "/api/v1/devices/ghost/key"), 404, "not_found");
}

TEST_F(DeviceApiTest, ListFiltersAndPages) {
  create("d-1", "esp32");
  create("d-2", "gateway");
  create("d-3", "esp32");
  ASSERT_EQ(call("PATCH", "/api/v1/devices/d-3", R"({"status": "inactive", "location": "roof"})").status, 200);
  auto all = body(call("GET", "/api/v1/devices", "", std::nullopt));
  EXPECT_EQ(all["count"], 3);
  EXPECT_EQ(all["limit"], 100);
  EXPECT_EQ(all["data"][0]["device_id"], "d-1");
  auto esp = body(call("GET", "/api/v1/devices?type=esp32"));
  ASSERT_EQ(esp["count"], 2);
  EXPECT_EQ(esp["data"][1]["device_id"], "d-3");
  auto inactive = body(call("GET", "/api/v1/devices?status=inactive&location=roof"));
  ASSERT_EQ(inactive["count"], 1);
  EXPECT_EQ(inactive["data"][0]["device_id"], "d-3");
  auto page = body(call("GET", "/api/v1/devices?limit=1&offset=1"));
  ASSERT_EQ(page["count"], 1);
  EXPECT_EQ(page["offset"], 1);
  EXPECT_EQ(page["data"][0]["device_id"], "d-2");
}

TEST_F(DeviceApiTest, PutReplacesPatchChangesOnlyTheGivenFields) {
  create("p-1");
  auto patched = call("PATCH", "/api/v1/devices/p-1", R"({"location": "lab", "metadata": {"a": 1}})");
  ASSERT_EQ(patched.status, 200) << patched.body;
  auto j = body(patched);
  EXPECT_EQ(j["name"], "N p-1");
  EXPECT_EQ(j["type"], "esp32");
  EXPECT_EQ(j["location"], "lab");
  EXPECT_EQ(j["metadata"], (json{{"a", 1}}));
  changed_.clear();
  auto put = call("PUT", "/api/v1/devices/p-1", R"({"name": "Renamed", "type": "gateway"})");
  ASSERT_EQ(put.status, 200) << put.body;
  j = body(put);
  EXPECT_EQ(j["name"], "Renamed");
  EXPECT_EQ(j["type"], "gateway");
  EXPECT_TRUE(j["location"].is_null());
  EXPECT_EQ(j["metadata"], json::object());
  EXPECT_EQ(j["status"], "active");
  EXPECT_EQ(changed_, (std::vector<std::string>{"p-1"})) << "the writer hears of the new type";
  EXPECT_EQ(repo_->device("p-1")->type, "gateway");
}

TEST_F(DeviceApiTest, HeartbeatTakesItsOwnKeyOrTheAdminKeyAndRotationRevokesTheOldKey) {
  const std::string k1 = create("hb-1");
  const std::string k2 = create("hb-2");
  auto own = call("POST", "/api/v1/devices/hb-1/heartbeat", "", k1);
  ASSERT_EQ(own.status, 200) << own.body;
  EXPECT_EQ(body(own)["device_id"], "hb-1");
  EXPECT_TRUE(repo_->device("hb-1")->last_seen_at_ms.has_value());
  expect_v1_error(call("POST", "/api/v1/devices/hb-1/heartbeat", "", k2), 403, "forbidden");
  EXPECT_EQ(call("POST", "/api/v1/devices/hb-1/heartbeat", "", kAdmin).status, 200);
  expect_v1_error(call("POST", "/api/v1/devices/hb-1/heartbeat", "", std::nullopt), 401, "unauthorized");
  expect_v1_error(call("POST", "/api/v1/devices/hb-1/heartbeat", "", "not-a-key"), 403, "forbidden");
  expect_v1_error(call("POST", "/api/v1/devices/ghost/heartbeat", "", kAdmin), 404, "not_found");
  // A device key is not the admin key.
  EXPECT_EQ(call("POST", "/api/v1/devices/hb-1/key", "", k1).status, 403);

  auto rotated = call("POST", "/api/v1/devices/hb-1/key");
  ASSERT_EQ(rotated.status, 200) << rotated.body;
  const std::string k1b = body(rotated)["api_key"];
  EXPECT_NE(k1b, k1);
  expect_v1_error(call("POST", "/api/v1/devices/hb-1/heartbeat", "", k1), 403, "forbidden");
  EXPECT_EQ(call("POST", "/api/v1/devices/hb-1/heartbeat", "", k1b).status, 200);
  EXPECT_EQ(call("POST", "/api/v1/devices/hb-2/heartbeat", "", k2).status, 200);
}

TEST_F(DeviceApiTest, DeleteKeepsReadingsUnlessPurgedAndDropsKeyAndLatest) {
  const std::string key = create("del-1");
  store({reading("del-1", kT0, 20, 1), reading("del-1", kT0 + 1000, 21, 2)});
  ASSERT_TRUE(latest_.device("del-1"));
  changed_.clear();
  auto r = call("DELETE", "/api/v1/devices/del-1");
  EXPECT_EQ(r.status, 204) << r.body;
  EXPECT_EQ(changed_, (std::vector<std::string>{"del-1"}));
  EXPECT_FALSE(latest_.device("del-1"));
  EXPECT_FALSE(keys_.resolve(to_hex(sha256(key))));
  EXPECT_EQ(call("POST", "/api/v1/devices/del-1/heartbeat", "", key).status, 403);
  EXPECT_EQ(call("GET", "/api/v1/devices/del-1").status, 404);
  EXPECT_EQ(call("DELETE", "/api/v1/devices/del-1").status, 404);
  EXPECT_EQ(body(call("GET", "/api/v1/readings?device_id=del-1"))["count"], 2) << "kept without purge";

  // Registered again: a new key; then purged: its readings go.
  const std::string key2 = create("del-1");
  EXPECT_NE(key2, key);
  EXPECT_EQ(call("DELETE", "/api/v1/devices/del-1?purge=true").status, 204);
  EXPECT_EQ(body(call("GET", "/api/v1/readings?device_id=del-1"))["count"], 0);
  EXPECT_FALSE(keys_.resolve(to_hex(sha256(key2))));
}

TEST_F(DeviceApiTest, Seed003DeviceRoutesKeepTheSeedShapes) {
  auto created = call("POST", "/api/devices",
                      R"({"device_id": "device-004", "device_name": "New Sensor", "device_type": "temperature",
                          "location": "Building C", "status": "active", "metadata": {"sampling_rate": "5s"}})");
  ASSERT_EQ(created.status, 201) << created.body;
  auto c = body(created);
  EXPECT_EQ(c["device_name"], "New Sensor");
  EXPECT_EQ(c["device_type"], "temperature");
  EXPECT_EQ(c["metadata"], (json{{"sampling_rate", "5s"}}));
  EXPECT_TRUE(c["last_seen"].is_null());
  EXPECT_EQ(c["api_key"].get<std::string>().size(), 64u);
  EXPECT_EQ(call("POST", "/api/devices", R"({"device_id": "x"})", std::nullopt).status, 401)
      << "writes need the admin key (the documented deviation)";
  auto dup = call("POST", "/api/devices", R"({"device_id": "device-004"})");
  EXPECT_EQ(dup.status, 409);
  EXPECT_TRUE(body(dup)["error"].is_string());

  auto list = body(call("GET", "/api/devices?type=temperature", "", std::nullopt));
  ASSERT_TRUE(list.is_array());
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["device_id"], "device-004");
  EXPECT_EQ(body(call("GET", "/api/devices?status=inactive")), json::array());

  auto updated = call("PUT", "/api/devices/device-004", R"({"device_name": "Updated Sensor", "location": "Building D"})");
  ASSERT_EQ(updated.status, 200) << updated.body;
  EXPECT_EQ(body(updated)["device_name"], "Updated Sensor");
  EXPECT_EQ(body(updated)["device_type"], "temperature") << "the seed's PUT keeps the other fields";
  EXPECT_EQ(body(call("GET", "/api/devices/device-004"))["location"], "Building D");
  auto missing = call("GET", "/api/devices/device-999");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(body(missing), (json{{"error", "Device not found"}}));

  auto hb = call("POST", "/api/devices/device-004/heartbeat");
  ASSERT_EQ(hb.status, 200) << hb.body;
  EXPECT_EQ(body(hb)["message"], "Heartbeat recorded");
  EXPECT_TRUE(body(call("GET", "/api/devices/device-004"))["last_seen"].is_string());

  auto alert = call("POST", "/api/devices/device-004/alerts",
                    R"({"alert_type": "high_temperature", "severity": "warning", "message": "Temperature exceeded threshold"})");
  ASSERT_EQ(alert.status, 201) << alert.body;
  EXPECT_EQ(body(alert)["message"], "Temperature exceeded threshold");
  auto alerts = body(call("GET", "/api/devices/device-004/alerts"));
  ASSERT_EQ(alerts.size(), 1u);
  EXPECT_EQ(alerts[0]["severity"], "warning");
  EXPECT_EQ(call("POST", "/api/devices/device-004/alerts", R"({"severity": "loud"})").status, 400);
  EXPECT_EQ(call("POST", "/api/devices/device-999/alerts", R"({"message": "x"})").status, 404);

  Reading r = reading("device-004", kT0, 23.5, 9);
  r.extra_json = R"({"unit":"celsius"})";
  store({r, reading("device-004", kT0 + 1000, 24, 10)});
  auto raw = body(call("GET", "/api/devices/device-004/raw-data?limit=1&offset=1"));
  ASSERT_TRUE(raw.is_array());
  ASSERT_EQ(raw.size(), 1u);
  EXPECT_EQ(raw[0]["data"], (json{{"temperature", 23.5}, {"unit", "celsius"}}));
  EXPECT_EQ(raw[0]["timestamp"], "2026-01-29T00:00:00.000Z");
  EXPECT_EQ(body(call("GET", "/api/devices/device-004/raw-data")).size(), 2u);
  EXPECT_EQ(call("GET", "/api/devices/device-004/raw-data?limit=0").status, 400);

  create("v1-dev");
  ASSERT_EQ(call("PATCH", "/api/v1/devices/v1-dev", R"({"status": "maintenance"})").status, 200);
  auto stats = body(call("GET", "/api/stats"));
  EXPECT_EQ(stats["total_devices"], 2);
  EXPECT_EQ(stats["device_by_status"],
            (json::array({{{"status", "active"}, {"count", 1}}, {{"status", "maintenance"}, {"count", 1}}})));

  auto del = call("DELETE", "/api/devices/device-004");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(body(del)["message"], "Device deleted successfully");
  EXPECT_EQ(call("GET", "/api/devices/device-004").status, 404);
  EXPECT_EQ(body(call("GET", "/api/stats"))["total_devices"], 1);
}

}  // namespace
}  // namespace iotd::http
