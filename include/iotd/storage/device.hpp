// The device registry's row and query types (docs/architecture.md §10, `devices`), shared by
// the repository and the devices API. Plain values.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iotd::storage {

// A registered device. `status` is one of kDeviceStatuses; a device deleted without purge
// keeps its row with status "deleted" (its readings stay reachable under its id) and is
// invisible to the registry reads until it is created again.
struct Device {
  std::string device_id;
  std::optional<std::string> name, type, location;
  std::string status = "active";
  std::string metadata_json;  // a JSON object; empty when none
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> last_seen_at_ms;
  bool has_key = false;  // a key is issued (its hash is never read back)
};

inline constexpr std::string_view kDeviceStatuses[] = {"active", "inactive", "maintenance"};
inline constexpr std::string_view kDeletedStatus = "deleted";

struct DeviceQuery {
  std::optional<std::string> status, type, location;
  int limit = 100;
  int offset = 0;
};

// A device's key digest (SHA-256, lower-case hex), as loaded into the key resolver.
struct DeviceKeyHash {
  std::string device_id;
  std::string key_sha256_hex;
};

}  // namespace iotd::storage
