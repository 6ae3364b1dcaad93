// Private to src/storage: one bounded retention step (docs/architecture.md §17), run on the
// writer's session outside its batches. Use from the session's owner only.
#pragma once

#include <cstddef>
#include <cstdint>

#include "dialect.hpp"
#include "iotd/storage/retention.hpp"

namespace soci {
class session;
}

namespace iotd::storage::detail {

// In one transaction (`d.begin_write` .. COMMIT): finds the time value at position
// `max_rows` among the table's expired rows (an index walk of max_rows entries), then
// deletes the rows strictly older than it, so one step never deletes more than max_rows
// rows (unless more than max_rows share one time value, which is then deleted whole).
PurgeStep delete_expired(soci::session& s, const SqlDialect& d, RetentionTable table,
                         std::int64_t cutoff_ms, std::size_t max_rows);

}  // namespace iotd::storage::detail
