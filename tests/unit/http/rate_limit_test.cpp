// Write rate limiting (issue 12): the token bucket, the bounded limiter, the client address
// (X-Forwarded-For only from trusted proxies) and the guard stage that answers 429.
#include "iotd/http/rate_limit.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <chrono>
#include <string>

#include "iotd/core/counters.hpp"
#include "iotd/http/auth.hpp"

namespace iotd::http {
namespace {

using namespace std::chrono_literals;
using Clock = RateLimiter::Clock;
constexpr std::int64_t kSecond = 1'000'000'000;

RateLimitOptions opts(double rate, double burst = 0, std::size_t max_clients = 100'000) {
  RateLimitOptions o;
  o.rate = rate;
  o.burst = burst;
  o.max_clients = max_clients;
  return o;
}

TEST(TokenBucket, TakesTheBurstThenWaitsForTheRefill) {
  TokenBucket b{3, 0};
  EXPECT_EQ(b.take(10, 3, 0), 0);
  EXPECT_EQ(b.take(10, 3, 0), 0);
  EXPECT_EQ(b.take(10, 3, 0), 0);
  auto wait = b.take(10, 3, 0);
  EXPECT_EQ(wait, kSecond / 10) << "one token comes back after 1/rate";
  EXPECT_GT(b.take(10, 3, kSecond / 20), 0) << "half a token is not a token";
  EXPECT_EQ(b.take(10, 3, kSecond / 10), 0);
}

TEST(TokenBucket, RefillStopsAtTheBurst) {
  TokenBucket b{0, 0};
  EXPECT_FALSE(b.full_at(1, 2, kSecond));
  EXPECT_TRUE(b.full_at(1, 2, 2 * kSecond));
  for (int i = 0; i < 2; ++i) EXPECT_EQ(b.take(1, 2, 100 * kSecond), 0) << i;
  EXPECT_GT(b.take(1, 2, 100 * kSecond), 0) << "an idle hour does not bank more than the burst";
}

TEST(RateLimiter, BurstThenRetryAfterInWholeSecondsAndOtherClientsAreNotAffected) {
  RateLimiter rl(opts(2, 4));
  const auto t0 = Clock::now();
  for (int i = 0; i < 4; ++i) EXPECT_FALSE(rl.take("device a", t0)) << i;
  auto wait = rl.take("device a", t0);
  ASSERT_TRUE(wait);
  EXPECT_EQ(*wait, 1s) << "half a second rounds up to 1";
  EXPECT_FALSE(rl.take("device b", t0)) << "another key has its own bucket";
  EXPECT_FALSE(rl.take("device a", t0 + 500ms)) << "refilled at 2/s";
  EXPECT_TRUE(rl.take("device a", t0 + 500ms));
}

TEST(RateLimiter, SlowRatesAskForLongerWaits) {
  RateLimiter rl(opts(1.0 / 60, 1));  // 1/min
  const auto t0 = Clock::now();
  EXPECT_FALSE(rl.take("x", t0));
  auto wait = rl.take("x", t0 + 1s);
  ASSERT_TRUE(wait);
  EXPECT_GE(*wait, 59s);
  EXPECT_LE(*wait, 60s);
}

TEST(RateLimiter, BurstDefaultsToOneSecondsWorth) {
  EXPECT_EQ(RateLimiter(opts(50)).burst(), 50);
  EXPECT_EQ(RateLimiter(opts(0.1)).burst(), 1) << "at least one request";
  EXPECT_EQ(RateLimiter(opts(50, 7)).burst(), 7);
}

TEST(RateLimiter, OffNeverLimitsAndKeepsNothing) {
  RateLimiter rl(opts(0));
  for (int i = 0; i < 1000; ++i) EXPECT_FALSE(rl.take("same"));
  EXPECT_EQ(rl.size(), 0u);
}

TEST(RateLimiter, MemoryStaysBoundedUnderAFloodOfNewClients) {
  RateLimiter rl(opts(1, 1, 1600));
  auto t = Clock::now();
  for (int i = 0; i < 200'000; ++i) {
    EXPECT_FALSE(rl.take("addr 10.0." + std::to_string(i), t)) << "a new client starts with a full bucket";
    if (i % 1000 == 0) t += 1ms;
  }
  EXPECT_LE(rl.size(), 1600u);
  EXPECT_GE(rl.size(), 1000u) << "evicts down to 7/8 of each shard, not everything";
}

TEST(RateLimiter, IdleClientsGoFirstSoALimitedClientStaysLimited) {
  RateLimiter rl(opts(1, 1, 160));  // 10 per shard
  const auto t0 = Clock::now();
  for (int i = 0; i < 5000; ++i) rl.take("idle " + std::to_string(i), t0);
  const auto t1 = t0 + 10s;  // every bucket above is full again: forgetting it costs nothing
  EXPECT_FALSE(rl.take("busy", t1));
  EXPECT_TRUE(rl.take("busy", t1));
  for (int i = 0; i < 40; ++i) rl.take("later " + std::to_string(i), t1 + 1ms * i);
  EXPECT_TRUE(rl.take("busy", t1 + 200ms)) << "the limited client's bucket survived the sweeps";
}

Request request(std::string method, std::string remote, std::string xff = {}) {
  Request r;
  r.method = std::move(method);
  r.remote = std::move(remote);
  if (!xff.empty()) r.headers["x-forwarded-for"] = std::move(xff);
  return r;
}

TEST(ClientAddress, IsThePeerAndForwardedForIsIgnoredByDefault) {
  EXPECT_EQ(client_address(request("POST", "203.0.113.5", "1.2.3.4"), {}), "203.0.113.5");
  EXPECT_EQ(client_address(request("POST", "203.0.113.5", "1.2.3.4"), {"10.0.0.1"}), "203.0.113.5")
      << "a peer that is not a trusted proxy cannot choose its address";
}

TEST(ClientAddress, TrustedProxiesForwardTheRightmostUntrustedEntry) {
  std::vector<std::string> proxies{"10.0.0.1", "10.0.0.2"};
  EXPECT_EQ(client_address(request("POST", "10.0.0.1", "198.51.100.7"), proxies), "198.51.100.7");
  EXPECT_EQ(client_address(request("POST", "10.0.0.1", "6.6.6.6, 198.51.100.7, 10.0.0.2"), proxies),
            "198.51.100.7")
      << "the client's own claims left of the last hop do not count";
  EXPECT_EQ(client_address(request("POST", "10.0.0.1"), proxies), "10.0.0.1") << "no header: the proxy";
  EXPECT_EQ(client_address(request("POST", "10.0.0.1", "10.0.0.2"), proxies), "10.0.0.2");
}

TEST(ClientAddress, Ipv6IsKeptPerSlash64AndV4MappedAsV4) {
  EXPECT_EQ(client_address(request("POST", "2001:db8:1:2:aaaa::1"), {}), "2001:db8:1:2::/64");
  EXPECT_EQ(client_address(request("POST", "2001:db8:1:2:bbbb::9"), {}), "2001:db8:1:2::/64");
  EXPECT_EQ(client_address(request("POST", "::ffff:192.0.2.1"), {}), "192.0.2.1");
}

class RateLimitGuard : public ::testing::Test {
 protected:
  RateLimitGuard() {
    admin_route_ = {"POST", "/api/v1/rules", Exec::io, {}, Access::admin};
    device_route_ = {"POST", "/api/v1/ingest", Exec::io, {}, Access::device};
    read_route_ = {"GET", "/api/v1/readings", Exec::io, {}, Access::open};
    DeviceKeyResolver resolver = [](std::string_view hex) -> std::optional<std::string> {
      if (hex == to_hex(sha256("key-of-dev-a"))) return "dev-a";
      if (hex == to_hex(sha256("key-of-dev-b"))) return "dev-b";
      return std::nullopt;
    };
    guard_ = with_write_rate_limit(make_route_guard("admin-key-0123456789", resolver),
                                   std::make_shared<RateLimiter>(opts(0.01, 2)),
                                   &counters_.http_rate_limited);
  }
  std::optional<Response> call(const Route& route, std::string method, std::string key,
                               std::string remote = "192.0.2.10") {
    Request r = request(std::move(method), std::move(remote));
    if (!key.empty()) r.headers["x-api-key"] = std::move(key);
    return guard_(route, r);
  }
  static void expect_429(const std::optional<Response>& r) {
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429);
    auto body = nlohmann::json::parse(r->body);
    EXPECT_EQ(body["error"]["code"], "rate_limited");
    bool retry_after = false;
    for (const auto& [k, v] : r->headers)
      if (k == "Retry-After") retry_after = std::stoi(v) >= 1;
    EXPECT_TRUE(retry_after) << "Retry-After in whole seconds";
  }

