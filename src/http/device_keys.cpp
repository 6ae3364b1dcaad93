#include "iotd/http/device_keys.hpp"

#include <openssl/rand.h>

#include <array>
#include <mutex>
#include <stdexcept>

namespace iotd::http {

std::string generate_device_key() {
  std::array<unsigned char, 32> bytes{};
  if (RAND_bytes(bytes.data(), static_cast<int>(bytes.size())) != 1)
    throw std::runtime_error("RAND_bytes failed: cannot generate a device key");
  KeyDigest as_digest{};
  static_assert(sizeof(as_digest) == sizeof(bytes));
  std::copy(bytes.begin(), bytes.end(), as_digest.begin());
  return to_hex(as_digest);
}

void DeviceKeys::load(const std::vector<storage::DeviceKeyHash>& keys) {
  std::unique_lock lock(mu_);
  by_digest_.clear();
  by_device_.clear();
  for (const auto& k : keys) {
    by_digest_[k.key_sha256_hex] = k.device_id;
    by_device_[k.device_id] = k.key_sha256_hex;
  }
}

void DeviceKeys::set(const std::string& device_id, const std::string& key_sha256_hex) {
  std::unique_lock lock(mu_);
  if (auto it = by_device_.find(device_id); it != by_device_.end()) by_digest_.erase(it->second);
  by_device_[device_id] = key_sha256_hex;
  by_digest_[key_sha256_hex] = device_id;
}

void DeviceKeys::remove(const std::string& device_id) {
  std::unique_lock lock(mu_);
  if (auto it = by_device_.find(device_id); it != by_device_.end()) {
    by_digest_.erase(it->second);
    by_device_.erase(it);
  }
}

// The presented key was hashed by the guard, so the lookup's timing depends only on its
// digest, never on how much of a stored key it matches.
std::optional<std::string> DeviceKeys::resolve(std::string_view key_sha256_hex) const {
  std::shared_lock lock(mu_);
  auto it = by_digest_.find(std::string(key_sha256_hex));
  if (it == by_digest_.end()) return std::nullopt;
  return it->second;
}

std::size_t DeviceKeys::size() const {
  std::shared_lock lock(mu_);
  return by_device_.size();
}

DeviceKeyResolver DeviceKeys::resolver() const {
  return [this](std::string_view hex) { return resolve(hex); };
}

}  // namespace iotd::http
