#include "iotd/ingest/retention.hpp"

#include <spdlog/spdlog.h>

#include <string>

#include "iotd/core/time.hpp"

namespace iotd::ingest {

namespace {
constexpr std::int64_t kMinuteMs = 60'000;
}  // namespace

std::optional<std::int64_t> retention_cutoff(const RetentionOptions& o, storage::RetentionTable table,
                                             std::int64_t now_ms) {
  using storage::RetentionTable;
  switch (table) {
    case RetentionTable::messages:
    case RetentionTable::rollup_1m:
      if (!o.readings) return std::nullopt;
      return time::floor_to(now_ms - o.readings->count(), kMinuteMs);
    case RetentionTable::alerts:
      if (!o.alerts) return std::nullopt;
      return now_ms - o.alerts->count();
    case RetentionTable::rejects:
      if (!o.rejects) return std::nullopt;
      return now_ms - o.rejects->count();
  }
  return std::nullopt;
}

Retention::Retention(RetentionOptions opts, Counters& counters)
    : opts_(opts), counters_(counters),
      // The first run starts at once: a database that has grown past the ages is pruned
      // from the start, not one interval later.
      next_(opts_.enabled() ? Clock::now() : Clock::time_point::max()) {}

void Retention::step(storage::WriteStore& store) {
  if (!enabled()) return;
  if (!running_) {
    running_ = true;
    table_ = 0;
    run_started_ = Clock::now();
    run_started_ms_ = time::now_ms();
    for (std::size_t i = 0; i < storage::kRetentionTables.size(); ++i)
      cutoffs_[i] = retention_cutoff(opts_, storage::kRetentionTables[i], run_started_ms_);
    deleted_.fill(0);
    failed_in_run_ = false;
  }
  while (table_ < cutoffs_.size() && !cutoffs_[table_]) ++table_;
  if (table_ == cutoffs_.size()) {
    finish_run(Clock::now());
    return;
  }
  const auto table = storage::kRetentionTables[table_];
  const auto began = Clock::now();
  try {
    const auto r = store.delete_expired(table, *cutoffs_[table_], opts_.step_rows);
    deleted_[table_] += r.deleted;
    if (r.deleted > 0) counters_.retention_deleted_rows.add(storage::to_string(table), r.deleted);
    if (!r.more) ++table_;
  } catch (const std::exception& e) {
    store.rollback();
    if (!failed_in_run_)
      spdlog::warn("retention: deleting from {} failed (retrying in {} ms): {}", storage::to_string(table),
                   opts_.retry.count(), e.what());
    failed_in_run_ = true;
    next_ = Clock::now() + opts_.retry;
    return;
  }
  const auto now = Clock::now();
  while (table_ < cutoffs_.size() && !cutoffs_[table_]) ++table_;
  if (table_ == cutoffs_.size()) {
    finish_run(now);
    return;
  }
  next_ = now + (now - began) * opts_.pause_factor;
}

void Retention::finish_run(Clock::time_point now) {
  running_ = false;
  next_ = now + opts_.interval;
  const double took = std::chrono::duration<double>(now - run_started_).count();
  counters_.retention_runs++;
  counters_.retention_last_run_at_ms = time::now_ms();
  counters_.retention_run_duration.observe(took);
  std::int64_t total = 0;
  for (auto n : deleted_) total += n;
  // One line per run that deleted something (never one per step).
  if (total > 0) {
    std::string what;
    for (std::size_t i = 0; i < deleted_.size(); ++i) {
      if (!cutoffs_[i]) continue;
      if (!what.empty()) what += ", ";
      what += std::string(storage::to_string(storage::kRetentionTables[i])) + " " + std::to_string(deleted_[i]);
    }
    spdlog::info("retention deleted {} rows ({}) in {:.3f} s", total, what, took);
  } else {
    spdlog::debug("retention: nothing older than the configured ages ({:.3f} s)", took);
  }
}

}  // namespace iotd::ingest
