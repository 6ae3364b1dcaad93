// Retention steps (docs/architecture.md §17) on every backend: WriteStore::delete_expired
// deletes only rows older than the cutoff, at most max_rows per step (a crowded time value
// whole), keeps active alerts and alerts cleared after the cutoff, and what is left reads
// back through the repository (stats over rollups, history, alerts, rejects).
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <string>
#include <vector>

#include "iotd/storage/database.hpp"
#include "storage_test_support.hpp"

namespace iotd::storage {
namespace {

using testing::count_rows;
using testing::make_reading;
using testing::store_batch;
using testing::TestDatabase;

constexpr std::int64_t kCutoff = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, minute-aligned
constexpr std::int64_t kMinute = 60'000;

struct Drained {
  std::int64_t deleted = 0;
  int steps = 0;
  std::int64_t largest_step = 0;
};

Drained drain(WriteStore& ws, RetentionTable t, std::int64_t cutoff, std::size_t max_rows) {
  Drained d;
  for (PurgeStep s{0, true}; s.more;) {
    s = ws.delete_expired(t, cutoff, max_rows);
    d.deleted += s.deleted;
    d.largest_step = std::max(d.largest_step, s.deleted);
    ++d.steps;
    if (d.steps > 1000) ADD_FAILURE() << "retention never finished";
    if (d.steps > 1000) break;
  }
  return d;
}

class RetentionOnBackend : public ::testing::TestWithParam<std::string> {};

TEST_P(RetentionOnBackend, ReadingsAndRollupsOlderThanTheCutoffGoInBoundedStepsFreshOnesStay) {
  TestDatabase db(GetParam());
  auto ws = make_write_store(db.spec());
  std::vector<Reading> rs;
  // 25 old readings, one per minute (25 rollup buckets), and 5 fresh ones in the cutoff's minute.
  for (int i = 0; i < 25; ++i)
    rs.push_back(make_reading("d1", kCutoff - 30 * kMinute + i * kMinute, {{"temperature", 10.0 + i}}, 1000 + i));
  for (int i = 0; i < 5; ++i)
    rs.push_back(make_reading("d1", kCutoff + i * 1000, {{"temperature", 40.0}}, 2000 + i));
  store_batch(*ws, rs);
  auto raw = db.raw();
  ASSERT_EQ(count_rows(*raw, "SELECT COUNT(*) FROM rollup_1m"), 26);

  const auto m = drain(*ws, RetentionTable::messages, kCutoff, 10);
  EXPECT_EQ(m.deleted, 25);
  EXPECT_LE(m.largest_step, 10);
  EXPECT_GE(m.steps, 3);
  const auto r = drain(*ws, RetentionTable::rollup_1m, kCutoff, 10);
  EXPECT_EQ(r.deleted, 25);
  EXPECT_LE(r.largest_step, 10);

  EXPECT_EQ(count_rows(*raw, "SELECT COUNT(*) FROM messages"), 5);
  EXPECT_EQ(count_rows(*raw, "SELECT MIN(ts) FROM messages"), kCutoff);
  EXPECT_EQ(count_rows(*raw, "SELECT COUNT(*) FROM rollup_1m"), 1);
  EXPECT_EQ(count_rows(*raw, "SELECT COUNT(*) FROM latest_values"), 1);  // kept (§17)

  auto repo = make_repository(db.spec(), 1);
  auto stats = repo->stats(StatsQuery{});  // all time: whole minutes from rollups
  ASSERT_TRUE(stats.contains("temperature"));
  EXPECT_EQ(stats["temperature"].count, 5);
  EXPECT_DOUBLE_EQ(stats["temperature"].min, 40.0);
  ReadingQuery q;
  q.limit = 100;
  EXPECT_EQ(repo->readings(q).rows.size(), 5u);

  // Nothing left to delete: one step that deletes nothing and says so.
  const auto again = ws->delete_expired(RetentionTable::messages, kCutoff, 10);
  EXPECT_EQ(again.deleted, 0);
  EXPECT_FALSE(again.more);
  // The writer goes on after the steps.
  store_batch(*ws, {make_reading("d1", kCutoff + kMinute, {{"temperature", 41.0}}, 3000)});
  EXPECT_EQ(count_rows(*raw, "SELECT COUNT(*) FROM messages"), 6);
}

// More rows than max_rows sharing one device time: that value's rows go in one step rather
// than never.
TEST_P(RetentionOnBackend, ACrowdedTimeValueIsDeletedWholeAndTheRunEnds) {
  TestDatabase db(GetParam());
  auto ws = make_write_store(db.spec());
  std::vector<Reading> rs;
  for (int i = 0; i < 30; ++i)
    rs.push_back(make_reading("d" + std::to_string(i), kCutoff - kMinute, {{"humidity", 50.0}}, 1));
  store_batch(*ws, rs);
  const auto m = drain(*ws, RetentionTable::messages, kCutoff, 10);
  EXPECT_EQ(m.deleted, 30);
  auto raw = db.raw();
  EXPECT_EQ(count_rows(*raw, "SELECT COUNT(*) FROM messages"), 0);
}

Alert make_alert(std::string device, std::int64_t raised, std::optional<std::int64_t> cleared) {
  Alert a;
  a.device_id = std::move(device);
  a.metric = "temperature";
  a.message = "temperature out of range";
  a.threshold_min = 0;
  a.threshold_max = 50;
  a.first_value = a.last_value = a.peak_value = 60;
  a.raised_ts_ms = raised;
  a.raised_received_at_ms = raised + 5;
  a.updated_ts_ms = cleared.value_or(raised);
  a.cleared_ts_ms = cleared;
  a.state = cleared ? "cleared" : "active";
  return a;
}

TEST_P(RetentionOnBackend, OnlyAlertsClearedBeforeTheCutoffGoActiveOnesStay) {
  TestDatabase db(GetParam());
  auto ws = make_write_store(db.spec());
  store_batch(*ws, {make_reading("d1", kCutoff - 10 * 24 * 60 * kMinute, {{"temperature", 20.0}}, 1)});
  ws->begin();
  const auto old_cleared = ws->insert_alert(make_alert("d1", kCutoff - 120 * kMinute, kCutoff - 60 * kMinute));
  const auto old_active = ws->insert_alert(make_alert("d1", kCutoff - 180 * kMinute, std::nullopt));
  const auto cleared_late = ws->insert_alert(make_alert("d1", kCutoff - 120 * kMinute, kCutoff + kMinute));
  const auto fresh = ws->insert_alert(make_alert("d1", kCutoff + kMinute, kCutoff + 2 * kMinute));
  ws->commit();

  const auto a = drain(*ws, RetentionTable::alerts, kCutoff, 100);
  EXPECT_EQ(a.deleted, 1);
  auto repo = make_repository(db.spec(), 1);
  EXPECT_FALSE(repo->alert(old_cleared).has_value());
  EXPECT_TRUE(repo->alert(old_active).has_value());
  EXPECT_TRUE(repo->alert(cleared_late).has_value());
  EXPECT_TRUE(repo->alert(fresh).has_value());
  EXPECT_EQ(ws->active_alerts().size(), 1u);
}

TEST_P(RetentionOnBackend, RejectsReceivedBeforeTheCutoffGo) {
  TestDatabase db(GetParam());
  auto ws = make_write_store(db.spec());
  std::vector<RejectRecord> rejects;
  for (int i = 0; i < 12; ++i) {
    RejectRecord r;
    r.source = "mqtt";
    r.topic = "sensors/x/data";
    r.payload = "not json " + std::to_string(i);
    r.payload_size = static_cast<std::int64_t>(r.payload.size());
    r.reason = "not_json";
    r.received_at_ms = i < 9 ? kCutoff - (i + 1) * kMinute : kCutoff + i * kMinute;
    rejects.push_back(r);
  }
  ws->begin();
  ws->insert_rejects(rejects);
  ws->commit();
  const auto r = drain(*ws, RetentionTable::rejects, kCutoff, 4);
  EXPECT_EQ(r.deleted, 9);
  EXPECT_LE(r.largest_step, 4);
  auto repo = make_repository(db.spec(), 1);
  const auto left = repo->rejects(RejectQuery{});
  ASSERT_EQ(left.size(), 3u);
  for (const auto& x : left) EXPECT_GE(x.received_at_ms, kCutoff);
}

INSTANTIATE_TEST_SUITE_P(Backends, RetentionOnBackend, ::testing::ValuesIn(testing::test_backends()),
                         testing::backend_name);

}  // namespace
}  // namespace iotd::storage
