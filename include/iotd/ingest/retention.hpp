// Retention (docs/architecture.md §17): deletes readings (messages and their rollups), cleared
// alerts and rejects older than their configured ages, in bounded steps that the writer
// thread runs between its commits, each step one short transaction on the writer's own
// session. A run starts every `interval`, fixes its cutoffs, and steps through the tables
// until nothing older than the cutoffs is left. Writer thread only.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>

#include "iotd/core/counters.hpp"
#include "iotd/storage/retention.hpp"
#include "iotd/storage/store.hpp"

namespace iotd::ingest {

struct RetentionOptions {
  // nullopt: that kind of row is kept forever.
  std::optional<std::chrono::milliseconds> readings;  // messages and rollup_1m (IOTD_RETENTION)
  std::optional<std::chrono::milliseconds> alerts;    // cleared alerts (IOTD_RETENTION_ALERTS)
  std::optional<std::chrono::milliseconds> rejects;   // IOTD_RETENTION_REJECTS
  std::chrono::milliseconds interval{10 * 60 * 1000};  // IOTD_RETENTION_INTERVAL
  std::size_t step_rows = 5000;  // rows per step (one transaction)
  // After a step that took d, the next waits at least pause_factor x d: deleting a large
  // backlog takes at most 1 / (1 + pause_factor) of the writer's time.
  int pause_factor = 3;
  // After a failed step (database down, lock timeout): the run resumes this much later.
  std::chrono::milliseconds retry{5000};

  bool enabled() const { return readings || alerts || rejects; }
};

// The cutoff (epoch ms) for rows of `table` at wall-clock time `now_ms`, or nullopt when the
// table is not pruned. Readings' cutoff is aligned down to a UTC minute, so messages
// (ts < cutoff) and rollup buckets (start < cutoff) cover exactly the same minutes.
std::optional<std::int64_t> retention_cutoff(const RetentionOptions& o, storage::RetentionTable table,
                                             std::int64_t now_ms);

class Retention {
 public:
  using Clock = std::chrono::steady_clock;

  Retention(RetentionOptions opts, Counters& counters);

  bool enabled() const { return opts_.enabled(); }
  // When the next step is due (Clock::time_point::max() when retention is off).
  Clock::time_point next_step() const { return next_; }
  bool due(Clock::time_point now) const { return enabled() && now >= next_; }
  // One bounded step of the current run (starting a run when none is in progress). Never
  // throws: a failed step is logged and the run resumes after opts.retry.
  void step(storage::WriteStore& store);

 private:
  void finish_run(Clock::time_point now);

  RetentionOptions opts_;
  Counters& counters_;
  Clock::time_point next_;
  bool running_ = false;
  std::size_t table_ = 0;  // index into storage::kRetentionTables
  std::array<std::optional<std::int64_t>, storage::kRetentionTables.size()> cutoffs_{};
  std::array<std::int64_t, storage::kRetentionTables.size()> deleted_{};
  Clock::time_point run_started_;
  std::int64_t run_started_ms_ = 0;
  bool failed_in_run_ = false;  // one warning per run, not per retry
};

}  // namespace iotd::ingest
