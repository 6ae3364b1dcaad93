// Read side of the store, used by the HTTP handlers. Implementations are thread-safe (each
// call leases its own session from a pool) and BLOCKING: never call them on io threads.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

#include "iotd/storage/device.hpp"
#include "iotd/storage/types.hpp"

namespace iotd::storage {

class Repository {
 public:
  virtual ~Repository() = default;

  virtual ReadingPage readings(const ReadingQuery& q) = 0;
  virtual std::map<std::string, Stat> stats(const StatsQuery& q) = 0;
  virtual std::vector<Bucket> aggregate(const AggregateQuery& q) = 0;
  virtual std::vector<Alert> alerts(const AlertQuery& q) = 0;
  virtual std::optional<Alert> alert(std::int64_t id) = 0;
  // false when no such alert.
  virtual bool acknowledge_alert(std::int64_t id, const std::string& by, std::int64_t at_ms) = 0;
  virtual std::vector<RejectRecord> rejects(const RejectQuery& q) = 0;
  virtual std::vector<Rule> rules() = 0;
  // Creates or replaces the rule of (metric, scope, scope_value); true when it was created.
  virtual bool put_rule(const Rule& r) = 0;
  // false when no such rule.
  virtual bool delete_rule(const std::string& metric, const std::string& scope,
                           const std::string& scope_value) = 0;
  // Stores an alert as given (a manual one: the device row is created when the device has
  // never been seen) and returns its id.
  virtual std::int64_t insert_alert(const Alert& a) = 0;
  // Throws on failure; used by /health.
  virtual void ping() = 0;

  // Devices (device.hpp; SQL in device_repository.cpp). Key hashes are SHA-256 hex; none
  // of these reads returns one.
  virtual std::vector<Device> devices(const DeviceQuery& q) = 0;  // by device_id
  virtual std::optional<Device> device(const std::string& device_id) = 0;
  // false when the id is already registered.
  virtual bool create_device(const Device& d, const std::string& key_hash) = 0;
  // Replaces name, type, location, status, metadata and updated_at; false when not found.
  virtual bool update_device(const Device& d) = 0;
  virtual bool set_device_key(const std::string& device_id, const std::string& key_hash,
                              std::int64_t now_ms) = 0;
  // Moves last_seen_at forward to now_ms; false when not found.
  virtual bool device_heartbeat(const std::string& device_id, std::int64_t now_ms) = 0;
  // Without purge the row stays as status "deleted" (readings kept) and loses its key; with
  // purge its messages, rollups, latest values and alerts go too. false when not found.
  virtual bool delete_device(const std::string& device_id, bool purge, std::int64_t now_ms) = 0;
  virtual std::vector<DeviceKeyHash> device_keys() = 0;
  virtual std::map<std::string, std::int64_t> devices_by_status() = 0;
  // Pooled sessions leased right now, and the pool's size (GET /metrics). Lock-free reads;
  // a repository without a pool reports 0.
  virtual std::size_t pool_in_use() const { return 0; }
  virtual std::size_t pool_size() const { return 0; }
};

}  // namespace iotd::storage
