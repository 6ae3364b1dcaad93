// In-memory latest value per device and metric (docs/architecture.md §10, latest_values),
// filled from the database at start and updated by the writer after each commit. Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
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
  // Like apply() for each row's values (one device time per metric): a value replaces the
  // cached one only if not older, so it may race with apply() in any order. Another
  // instance's commits missed while its relay was not listening (docs/architecture.md §21).
  void merge(const std::vector<DeviceLatest>& rows);
  // Forgets the device (deleted through the devices API).
  void erase(const std::string& device_id);
  std::optional<DeviceLatest> device(const std::string& device_id) const;
  std::vector<DeviceLatest> all() const;  // sorted by device id
  std::size_t device_count() const;

  // The device's values rendered by `render` (e.g. as JSON), memoised until the next
  // apply()/load() touches the device; nullptr for an unknown device. `render` runs
  // without the lock held, so readers never wait on a rendering. All callers must pass
  // an equivalent render function (one memo per device).
  using Render = std::function<std::string(const DeviceLatest&)>;
  std::shared_ptr<const std::string> rendered(const std::string& device_id,
                                              const Render& render) const;

 private:
  struct Entry {
    DeviceLatest latest;
    std::uint64_t version = 0;                          // bumped by every change
    mutable std::shared_ptr<const std::string> memo;   // rendering of `version`, or null
  };
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, Entry> by_device_;  // guarded by mu_ (memo: see rendered())
};

}  // namespace iotd::storage
