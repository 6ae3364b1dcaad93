// Read side of the store, used by the HTTP handlers. Implementations are thread-safe (each
// call leases its own session from a pool) and BLOCKING: never call them on io threads.
#pragma once

#include <cstddef>
#include <functional>
#include <vector>

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
  // Pooled sessions leased right now, and the pool's size (GET /metrics). Lock-free reads;
  // a repository without a pool reports 0.
  virtual std::size_t pool_in_use() const { return 0; }
  virtual std::size_t pool_size() const { return 0; }
};

}  // namespace iotd::storage
