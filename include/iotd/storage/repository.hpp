// Read side of the store, used by the HTTP handlers. Implementations are thread-safe (each
// call leases its own session from a pool) and BLOCKING: never call them on io threads.
#pragma once

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
  // Throws on failure; used by /health.
  virtual void ping() = 0;
};

}  // namespace iotd::storage
