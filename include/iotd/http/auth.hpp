// Route authentication: the RouteGuard that enforces each route's Access before its
// handler runs, and the key hashing and constant-time comparison it rests on.
// A built guard is immutable; thread-safe for concurrent calls (so must its resolver be).
#pragma once

#include <array>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "iotd/http/router.hpp"

namespace iotd::http {

using KeyDigest = std::array<unsigned char, 32>;

// SHA-256 of a key, and its lower-case hex form (64 characters), the form keys are stored in.
KeyDigest sha256(std::string_view key);
std::string to_hex(const KeyDigest& digest);

// Equality of two digests in time independent of where they differ.
bool digest_equal(const KeyDigest& a, const KeyDigest& b);

// The key a request presents: X-API-Key, else the token of "Authorization: Bearer <token>"
// (scheme case-insensitive, surrounding spaces trimmed); nullopt when neither carries one.
std::optional<std::string> presented_key(const Request& req);

// Maps the SHA-256 (lower-case hex) of a presented key to the id of the device that owns it;
// nullopt for an unknown key. Called on an io thread: must not block (answer from memory).
using DeviceKeyResolver =
    std::function<std::optional<std::string>(std::string_view key_sha256_hex)>;

// The server's guard. Open routes pass at once (no lookup, no allocation). Admin routes
// need `admin_key`, and answer 403 saying so while it is empty. Device routes need a key
// the resolver knows (none without a resolver) and get Request::auth_device set;
// device_or_admin routes also take the admin key, leaving auth_device empty.
// No key: 401 with WWW-Authenticate: Bearer; a wrong key: 403; bodies in the v1 error
// shape {"error": {"code", "message"}}.
RouteGuard make_route_guard(std::string admin_key, DeviceKeyResolver resolver = {});

// "A device key is authoritative" (issue 9): on a route whose Access is device or
// device_or_admin, true when the request may act for `device_id`: the admin key (the guard
// left auth_device empty) or that device's own key. A handler answers 403 otherwise.
bool may_act_for(const Request& req, std::string_view device_id);

}  // namespace iotd::http
