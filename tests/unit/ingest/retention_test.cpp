// The retention scheduler (docs/architecture.md §17) over a real SQLite store: cutoffs, a
// run stepping through the tables in bounded steps, counters, and the pause between steps.
#include "iotd/ingest/retention.hpp"

#include <gtest/gtest.h>
#include <soci/soci.h>

#include <vector>

#include "iotd/core/time.hpp"
#include "iotd/storage/database.hpp"
#include "support/temp_dir.hpp"

namespace iotd::ingest {
namespace {

using namespace std::chrono_literals;
using storage::RetentionTable;

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

TEST(RetentionCutoff, ReadingsAreMinuteAlignedOtherTablesExactAndOffTablesHaveNone) {
  RetentionOptions o;
  o.readings = std::chrono::milliseconds(30 * kDay);
  o.rejects = std::chrono::milliseconds(kDay);
  const std::int64_t now = 1'767'225'600'000 + 90'500;  // 1 min 30.5 s past a minute
  EXPECT_EQ(retention_cutoff(o, RetentionTable::messages, now), 1'767'225'600'000 + 60'000 - 30 * kDay);
  EXPECT_EQ(retention_cutoff(o, RetentionTable::rollup_1m, now), retention_cutoff(o, RetentionTable::messages, now));
  EXPECT_EQ(retention_cutoff(o, RetentionTable::rejects, now), now - kDay);
  EXPECT_FALSE(retention_cutoff(o, RetentionTable::alerts, now).has_value());
  EXPECT_FALSE(RetentionOptions{}.enabled());
  EXPECT_TRUE(o.enabled());
}

TEST(RetentionRun, StepsThroughTheTablesInBoundedStepsCountsAndWaitsForTheNextInterval) {
  test::TempDir dir;
  auto spec = storage::parse_database_url("sqlite:///" + (dir / "t.db").string());
  storage::migrate(spec);
  auto store = storage::make_write_store(spec);
  const std::int64_t old = time::now_ms() - 40 * kDay;
  std::vector<Reading> rs;
  for (int i = 0; i < 23; ++i) {
    Reading r;
    r.device_id = "d1";
    r.ts_ms = old + i * 60'000;
    r.received_at_ms = r.ts_ms;
    r.metrics = {{"temperature", 20.0}};
    rs.push_back(r);
  }
  Reading fresh = rs.front();
  fresh.ts_ms = fresh.received_at_ms = time::now_ms();
  rs.push_back(fresh);
  store->begin();
  store->insert_messages(rs);
  store->commit();

  Counters counters;
  RetentionOptions o;
  o.readings = std::chrono::milliseconds(30 * kDay);
  o.rejects = std::nullopt;
  o.step_rows = 5;
  o.interval = 1h;
  Retention retention(o, counters);
  EXPECT_TRUE(retention.due(Retention::Clock::now())) << "the first run starts at once";
  int steps = 0;
  while (counters.retention_runs == 0 && steps < 100) {
    retention.step(*store);
    ++steps;
  }
  // 23 messages in steps of 5 (5 steps), 23 rollup rows (5 steps), then the run ends.
  EXPECT_EQ(steps, 10);
  EXPECT_EQ(counters.retention_deleted_rows.values()["messages"], 23u);
  EXPECT_EQ(counters.retention_deleted_rows.values()["rollup_1m"], 23u);
  EXPECT_GT(counters.retention_last_run_at_ms.load(), 0);
  EXPECT_FALSE(retention.due(Retention::Clock::now()));
  EXPECT_GT(retention.next_step(), Retention::Clock::now() + 59min);

  soci::session s(spec.backend, spec.connect_string);
  long long left = 0;
  s << "SELECT COUNT(*) FROM messages", soci::into(left);
  EXPECT_EQ(left, 1);
}

}  // namespace
}  // namespace iotd::ingest
