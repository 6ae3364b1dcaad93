#include "iotd/http/auth.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <memory>
#include <utility>

namespace iotd::http {
namespace {

bool bearer_scheme(std::string_view s) {
  constexpr std::string_view kBearer = "bearer ";
  if (s.size() < kBearer.size()) return false;
  for (std::size_t i = 0; i < kBearer.size(); ++i) {
    char c = s[i];
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (c != kBearer[i]) return false;
  }
  return true;
}

Response unauthorized(std::string_view message) {
  auto r = error_response(401, "unauthorized", message);
  r.headers.emplace_back("WWW-Authenticate", "Bearer");
  return r;
}

Response forbidden(std::string_view message) { return error_response(403, "forbidden", message); }

constexpr std::string_view kWhere = ": send it in X-API-Key or Authorization: Bearer";

class Guard {
 public:
  Guard(std::string admin_key, DeviceKeyResolver resolver)
      : admin_set_(!admin_key.empty()),
        admin_digest_(sha256(admin_key)),
        resolver_(std::move(resolver)) {}

  std::optional<Response> check(const Route& route, Request& req) const {
    switch (route.access) {
      case Access::open:
        return std::nullopt;
      case Access::admin:
        return check_admin(req);
      case Access::device:
      case Access::device_or_admin:
        return check_device(req, route.access == Access::device_or_admin);
    }
    return forbidden("this route declares no known access level");
  }

 private:
  std::optional<Response> check_admin(const Request& req) const {
    if (!admin_set_) return forbidden("admin key not configured: set IOTD_ADMIN_KEY");
    auto key = presented_key(req);
    if (!key) return unauthorized(std::string("admin key required").append(kWhere));
    if (!is_admin(*key)) return forbidden("invalid admin key");
    return std::nullopt;
  }

  std::optional<Response> check_device(Request& req, bool admin_too) const {
    auto key = presented_key(req);
    if (!key)
      return unauthorized(
          std::string(admin_too ? "device key or admin key required" : "device key required")
              .append(kWhere));
    const KeyDigest digest = sha256(*key);
    if (resolver_) {
      if (auto device = resolver_(to_hex(digest))) {
        req.auth_device = std::move(*device);
        return std::nullopt;
      }
    }
    if (admin_too && admin_set_ && digest_equal(digest, admin_digest_)) return std::nullopt;
    return forbidden(admin_too ? "invalid key: neither a device key nor the admin key"
                               : "invalid device key");
  }

  // Digests have equal length whatever the inputs, so the comparison time does not depend
  // on where the keys differ or on their lengths.
  bool is_admin(std::string_view key) const { return digest_equal(sha256(key), admin_digest_); }

  bool admin_set_;
  KeyDigest admin_digest_;
  DeviceKeyResolver resolver_;
};

}  // namespace

KeyDigest sha256(std::string_view key) {
  KeyDigest md{};
  unsigned int len = 0;
  EVP_Digest(key.data(), key.size(), md.data(), &len, EVP_sha256(), nullptr);
  return md;
}

std::string to_hex(const KeyDigest& digest) {
  constexpr char kHex[] = "0123456789abcdef";
  std::string out(digest.size() * 2, '0');
  for (std::size_t i = 0; i < digest.size(); ++i) {
    out[2 * i] = kHex[digest[i] >> 4];
    out[2 * i + 1] = kHex[digest[i] & 0x0f];
  }
  return out;
}

bool digest_equal(const KeyDigest& a, const KeyDigest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::optional<std::string> presented_key(const Request& req) {
  if (auto k = req.header("x-api-key"); k && !k->empty()) return k;
  auto auth = req.header("authorization");
  if (!auth) return std::nullopt;
  std::string_view a = *auth;
  if (a.size() <= 7 || !bearer_scheme(a)) return std::nullopt;
  a.remove_prefix(7);
  while (!a.empty() && a.front() == ' ') a.remove_prefix(1);
  while (!a.empty() && a.back() == ' ') a.remove_suffix(1);
  if (a.empty()) return std::nullopt;
  return std::string(a);
}

bool may_act_for(const Request& req, std::string_view device_id) {
  return req.auth_device.empty() || req.auth_device == device_id;
}

RouteGuard make_route_guard(std::string admin_key, DeviceKeyResolver resolver) {
  auto guard = std::make_shared<const Guard>(std::move(admin_key), std::move(resolver));
  return [guard](const Route& route, Request& req) -> std::optional<Response> {
    if (route.access == Access::open) return std::nullopt;  // the hot path: nothing else
    return guard->check(route, req);
  };
}

}  // namespace iotd::http
