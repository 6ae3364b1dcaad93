// Retention (docs/architecture.md §17): the tables whose old rows are deleted, and what one
// bounded deletion step did. Pure data; the steps run on the writer's session
// (WriteStore::delete_expired), each in its own short transaction.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

namespace iotd::storage {

enum class RetentionTable {
  messages,   // readings: device time `ts` older than the cutoff
  rollup_1m,  // rollups: the bucket's START older than the cutoff (the cutoff is minute-aligned)
  alerts,     // CLEARED alerts whose cleared_ts is older than the cutoff; active ones never
  rejects,    // rejected messages by received_at
};

inline constexpr std::array<RetentionTable, 4> kRetentionTables{
    RetentionTable::messages, RetentionTable::rollup_1m, RetentionTable::alerts, RetentionTable::rejects};

constexpr std::string_view to_string(RetentionTable t) {
  switch (t) {
    case RetentionTable::messages: return "messages";
    case RetentionTable::rollup_1m: return "rollup_1m";
    case RetentionTable::alerts: return "alerts";
    case RetentionTable::rejects: return "rejects";
  }
  return "?";
}

struct PurgeStep {
  std::int64_t deleted = 0;  // rows deleted by this step
  bool more = false;         // rows older than the cutoff may remain: call again
};

}  // namespace iotd::storage
