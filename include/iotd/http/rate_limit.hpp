// Write rate limiting (issue 12, docs/architecture.md §20): a token bucket per client
// (device key, admin key, or client address), kept in a bounded, sharded table, and the
// route guard stage that answers 429 with Retry-After when a bucket is empty.
// RateLimiter is thread-safe (a mutex per shard, held for one hash lookup); TokenBucket is
// a plain value.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iotd/core/metrics.hpp"
#include "iotd/http/router.hpp"

namespace iotd::http {

struct RateLimitOptions {
  double rate = 0;    // tokens (requests) per second; <= 0: no limit
  double burst = 0;   // bucket size; below 1: max(1, rate)
  std::size_t max_clients = 100'000;  // buckets kept; beyond, idle and then oldest go
  // Peers whose X-Forwarded-For is believed (a reverse proxy in front of iotd). Empty: the
  // TCP peer's address is the client's, whatever the header says.
  std::vector<std::string> trusted_proxies;
};

// One client's bucket. `take` refills by the time since the last call (at most `burst`)
// and takes one token: 0 when it got one, else how long until one is there (ns, > 0).
struct TokenBucket {
  double tokens = 0;
  std::int64_t stamp_ns = 0;

  std::int64_t take(double rate, double burst, std::int64_t now_ns) noexcept;
  // True when the bucket would be full at `now_ns`: forgetting it changes nothing.
  bool full_at(double rate, double burst, std::int64_t now_ns) const noexcept;
};

class RateLimiter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit RateLimiter(RateLimitOptions opts);
  RateLimiter(const RateLimiter&) = delete;
  RateLimiter& operator=(const RateLimiter&) = delete;

  // nullopt: allowed (a token was taken from `client`'s bucket, a new client starts full);
  // else the whole seconds to wait (at least 1), for Retry-After.
  std::optional<std::chrono::seconds> take(std::string_view client, Clock::time_point now = Clock::now());

  std::size_t size() const;  // buckets held (all shards)
  const RateLimitOptions& options() const { return opts_; }
  double burst() const { return burst_; }

 private:
  static constexpr std::size_t kShards = 16;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
  };
  struct Shard {
    mutable std::mutex mu;
    std::unordered_map<std::string, TokenBucket, Hash, std::equal_to<>> buckets;  // guarded by mu
  };
  // Called with the shard's lock held and the shard at its cap: drops full buckets, then,
  // if that freed less than an eighth, the least recently used down to 7/8 of the cap
  // (so a sweep's cost is spread over at least cap/8 new clients).
  void sweep(Shard& s, std::int64_t now_ns) const;

  RateLimitOptions opts_;
  double burst_;
  std::size_t shard_cap_;
  std::array<Shard, kShards> shards_;
};

// The address a request's rate limit is kept under: the TCP peer, or, when the peer is a
// trusted proxy, the rightmost X-Forwarded-For entry that is not itself a trusted proxy.
// IPv6 addresses are cut to their /64 (one host usually owns a whole /64).
std::string client_address(const Request& req, const std::vector<std::string>& trusted_proxies);

// A route guard stage: runs `inner` (the auth guard; required), then, for writes (any
// method but GET, HEAD and OPTIONS), takes a token from the client's bucket: the device
// key's device, the admin key, or, for an open route or a request the guard refused, the
// client address (so guessing keys is limited too). An empty bucket answers 429
// (`rate_limited`, the JSON error body, Retry-After) instead, counted in `limited`.
// Reads pass untouched.
RouteGuard with_write_rate_limit(RouteGuard inner, std::shared_ptr<RateLimiter> limiter,
                                 metrics::Counter* limited = nullptr);

}  // namespace iotd::http
