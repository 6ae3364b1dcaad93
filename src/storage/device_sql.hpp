// Private to src/storage: the device registry's SQL (device_repository.cpp), run by the
// read repository on a leased session. Portable SQL: the same text on every dialect.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "iotd/storage/device.hpp"

namespace soci {
class session;
}  // namespace soci

namespace iotd::storage::detail {

std::vector<Device> select_devices(soci::session& s, const DeviceQuery& q);
// A registered device (not one deleted without purge).
std::optional<Device> select_device(soci::session& s, const std::string& device_id);
// false when the id is registered; a row left by a delete without purge is taken over
// (same pk: its readings come back under the device).
bool create_device(soci::session& s, const Device& d, const std::string& key_hash);
bool update_device(soci::session& s, const Device& d);
bool set_device_key(soci::session& s, const std::string& device_id, const std::string& key_hash,
                    std::int64_t now_ms);
bool device_heartbeat(soci::session& s, const std::string& device_id, std::int64_t now_ms);
bool delete_device(soci::session& s, const std::string& device_id, bool purge, std::int64_t now_ms);
std::vector<DeviceKeyHash> select_device_keys(soci::session& s);
std::map<std::string, std::int64_t> count_devices_by_status(soci::session& s);

}  // namespace iotd::storage::detail
