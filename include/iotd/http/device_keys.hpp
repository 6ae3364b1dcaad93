// Device keys (issue 9): issuing a key, and the in-memory map from key digest to device that
// the route guard's DeviceKeyResolver reads on the io threads (auth.hpp). Loaded from the
// database at start and updated by the devices API on create, rotate and delete, so a
// rotated or deleted key stops working at once. Thread-safe.
#pragma once

#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "iotd/http/auth.hpp"
#include "iotd/storage/device.hpp"

namespace iotd::http {

// A new device key: 256 bits from OpenSSL's RAND_bytes as 64 lower-case hex characters.
// Throws when the random generator fails.
std::string generate_device_key();

class DeviceKeys {
 public:
  void load(const std::vector<storage::DeviceKeyHash>& keys);
  // The device's key is now the one with this digest (its old one stops resolving).
  void set(const std::string& device_id, const std::string& key_sha256_hex);
  void remove(const std::string& device_id);
  std::optional<std::string> resolve(std::string_view key_sha256_hex) const;
  std::size_t size() const;

  // A resolver for make_route_guard that reads this map; the map must outlive the guard.
  DeviceKeyResolver resolver() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, std::string> by_digest_;  // hex digest -> device; guarded by mu_
  std::unordered_map<std::string, std::string> by_device_;  // device -> hex digest; guarded by mu_
};

}  // namespace iotd::http
