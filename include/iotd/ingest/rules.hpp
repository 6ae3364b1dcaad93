// Threshold rules and alarm lifecycle (docs/architecture.md §7, §8): pure logic.
// An alarm is raised once when a metric leaves its range, updated (count, last, peak) while
// it stays out, and cleared when it comes back inside by the rule's hysteresis.
// Not thread-safe: the writer owns its AlarmBook and evaluates on a copy per batch.
#pragma once

#include <map>
#include <set>
#include <tuple>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "iotd/core/reading.hpp"
#include "iotd/core/domain.hpp"

namespace iotd::ingest {

// Lookup with precedence device > type > global.
class RuleSet {
 public:
  RuleSet() = default;
  explicit RuleSet(std::vector<Rule> rules);
  const Rule* find(std::string_view metric, std::string_view device_id,
                   std::string_view device_type) const;
  std::size_t size() const { return size_; }

 private:
  // (metric, scope, scope_value) -> rule
  std::map<std::tuple<std::string, std::string, std::string>, Rule, std::less<>> rules_;
  std::size_t size_ = 0;
};

using AlarmKey = std::pair<std::string, std::string>;  // (device_id, metric)

// The alarm state: one active alert per device and metric. `dirty` marks entries changed
// since the last flush; `closed` holds alerts cleared since then (to be written once).
struct AlarmBook {
  std::map<AlarmKey, Alert> active;
  std::set<AlarmKey> dirty;                  // keys in `active` touched by this batch
  std::vector<Alert> closed;                 // cleared in this batch, not yet written

  void load(std::vector<Alert> alerts);
  void clear_pending() { dirty.clear(); closed.clear(); }
};

enum class AlarmEvent { raised, updated, cleared };

struct AlarmChange {
  AlarmEvent event;
  AlarmKey key;
};

// Applies one reading: appends the events it caused to `events` and marks `book`.
void evaluate(const RuleSet& rules, const Reading& reading, std::string_view device_type,
              AlarmBook& book, std::vector<AlarmChange>& events);

}  // namespace iotd::ingest