  Counters counters_;
  Route admin_route_, device_route_, read_route_;
  RouteGuard guard_;
};

TEST_F(RateLimitGuard, EachDeviceKeyHasItsOwnBucket) {
  EXPECT_FALSE(call(device_route_, "POST", "key-of-dev-a"));
  EXPECT_FALSE(call(device_route_, "POST", "key-of-dev-a"));
  expect_429(call(device_route_, "POST", "key-of-dev-a"));
  EXPECT_FALSE(call(device_route_, "POST", "key-of-dev-b")) << "same address, another key";
  EXPECT_FALSE(call(device_route_, "POST", "key-of-dev-b", "198.51.100.1"));
  EXPECT_EQ(counters_.http_rate_limited.load(), 1u);
}

TEST_F(RateLimitGuard, TheAdminKeyHasOneBucketWhateverTheAddress) {
  EXPECT_FALSE(call(admin_route_, "POST", "admin-key-0123456789", "192.0.2.1"));
  EXPECT_FALSE(call(admin_route_, "PUT", "admin-key-0123456789", "192.0.2.2"));
  expect_429(call(admin_route_, "DELETE", "admin-key-0123456789", "192.0.2.3"));
}

TEST_F(RateLimitGuard, ReadsAreNeverLimited) {
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(call(read_route_, "GET", "")) << i;
  for (int i = 0; i < 50; ++i) EXPECT_FALSE(call(read_route_, "HEAD", "")) << i;
  EXPECT_EQ(counters_.http_rate_limited.load(), 0u);
}

TEST_F(RateLimitGuard, RefusedKeysAreLimitedPerAddressAndThen429ReplacesThe403) {
  auto first = call(device_route_, "POST", "guess-1");
  ASSERT_TRUE(first);
  EXPECT_EQ(first->status, 403);
  auto second = call(device_route_, "POST", "guess-2");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 403);
  expect_429(call(device_route_, "POST", "guess-3"));
  auto no_key = call(device_route_, "POST", "", "192.0.2.99");
  ASSERT_TRUE(no_key);
  EXPECT_EQ(no_key->status, 401) << "another address has its own bucket";
  EXPECT_FALSE(call(device_route_, "POST", "key-of-dev-a")) << "a valid key from the guessing address";
}

}  // namespace
}  // namespace iotd::http
