// The route guard: each Access level enforced before the handler runs, through a Router as
// the server dispatches (match, guard, handler), with handlers that count their calls.
#include "iotd/http/auth.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <map>
#include <optional>
#include <string>
#include <utility>

namespace iotd::http {
namespace {

using nlohmann::json;

constexpr const char* kAdminKey = "s3cret-admin-key";
constexpr const char* kDeviceKey = "device-key-of-esp-1";

class AuthTest : public ::testing::Test {
 protected:
  AuthTest() {
    add("GET", "/open", Access::open);
    add("POST", "/admin", Access::admin);
    add("POST", "/device", Access::device);
    add("POST", "/heartbeat", Access::device_or_admin);
  }

  // A resolver that knows one key, by its hash, as a device-key store would.
  static DeviceKeyResolver one_device() {
    return [hash = to_hex(sha256(kDeviceKey))](std::string_view h) -> std::optional<std::string> {
      if (h == hash) return std::string("esp-1");
      return std::nullopt;
    };
  }

  struct Served {
    Response response;
    int handler_calls = 0;
    std::string auth_device;  // as the handler saw it
  };

  Served serve(const RouteGuard& guard, const std::string& method, const std::string& path,
               std::map<std::string, std::string> headers = {}) {
    Served s;
    calls_ = 0;
    seen_device_.clear();
    Request req;
    req.method = method;
    req.path = req.target = path;
    req.headers = std::move(headers);
    auto m = router_.match(method, path);
    EXPECT_NE(m.route, nullptr) << path;
    if (!m.route) return s;
    if (auto denied = guard(*m.route, req)) {
      s.response = std::move(*denied);
    } else {
      m.route->handler(req, m.params, [&](Response r) { s.response = std::move(r); });
    }
    s.handler_calls = calls_;
    s.auth_device = seen_device_;
    return s;
  }

