// In-memory latest value per device and metric (DESIGN §5 latest_values), filled from the
// database at start and updated by the writer after each commit. Thread-safe.
#pragma once

#include <map>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "iotd/core/reading.hpp"
#include "iotd/storage/types.hpp"

namespace iotd::storage {

class LatestCache {
 public:
  // A value replaces the cached one only if its device time is not older.
  void apply(const Reading& r);
  void load(std::vector<DeviceLatest> rows);
  std::optional<DeviceLatest> device(const std::string& device_id) const;
  std::vector<DeviceLatest> all() const;  // sorted by device id
  std::size_t device_count() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, DeviceLatest> by_device_;  // guarded by mu_
};

}  // namespace iotd::storage
