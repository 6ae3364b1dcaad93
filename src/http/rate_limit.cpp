#include "iotd/http/rate_limit.hpp"

#include <boost/asio/ip/address.hpp>

#include <algorithm>
#include <cmath>
#include <functional>

namespace iotd::http {
namespace {

constexpr double kNsPerSecond = 1e9;

bool is_write(std::string_view method) {
  return method != "GET" && method != "HEAD" && method != "OPTIONS";
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool trusted(std::string_view addr, const std::vector<std::string>& proxies) {
  return std::find(proxies.begin(), proxies.end(), addr) != proxies.end();
}

// IPv6 to its /64, IPv4 (also v4-mapped) as is; text that is no address is kept as text.
std::string normalise(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::string(text);
  if (a.is_v4()) return a.to_string();
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped())
    return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

}  // namespace

std::int64_t TokenBucket::take(double rate, double burst, std::int64_t now_ns) noexcept {
  if (now_ns > stamp_ns) {
    tokens = std::min(burst, tokens + static_cast<double>(now_ns - stamp_ns) * rate / kNsPerSecond);
    stamp_ns = now_ns;
  }
  if (tokens >= 1.0) {
    tokens -= 1.0;
    return 0;
  }
  auto wait = static_cast<std::int64_t>(std::ceil((1.0 - tokens) / rate * kNsPerSecond));
  return std::max<std::int64_t>(wait, 1);
}

bool TokenBucket::full_at(double rate, double burst, std::int64_t now_ns) const noexcept {
  return tokens + static_cast<double>(std::max<std::int64_t>(now_ns - stamp_ns, 0)) * rate / kNsPerSecond >=
         burst;
}

RateLimiter::RateLimiter(RateLimitOptions opts)
    : opts_(std::move(opts)),
      burst_(opts_.burst >= 1 ? opts_.burst : std::max(1.0, opts_.rate)),
      shard_cap_(std::max<std::size_t>(8, opts_.max_clients / kShards)) {}

std::optional<std::chrono::seconds> RateLimiter::take(std::string_view client, Clock::time_point now) {
  if (opts_.rate <= 0) return std::nullopt;
  const std::int64_t now_ns =
      std::chrono::duration_cast<std::chrono::nanoseconds>(now.time_since_epoch()).count();
  const std::size_t h = Hash{}(client);
  Shard& s = shards_[h % kShards];
  std::int64_t wait_ns = 0;
  {
    std::lock_guard lock(s.mu);
    auto it = s.buckets.find(client);
    if (it == s.buckets.end()) {
      if (s.buckets.size() >= shard_cap_) sweep(s, now_ns);
      it = s.buckets.emplace(std::string(client), TokenBucket{burst_, now_ns}).first;
    }
    wait_ns = it->second.take(opts_.rate, burst_, now_ns);
  }
  if (wait_ns == 0) return std::nullopt;
  // Retry-After is in whole seconds: round up, so a client that waits as told gets a token.
  return std::chrono::seconds((wait_ns + 999'999'999) / 1'000'000'000);
}

void RateLimiter::sweep(Shard& s, std::int64_t now_ns) const {
  const std::size_t before = s.buckets.size();
  std::erase_if(s.buckets, [&](const auto& kv) { return kv.second.full_at(opts_.rate, burst_, now_ns); });
  const std::size_t target = shard_cap_ - shard_cap_ / 8;
  if (before - s.buckets.size() >= shard_cap_ / 8 || s.buckets.size() <= target) return;
  // Every client is active (e.g. a flood from many addresses): forget the least recently
  // seen. They start again with a full bucket: memory stays bounded, the limit leaks a bit.
  std::vector<std::int64_t> stamps;
  stamps.reserve(s.buckets.size());
  for (const auto& kv : s.buckets) stamps.push_back(kv.second.stamp_ns);
  const std::size_t drop = s.buckets.size() - target;
  std::nth_element(stamps.begin(), stamps.begin() + static_cast<std::ptrdiff_t>(drop - 1), stamps.end());
  const std::int64_t cutoff = stamps[drop - 1];
  std::size_t dropped = 0;
  for (auto it = s.buckets.begin(); it != s.buckets.end() && dropped < drop;) {
    if (it->second.stamp_ns <= cutoff) {
      it = s.buckets.erase(it);
      ++dropped;
    } else {
      ++it;
    }
  }
}

std::size_t RateLimiter::size() const {
  std::size_t n = 0;
  for (const auto& s : shards_) {
    std::lock_guard lock(s.mu);
    n += s.buckets.size();
  }
  return n;
}

std::string client_address(const Request& req, const std::vector<std::string>& trusted_proxies) {
  if (trusted_proxies.empty() || !trusted(req.remote, trusted_proxies)) return normalise(req.remote);
  auto xff = req.header("x-forwarded-for");
  if (!xff) return normalise(req.remote);
  // Right to left: each trusted proxy appended the address it got the request from; the
  // first address no trusted proxy owns is the client (anything left of it is the
  // client's own claim).
  std::string_view rest = *xff;
  std::string_view last;
  while (!rest.empty()) {
    auto comma = rest.rfind(',');
    std::string_view entry = trim(comma == std::string_view::npos ? rest : rest.substr(comma + 1));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(0, comma);
    if (entry.empty()) continue;
    last = entry;
    if (!trusted(entry, trusted_proxies)) return normalise(entry);
  }
  return normalise(last.empty() ? std::string_view(req.remote) : last);
}

RouteGuard with_write_rate_limit(RouteGuard inner, std::shared_ptr<RateLimiter> limiter,
                                 metrics::Counter* limited) {
  return [inner = std::move(inner), limiter = std::move(limiter), limited](
             const Route& route, Request& req) -> std::optional<Response> {
    auto denied = inner(route, req);
    if (!is_write(req.method)) return denied;
    std::string client;
    std::string_view kind;
    if (denied || route.access == Access::open) {
      client = "addr " + client_address(req, limiter->options().trusted_proxies);
      kind = "address";
    } else if (!req.auth_device.empty()) {
      client = "device " + req.auth_device;
      kind = "device key";
    } else {
      client = "admin";
      kind = "admin key";
    }
    auto wait = limiter->take(client);
    if (!wait) return denied;
    if (limited) ++*limited;
    auto r = error_response(429, "rate_limited",
                            "too many writes from this " + std::string(kind) +
                                " (IOTD_RATE_LIMIT_WRITES); retry after " +
                                std::to_string(wait->count()) + " s");
    r.headers.emplace_back("Retry-After", std::to_string(wait->count()));
    return r;
  };
}

}  // namespace iotd::http