  static json body(const Response& r) {
    auto j = json::parse(r.body, nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << "not JSON: " << r.body;
    return j;
  }

  static std::optional<std::string> header(const Response& r, const std::string& name) {
    for (const auto& [k, v] : r.headers)
      if (k == name) return v;
    return std::nullopt;
  }

  static void expect_denied(const Served& s, int status, const std::string& code,
                            const std::string& message) {
    EXPECT_EQ(s.response.status, status) << s.response.body;
    EXPECT_EQ(s.handler_calls, 0) << "the handler ran although the guard refused";
    EXPECT_EQ(s.response.content_type, "application/json");
    EXPECT_EQ(body(s.response), (json{{"error", {{"code", code}, {"message", message}}}}));
    if (status == 401) {
      EXPECT_EQ(header(s.response, "WWW-Authenticate"), "Bearer");
    } else {
      EXPECT_FALSE(header(s.response, "WWW-Authenticate"));
    }
  }

  static void expect_served(const Served& s) {
    EXPECT_EQ(s.response.status, 200) << s.response.body;
    EXPECT_EQ(s.handler_calls, 1);
  }

  void add(const char* method, const char* path, Access access) {
    router_.add(method, path, Exec::io,
                [this](const Request& req, const PathParams&, Respond respond) {
                  ++calls_;
                  seen_device_ = req.auth_device;
                  respond(json_response(200, "{}"));
                },
                access);
  }

  Router router_;
  int calls_ = 0;
  std::string seen_device_;
};

TEST_F(AuthTest, OpenRoutesPassWithoutAKeyAndWithAWrongOne) {
  auto guard = make_route_guard(kAdminKey, one_device());
  expect_served(serve(guard, "GET", "/open"));
  auto wrong = serve(guard, "GET", "/open", {{"x-api-key", "nope"}});
  expect_served(wrong);
  EXPECT_EQ(wrong.auth_device, "");
  // Also when nothing is configured at all.
  expect_served(serve(make_route_guard(""), "GET", "/open"));
}

TEST_F(AuthTest, AdminRouteWithoutAKeyIs401AndTheHandlerDoesNotRun) {
  auto guard = make_route_guard(kAdminKey);
  const std::string msg = "admin key required: send it in X-API-Key or Authorization: Bearer";
  expect_denied(serve(guard, "POST", "/admin"), 401, "unauthorized", msg);
  // Present but empty, or another scheme, is no key.
  expect_denied(serve(guard, "POST", "/admin", {{"x-api-key", ""}}), 401, "unauthorized", msg);
  expect_denied(serve(guard, "POST", "/admin", {{"authorization", "Basic dXNlcjpwYXNz"}}), 401,
                "unauthorized", msg);
  expect_denied(serve(guard, "POST", "/admin", {{"authorization", "Bearer   "}}), 401,
                "unauthorized", msg);
}

TEST_F(AuthTest, AdminRouteWithAWrongKeyIs403) {
  auto guard = make_route_guard(kAdminKey, one_device());
  for (const char* wrong : {"s3cret-admin-ke", "s3cret-admin-key2", "S3CRET-ADMIN-KEY", "x", kDeviceKey}) {
    SCOPED_TRACE(wrong);
    expect_denied(serve(guard, "POST", "/admin", {{"x-api-key", wrong}}), 403, "forbidden",
                  "invalid admin key");
  }
  expect_denied(serve(guard, "POST", "/admin", {{"authorization", "Bearer nope"}}), 403,
                "forbidden", "invalid admin key");
}

TEST_F(AuthTest, AdminRouteAcceptsTheKeyInEitherHeader) {
  auto guard = make_route_guard(kAdminKey);
  expect_served(serve(guard, "POST", "/admin", {{"x-api-key", kAdminKey}}));
  expect_served(serve(guard, "POST", "/admin", {{"authorization", std::string("Bearer ") + kAdminKey}}));
  expect_served(serve(guard, "POST", "/admin", {{"authorization", std::string("bearer  ") + kAdminKey + " "}}));
  // X-API-Key wins when both are sent.
  expect_denied(serve(guard, "POST", "/admin",
                      {{"x-api-key", "nope"}, {"authorization", std::string("Bearer ") + kAdminKey}}),
                403, "forbidden", "invalid admin key");
}

TEST_F(AuthTest, AdminKeyUnsetIs403SayingSoWhateverIsPresented) {
  auto guard = make_route_guard("");
  const std::string msg = "admin key not configured: set IOTD_ADMIN_KEY";
  expect_denied(serve(guard, "POST", "/admin"), 403, "forbidden", msg);
  expect_denied(serve(guard, "POST", "/admin", {{"x-api-key", kAdminKey}}), 403, "forbidden", msg);
  // An empty presented key must not match the empty admin key.
  expect_denied(serve(guard, "POST", "/admin", {{"x-api-key", ""}}), 403, "forbidden", msg);
}

TEST_F(AuthTest, DeviceRouteWithAKnownKeySetsTheDevice) {
  auto guard = make_route_guard(kAdminKey, one_device());
  auto s = serve(guard, "POST", "/device", {{"x-api-key", kDeviceKey}});
  expect_served(s);
  EXPECT_EQ(s.auth_device, "esp-1");
  auto bearer = serve(guard, "POST", "/device", {{"authorization", std::string("Bearer ") + kDeviceKey}});
  expect_served(bearer);
  EXPECT_EQ(bearer.auth_device, "esp-1");
}

TEST_F(AuthTest, DeviceRouteWithoutAKeyIs401) {
  auto guard = make_route_guard(kAdminKey, one_device());
  expect_denied(serve(guard, "POST", "/device"), 401, "unauthorized",
                "device key required: send it in X-API-Key or Authorization: Bearer");
}

TEST_F(AuthTest, DeviceRouteWithAnUnknownKeyIs403) {
  auto guard = make_route_guard(kAdminKey, one_device());
  expect_denied(serve(guard, "POST", "/device", {{"x-api-key", "device-key-of-esp-2"}}), 403,
                "forbidden", "invalid device key");
  expect_denied(serve(guard, "POST", "/device", {{"authorization", "Bearer nope"}}), 403,
                "forbidden", "invalid device key");
  // A device route takes device keys only, not the admin key.
  expect_denied(serve(guard, "POST", "/device", {{"x-api-key", kAdminKey}}), 403, "forbidden",
                "invalid device key");
  // Without a resolver no key is a device key.
  expect_denied(serve(make_route_guard(kAdminKey), "POST", "/device", {{"x-api-key", kDeviceKey}}),
                403, "forbidden", "invalid device key");
}

TEST_F(AuthTest, DeviceOrAdminRouteTakesEitherKey) {
  auto guard = make_route_guard(kAdminKey, one_device());
  auto dev = serve(guard, "POST", "/heartbeat", {{"x-api-key", kDeviceKey}});
  expect_served(dev);
  EXPECT_EQ(dev.auth_device, "esp-1");
  auto admin = serve(guard, "POST", "/heartbeat", {{"authorization", std::string("Bearer ") + kAdminKey}});
  expect_served(admin);
  EXPECT_EQ(admin.auth_device, "") << "the admin key names no device";
  expect_denied(serve(guard, "POST", "/heartbeat"), 401, "unauthorized",
                "device key or admin key required: send it in X-API-Key or Authorization: Bearer");
  expect_denied(serve(guard, "POST", "/heartbeat", {{"x-api-key", "nope"}}), 403, "forbidden",
                "invalid key: neither a device key nor the admin key");
  // With the admin key unset, the admin key's old value is just a wrong key.
  expect_denied(serve(make_route_guard("", one_device()), "POST", "/heartbeat",
                      {{"x-api-key", kAdminKey}}),
                403, "forbidden", "invalid key: neither a device key nor the admin key");
}

TEST_F(AuthTest, TheResolverSeesTheKeysSha256NotTheKey) {
  std::string seen;
  auto guard = make_route_guard(kAdminKey, [&](std::string_view h) -> std::optional<std::string> {
    seen = std::string(h);
    return std::nullopt;
  });
  serve(guard, "POST", "/device", {{"x-api-key", "abc"}});
  EXPECT_EQ(seen, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(KeyHashing, Sha256HexAndConstantTimeEquality) {
  EXPECT_EQ(to_hex(sha256("")), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_TRUE(digest_equal(sha256("s3cret"), sha256("s3cret")));
  EXPECT_FALSE(digest_equal(sha256("s3cret"), sha256("s3cret ")));
  EXPECT_FALSE(digest_equal(sha256("a"), sha256("b")));
}

TEST(PresentedKey, XApiKeyThenBearer) {
  auto with = [](std::map<std::string, std::string> h) {
    Request r;
    r.headers = std::move(h);
    return presented_key(r);
  };
  EXPECT_EQ(with({{"x-api-key", "k1"}}), "k1");
  EXPECT_EQ(with({{"authorization", "Bearer k2"}}), "k2");
  EXPECT_EQ(with({{"authorization", "BEARER  k2  "}}), "k2");
  EXPECT_EQ(with({{"x-api-key", ""}, {"authorization", "Bearer k3"}}), "k3");
  EXPECT_EQ(with({{"x-api-key", "k1"}, {"authorization", "Bearer k3"}}), "k1");
  EXPECT_FALSE(with({}));
  EXPECT_FALSE(with({{"authorization", "Bearer"}}));
  EXPECT_FALSE(with({{"authorization", "Basic dXNlcjpwYXNz"}}));
  EXPECT_FALSE(with({{"authorization", "Bearerk4"}}));
}

}  // namespace
}  // namespace iotd::http
