#include <gtest/gtest.h>
#include <soci/soci.h>

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "../../../src/storage/dialect.hpp"
#include "../../../src/storage/metrics_json.hpp"
#include "../../../src/storage/wal_checkpointer.hpp"
#include "iotd/storage/database.hpp"
#include "storage_test_support.hpp"

namespace iotd::storage {
namespace {

using testing::count_rows;
using testing::make_reading;
using testing::store_batch;
using testing::TestDatabase;

constexpr std::int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

class WriteStoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  WriteStoreTest() : db_(GetParam()), ws_(make_write_store(db_.spec())), raw_(db_.raw()) {}

  long long rows(const std::string& sql) { return count_rows(*raw_, sql); }

  TestDatabase db_;
  std::unique_ptr<WriteStore> ws_;
  std::unique_ptr<soci::session> raw_;
};

TEST_P(WriteStoreTest, StoresExactValuesAndTimes) {
  auto r1 = make_reading("dev-1", kT0 + 123, {{"temperature", 21.1}, {"humidity", 0.1 + 0.2}}, 42,
                         kT0 + 500);
  r1.extra_json = R"({"fw":"1.2"})";
  auto r2 = make_reading("dev-2", kT0 + 456, {{"v", -1e-300}, {"big", 1.7976931348623157e308}});
  auto ids = store_batch(*ws_, {r1, r2});
  ASSERT_EQ(ids.size(), 2u);
  ASSERT_TRUE(ids[0] && ids[1]);
  EXPECT_LT(*ids[0], *ids[1]);

  std::string device_id, metrics, extra;
  long long ts = 0, received = 0, dedup = 0;
  soci::indicator extra_ind, dedup_ind;
  *raw_ << "SELECT d.device_id, m.ts, m.received_at, m.dedup_key, m.metrics, m.extra FROM messages m "
           "JOIN devices d ON d.pk = m.device_pk WHERE m.id = :id",
      soci::into(device_id), soci::into(ts), soci::into(received), soci::into(dedup, dedup_ind),
      soci::into(metrics), soci::into(extra, extra_ind), soci::use(static_cast<long long>(*ids[0]));
  EXPECT_EQ(device_id, "dev-1");
  EXPECT_EQ(ts, kT0 + 123);
  EXPECT_EQ(received, kT0 + 500);
  EXPECT_EQ(dedup, 42);
  EXPECT_EQ(metrics, R"({"humidity":0.30000000000000004,"temperature":21.1})");
  EXPECT_EQ(extra, R"({"fw":"1.2"})");

  *raw_ << "SELECT m.dedup_key, m.metrics, m.extra FROM messages m WHERE m.id = :id",
      soci::into(dedup, dedup_ind), soci::into(metrics), soci::into(extra, extra_ind),
      soci::use(static_cast<long long>(*ids[1]));
  EXPECT_EQ(dedup_ind, soci::i_null);
  EXPECT_EQ(extra_ind, soci::i_null);
  std::vector<std::pair<std::string, double>> back;
  detail::for_each_metric(metrics, [&](std::string_view n, double v) { back.emplace_back(n, v); });
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].second, 1.7976931348623157e308);  // exact round trip
  EXPECT_EQ(back[1].second, -1e-300);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM devices"), 2);
  EXPECT_EQ(ws_->device_count(), 2);
  EXPECT_TRUE(ws_->device_known("dev-1"));
  EXPECT_FALSE(ws_->device_known("dev-3"));
}

TEST_P(WriteStoreTest, SameReadingTwiceIsStoredOnce) {
  auto r = make_reading("dev-1", kT0 + 1000, {{"temperature", 20}}, 7);
  auto first = store_batch(*ws_, {r});
  ASSERT_TRUE(first[0]);
  auto again = store_batch(*ws_, {r, r});  // later batch and within one batch
  EXPECT_FALSE(again[0]);
  EXPECT_FALSE(again[1]);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), 1);
  EXPECT_EQ(rows("SELECT SUM(n) FROM rollup_1m"), 1);
}

TEST_P(WriteStoreTest, SameTimeDifferentKeyBothKept) {
  auto a = make_reading("dev-1", kT0, {{"temperature", 20}}, 1);
  auto b = make_reading("dev-1", kT0, {{"temperature", 21}}, 2);
  auto ids = store_batch(*ws_, {a, b});
  EXPECT_TRUE(ids[0] && ids[1]);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), 2);
  EXPECT_EQ(rows("SELECT SUM(n) FROM rollup_1m"), 2);
}

TEST_P(WriteStoreTest, NullDedupKeysNeverCollide) {
  auto r = make_reading("dev-1", kT0, {{"temperature", 20}});  // no device time: no key
  auto ids = store_batch(*ws_, {r, r});
  auto more = store_batch(*ws_, {r});
  EXPECT_TRUE(ids[0] && ids[1] && more[0]);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), 3);
}

TEST_P(WriteStoreTest, RollbackForgetsDevicesAndMetricsOfTheFailedTransaction) {
  store_batch(*ws_, {make_reading("old", kT0, {{"temperature", 1}})});
  ws_->begin();
  ws_->insert_messages(std::vector{make_reading("new", kT0, {{"fresh_metric", 2}, {"temperature", 3}})});
  EXPECT_TRUE(ws_->device_known("new"));
  EXPECT_EQ(ws_->device_count(), 2);
  ws_->rollback();
  EXPECT_FALSE(ws_->device_known("new"));
  EXPECT_EQ(ws_->device_count(), 1);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM metric_names WHERE name = 'fresh_metric'"), 0);

  auto ids = store_batch(*ws_, {make_reading("new", kT0 + 1, {{"fresh_metric", 4}})});
  ASSERT_TRUE(ids[0]);
  // The pk used by the message, its rollup and latest value is the one in devices.
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages m JOIN devices d ON d.pk = m.device_pk "
                 "WHERE d.device_id = 'new'"),
            1);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM rollup_1m r JOIN devices d ON d.pk = r.device_pk "
                 "JOIN metric_names mn ON mn.id = r.metric_id "
                 "WHERE d.device_id = 'new' AND mn.name = 'fresh_metric'"),
            1);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM latest_values lv JOIN metric_names mn ON mn.id = lv.metric_id "
                 "WHERE mn.name = 'fresh_metric'"),
            1);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM rollup_1m"), 2);  // nothing left over from the rollback
}

TEST_P(WriteStoreTest, RollupsEqualGroupByOfRawValues) {
  std::vector<Reading> batch;
  for (int i = 0; i < 300; ++i)
    batch.push_back(make_reading("dev-" + std::to_string(i % 3), kT0 + i * 997,
                                 {{"a", i * 0.37 - 20}, {"b", (i % 11) * 1.5}}, i));
  store_batch(*ws_, std::vector(batch.begin(), batch.begin() + 120));
  store_batch(*ws_, std::vector(batch.begin() + 120, batch.end()));
  struct Agg { long long n = 0; double sum = 0, min = 1e300, max = -1e300; };
  std::map<std::tuple<std::string, std::string, std::int64_t>, Agg> want;
  for (const auto& r : batch)
    for (const auto& [name, v] : r.metrics) {
      auto& a = want[{r.device_id, name, r.ts_ms - r.ts_ms % 60000}];
      ++a.n;
      a.sum += v;
      a.min = std::min(a.min, v);
      a.max = std::max(a.max, v);
    }
  std::string device, metric;
  long long bucket = 0, n = 0;
  double sum = 0, mn = 0, mx = 0;
  soci::statement st = (raw_->prepare << "SELECT d.device_id, m.name, r.bucket, r.n, r.sum, r.min, r.max "
                                         "FROM rollup_1m r JOIN devices d ON d.pk = r.device_pk "
                                         "JOIN metric_names m ON m.id = r.metric_id",
                        soci::into(device), soci::into(metric), soci::into(bucket), soci::into(n),
                        soci::into(sum), soci::into(mn), soci::into(mx));
  st.execute();
  std::size_t seen = 0;
  while (st.fetch()) {
    ++seen;
    auto it = want.find({device, metric, bucket});
    ASSERT_NE(it, want.end());
    EXPECT_EQ(n, it->second.n);
    EXPECT_NEAR(sum, it->second.sum, 1e-9);
    EXPECT_EQ(mn, it->second.min);
    EXPECT_EQ(mx, it->second.max);
  }
  EXPECT_EQ(seen, want.size());
}

TEST_P(WriteStoreTest, OlderReadingDoesNotReplaceNewerLatest) {
  store_batch(*ws_, {make_reading("dev-1", kT0 + 2000, {{"temperature", 1}, {"humidity", 50}}, 1,
                                  kT0 + 9000)});
  // An offline buffer flushed later: older device time, newer arrival; same batch as a new one.
  store_batch(*ws_, {make_reading("dev-1", kT0 + 1000, {{"temperature", 2}}, 2, kT0 + 9500),
                     make_reading("dev-1", kT0 + 3000, {{"humidity", 60}}, 3, kT0 + 9400),
                     make_reading("dev-1", kT0 + 2500, {{"humidity", 55}}, 4, kT0 + 9300)});
  auto latest = ws_->load_latest();
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_EQ(latest[0].device_id, "dev-1");
  EXPECT_EQ(latest[0].last_seen_at_ms, kT0 + 9500);
  EXPECT_EQ(latest[0].metrics.at("temperature").value, 1);
  EXPECT_EQ(latest[0].metrics.at("temperature").ts_ms, kT0 + 2000);
  EXPECT_EQ(latest[0].metrics.at("humidity").value, 60);
  EXPECT_EQ(latest[0].metrics.at("humidity").ts_ms, kT0 + 3000);
}

// commit() writes rollups, latest values and last-seen times as multi-row statements in
// chunks (SQLite: 512 keys, shorter chunks as power-of-two pieces; MySQL: 1000): batches of
// more keys than a chunk, of different sizes (so pieces of every size run, some twice), that
// revisit stored rows with older and newer times, must store what a plain fold stores.
TEST_P(WriteStoreTest, ChunkedUpsertsMatchAPlainFold) {
  auto batch = [](int devices, int round) {
    std::vector<Reading> out;
    for (int i = 0; i < devices; ++i) {
      const std::string id = "d" + std::to_string(i);
      // Round 1 goes back in device time for odd devices (must not replace their latest),
      // and arrives earlier for devices divisible by 5 (must not move last_seen back).
      const std::int64_t ts = kT0 + (round == 1 && i % 2 ? -60'000 : round * 60'000) + i * 7;
      const std::int64_t rx = kT0 + 1'000'000 + round * 10'000 + (round == 1 && i % 5 == 0 ? -20'000 : i);
      const std::int64_t key = round * 100'000 + i * 2;
      out.push_back(make_reading(id, ts, {{"a", i * 0.5 + round}, {"b", -i - 0.25 * round}}, key, rx));
      if (i % 3 == 0)  // a second reading of the device in the batch, older in device time
        out.push_back(make_reading(id, ts - 30'001, {{"a", i * 2.0 - round}}, key + 1, rx + 1));
    }
    return out;
  };
  const std::vector<std::vector<Reading>> batches{batch(1300, 0), batch(700, 1), batch(1041, 2)};
  struct Agg { long long n = 0; double sum = 0, min = 1e300, max = -1e300; };
  std::map<std::tuple<std::string, std::string, std::int64_t>, Agg> rollup;
  std::map<std::pair<std::string, std::string>, std::pair<std::int64_t, double>> latest;
  std::map<std::string, std::int64_t> seen;
  for (const auto& b : batches) {
    store_batch(*ws_, b);
    for (const auto& r : b) {
      for (const auto& [name, v] : r.metrics) {
        auto& a = rollup[{r.device_id, name, r.ts_ms - r.ts_ms % 60000}];
        ++a.n;
        a.sum += v;
        a.min = std::min(a.min, v);
        a.max = std::max(a.max, v);
        auto [it, fresh] = latest.try_emplace({r.device_id, name}, r.ts_ms, v);
        if (!fresh && r.ts_ms >= it->second.first) it->second = {r.ts_ms, v};
      }
      seen[r.device_id] = std::max(seen[r.device_id], r.received_at_ms);
    }
  }

  std::string device, metric;
  long long bucket = 0, n = 0, ts = 0;
  double sum = 0, mn = 0, mx = 0, value = 0;
  std::size_t got = 0;
  {
    soci::statement st = (raw_->prepare << "SELECT d.device_id, m.name, r.bucket, r.n, r.sum, r.min, r.max "
                                           "FROM rollup_1m r JOIN devices d ON d.pk = r.device_pk "
                                           "JOIN metric_names m ON m.id = r.metric_id",
                          soci::into(device), soci::into(metric), soci::into(bucket), soci::into(n),
                          soci::into(sum), soci::into(mn), soci::into(mx));
    st.execute();
    while (st.fetch()) {
      ++got;
      auto it = rollup.find({device, metric, bucket});
      ASSERT_NE(it, rollup.end()) << device << " " << metric << " " << bucket;
      EXPECT_EQ(n, it->second.n) << device << " " << metric << " " << bucket;
      EXPECT_NEAR(sum, it->second.sum, 1e-9);
      EXPECT_EQ(mn, it->second.min);
      EXPECT_EQ(mx, it->second.max);
    }
  }
  EXPECT_EQ(got, rollup.size());
  got = 0;
  {
    soci::statement st = (raw_->prepare << "SELECT d.device_id, m.name, l.ts, l.value "
                                           "FROM latest_values l JOIN devices d ON d.pk = l.device_pk "
                                           "JOIN metric_names m ON m.id = l.metric_id",
                          soci::into(device), soci::into(metric), soci::into(ts), soci::into(value));
    st.execute();
    while (st.fetch()) {
      ++got;
      auto it = latest.find({device, metric});
      ASSERT_NE(it, latest.end()) << device << " " << metric;
      EXPECT_EQ(ts, it->second.first) << device << " " << metric;
      EXPECT_EQ(value, it->second.second) << device << " " << metric;
    }
  }
  EXPECT_EQ(got, latest.size());
  got = 0;
  {
    soci::statement st = (raw_->prepare << "SELECT device_id, last_seen_at FROM devices",
                          soci::into(device), soci::into(ts));
    st.execute();
    while (st.fetch()) {
      ++got;
      EXPECT_EQ(ts, seen.at(device)) << device;
    }
  }
  EXPECT_EQ(got, seen.size());
}

TEST_P(WriteStoreTest, CheckpointSaveAndLoad) {
  EXPECT_FALSE(ws_->load_checkpoint("edge-1"));
  ws_->begin();
  ws_->save_checkpoint("edge-1", {"uuid-a", 10});
  ws_->commit();
  ws_->begin();
  ws_->save_checkpoint("edge-1", {"uuid-a", 5'000'000'000ull});
  ws_->save_checkpoint("edge-2", {"uuid-b", 1});
  ws_->commit();
  auto cp = ws_->load_checkpoint("edge-1");
  ASSERT_TRUE(cp);
  EXPECT_EQ(cp->journal_uuid, "uuid-a");
  EXPECT_EQ(cp->seq, 5'000'000'000ull);
  EXPECT_EQ(ws_->load_checkpoint("edge-2")->seq, 1u);
  ws_->begin();
  ws_->save_checkpoint("edge-1", {"uuid-z", 99});
  ws_->rollback();
  EXPECT_EQ(ws_->load_checkpoint("edge-1")->seq, 5'000'000'000ull);
}

TEST_P(WriteStoreTest, AlertsInsertUpdateAndActive) {
  Alert a;
  a.device_id = "dev-1";
  a.metric = "temperature";
  a.message = "temperature 55 above 50";
  a.threshold_min = 0;
  a.threshold_max = 50;
  a.first_value = a.last_value = a.peak_value = 55;
  a.raised_ts_ms = a.updated_ts_ms = kT0;
  a.raised_received_at_ms = kT0 + 5;
  Alert b = a;
  b.device_id = "dev-2";
  b.threshold_min.reset();
  ws_->begin();
  a.id = ws_->insert_alert(a);
  b.id = ws_->insert_alert(b);
  ws_->commit();
  EXPECT_GT(a.id, 0);
  EXPECT_NE(a.id, b.id);
  EXPECT_TRUE(ws_->device_known("dev-2"));  // alerts register their device if needed

  auto active = ws_->active_alerts();
  ASSERT_EQ(active.size(), 2u);
  EXPECT_EQ(active[0].id, a.id);
  EXPECT_EQ(active[0].device_id, "dev-1");
  EXPECT_EQ(active[0].threshold_max, 50);
  EXPECT_FALSE(active[1].threshold_min);
  EXPECT_EQ(active[0].raised_received_at_ms, kT0 + 5);

  // A user acknowledges; the writer's own copy must not undo that.
  auto repo = make_repository(db_.spec(), 1);
  EXPECT_TRUE(repo->acknowledge_alert(a.id, "ops", kT0 + 100));
  a.state = "cleared";
  a.cleared_ts_ms = kT0 + 60'000;
  a.updated_ts_ms = kT0 + 60'000;
  a.count = 3;
  a.peak_value = 61;
  a.last_value = 45;
  ws_->begin();
  ws_->update_alert(a);
  ws_->commit();
  auto got = repo->alert(a.id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->state, "cleared");
  EXPECT_EQ(got->cleared_ts_ms, kT0 + 60'000);
  EXPECT_EQ(got->count, 3);
  EXPECT_EQ(got->peak_value, 61);
  EXPECT_EQ(got->first_value, 55);
  EXPECT_TRUE(got->acknowledged);
  EXPECT_EQ(got->acknowledged_by, "ops");
  EXPECT_EQ(got->acknowledged_at_ms, kT0 + 100);
  active = ws_->active_alerts();
  ASSERT_EQ(active.size(), 1u);
  EXPECT_EQ(active[0].id, b.id);
}

TEST_P(WriteStoreTest, RejectsKeepBinaryPayloads) {
  RejectRecord r;
  r.source = "mqtt";
  r.topic = "sensors/x/data";
  for (int i = 0; i < 256; ++i) r.payload.push_back(static_cast<char>(i));
  r.payload_size = 100000;
  r.reason = "not_json";
  r.detail = "byte 0";
  r.received_at_ms = kT0;
  RejectRecord r2 = r;
  r2.payload = "{\"x\":";
  r2.reason = "no_metrics";
  r2.received_at_ms = kT0 + 1;
  ws_->begin();
  ws_->insert_rejects(std::vector{r, r2});
  ws_->commit();
  auto repo = make_repository(db_.spec(), 1);
  auto got = repo->rejects({});
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].reason, "no_metrics");  // newest first
  EXPECT_EQ(got[1].payload, r.payload);
  EXPECT_EQ(got[1].payload_size, 100000);
  EXPECT_EQ(got[1].topic, "sensors/x/data");
  EXPECT_EQ(got[1].detail, "byte 0");
  EXPECT_EQ(got[1].source, "mqtt");
  RejectQuery q;
  q.reason = "not_json";
  EXPECT_EQ(repo->rejects(q).size(), 1u);
}

TEST_P(WriteStoreTest, StatementsStayUsableAfterAPermanentError) {
  store_batch(*ws_, {make_reading("dev-1", kT0, {{"t", 1}})});
  *raw_ << "ALTER TABLE rollup_1m RENAME TO rollup_1m_away";
  ws_->begin();
  ws_->insert_messages(std::vector{make_reading("dev-2", kT0 + 1, {{"t", 2}})});
  EXPECT_ANY_THROW(ws_->commit());
  EXPECT_FALSE(ws_->last_error_transient());
  ws_->rollback();
  *raw_ << "ALTER TABLE rollup_1m_away RENAME TO rollup_1m";
  auto ids = store_batch(*ws_, {make_reading("dev-2", kT0 + 1, {{"t", 2}})});
  EXPECT_TRUE(ids[0]);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), 2);
  EXPECT_EQ(rows("SELECT SUM(n) FROM rollup_1m"), 2);
}

// Regression: a single-row SELECT left unfinished kept the writer's read snapshot open
// past COMMIT, so its next BEGIN IMMEDIATE failed once anyone else had written.
TEST_P(WriteStoreTest, BeginsAfterAnotherConnectionWrote) {
  store_batch(*ws_, {make_reading("dev-1", kT0, {{"t", 1}})});  // creates a device and a metric
  ws_->device_known("dev-1");
  ws_->device_known("dev-9");
  ws_->load_checkpoint("x");
  ws_->active_alerts();
  ws_->rules();
  ws_->load_latest();
  ws_->device_count();
  *raw_ << "INSERT INTO metric_names(name) VALUES('other')";
  EXPECT_NO_THROW(store_batch(*ws_, {make_reading("dev-2", kT0 + 1, {{"t", 2}})}));
  *raw_ << "INSERT INTO metric_names(name) VALUES('other2')";
  EXPECT_NO_THROW(store_batch(*ws_, {make_reading("dev-2", kT0 + 2, {{"t", 3}})}));
}

// Stored text is the text given, whatever it holds, in chunks of any size (PostgreSQL sends
// chunks as array literals, MySQL as multi-row VALUES). Device ids and metric names get a
// unique prefix and a closing '|': MySQL keys ignore trailing blanks.
TEST_P(WriteStoreTest, AdversarialTextsRoundTripExactly) {
  const auto texts = testing::adversarial_texts();
  std::vector<Reading> batch;
  for (std::size_t i = 0; i < 2600; ++i) {
    const std::string& t = texts[i % texts.size()];
    auto r = make_reading("d" + std::to_string(i % 40) + ":" + texts[(i % 40) * 7 % texts.size()] + "|",
                          kT0 + static_cast<std::int64_t>(i),
                          {{"m" + std::to_string(i % 9) + ":" + texts[(i * 3) % texts.size()] + "|", i * 0.25},
                           {"plain", -1.0 * i}},
                          i % 4 == 0 ? std::nullopt : std::optional<std::int64_t>(i));
    if (i % 6 != 5) r.extra_json = t;  // includes "" (stored as NULL, like no extras)
    batch.push_back(std::move(r));
  }
  auto ids = store_batch(*ws_, batch);
  ASSERT_EQ(ids.size(), batch.size());
  std::string device_id, metrics, extra, want_metrics;
  soci::indicator extra_ind;
  long long id = 0;
  soci::statement st = (raw_->prepare << "SELECT d.device_id, m.metrics, m.extra FROM messages m "
                                         "JOIN devices d ON d.pk = m.device_pk WHERE m.id = :id",
                        soci::into(device_id), soci::into(metrics), soci::into(extra, extra_ind),
                        soci::use(id));
  for (std::size_t i = 0; i < batch.size(); ++i) {
    ASSERT_TRUE(ids[i]) << i;
    id = *ids[i];
    st.execute(true);
    ASSERT_TRUE(raw_->got_data()) << i;
    EXPECT_EQ(device_id, batch[i].device_id) << i;
    detail::write_metrics_json(want_metrics, batch[i].metrics);
    EXPECT_EQ(metrics, want_metrics) << i;
    if (batch[i].extra_json.empty()) {
      EXPECT_EQ(extra_ind, soci::i_null) << i;
    } else {
      ASSERT_EQ(extra_ind, soci::i_ok) << i;
      EXPECT_EQ(extra, batch[i].extra_json) << i;
    }
  }
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), static_cast<long long>(batch.size()));
  EXPECT_EQ(rows("SELECT SUM(n) FROM rollup_1m"), static_cast<long long>(2 * batch.size()));
}

// Exactly-once across chunks: a key stored earlier, or earlier in the same batch, yields no
// id; NULL keys never collide; every id returned is the row of its reading.
TEST_P(WriteStoreTest, ResentBatchesAreStoredOnceWithIdsMatchingTheirRows) {
  std::vector<Reading> batch;
  for (int i = 0; i < 2600; ++i) {
    const int k = i % 10 == 9 ? i - 1 : i;  // every 10th repeats the one before it
    batch.push_back(make_reading("dev-" + std::to_string(k % 17), kT0 + k / 17 * 1000,
                                 {{"v", static_cast<double>(i)}},
                                 i % 13 == 0 ? std::nullopt : std::optional<std::int64_t>(k)));
  }
  auto expect_rows = [&](const std::vector<std::optional<std::int64_t>>& ids,
                         const std::vector<Reading>& rs) {
    std::string device_id, metrics, want;
    long long id = 0, ts = 0;
    soci::statement st = (raw_->prepare << "SELECT d.device_id, m.ts, m.metrics FROM messages m "
                                           "JOIN devices d ON d.pk = m.device_pk WHERE m.id = :id",
                          soci::into(device_id), soci::into(ts), soci::into(metrics), soci::use(id));
    std::optional<std::int64_t> prev;
    for (std::size_t i = 0; i < rs.size(); ++i) {
      if (!ids[i]) continue;
      if (prev) {
        EXPECT_GT(*ids[i], *prev) << i;  // ids in row order
      }
      prev = ids[i];
      id = *ids[i];
      st.execute(true);
      ASSERT_TRUE(raw_->got_data());
      detail::write_metrics_json(want, rs[i].metrics);
      EXPECT_EQ(device_id, rs[i].device_id) << i;
      EXPECT_EQ(ts, rs[i].ts_ms) << i;
      EXPECT_EQ(metrics, want) << i;
    }
  };
  auto first = store_batch(*ws_, batch);
  long long stored = 0, nulls = 0;
  for (int i = 0; i < 2600; ++i) {
    const bool null_key = i % 13 == 0;
    const bool repeat = i % 10 == 9 && !null_key && (i - 1) % 13 != 0;
    EXPECT_EQ(first[i].has_value(), !repeat) << i;
    stored += first[i].has_value();
    nulls += null_key;
  }
  expect_rows(first, batch);

  auto again = store_batch(*ws_, batch);
  for (int i = 0; i < 2600; ++i) EXPECT_EQ(again[i].has_value(), i % 13 == 0) << i;
  expect_rows(again, batch);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), stored + nulls);

  // Half old, half new, interleaved.
  std::vector<Reading> mixed;
  for (int i = 0; i < 1200; ++i) {
    mixed.push_back(batch[i * 2 + 1]);
    mixed.push_back(make_reading("dev-new", kT0 + i, {{"v", 0.5 * i}}, 1'000'000 + i));
  }
  auto third = store_batch(*ws_, mixed);
  for (std::size_t i = 0; i < mixed.size(); ++i) {
    const bool old_null_key = i % 2 == 0 && ((i / 2) * 2 + 1) % 13 == 0;
    EXPECT_EQ(third[i].has_value(), i % 2 == 1 || old_null_key) << i;
  }
  expect_rows(third, mixed);
  long long third_stored = 0;
  for (auto& x : third) third_stored += x.has_value();
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), stored + nulls + third_stored);
  EXPECT_EQ(rows("SELECT SUM(n) FROM rollup_1m"), stored + nulls + third_stored);
}

// The writer bisects a batch that fails permanently to find the bad frame: one bad row must
// fail the whole insert (and leave nothing behind), then its neighbours alone must store.
TEST_P(WriteStoreTest, OneBadRowFailsItsBatchPermanently) {
  if (db_.spec().backend == "sqlite3")
    *raw_ << "CREATE TRIGGER poison BEFORE INSERT ON messages WHEN NEW.metrics LIKE '%666%' "
             "BEGIN SELECT RAISE(ABORT, 'poisoned row'); END";
  else
    *raw_ << "ALTER TABLE messages ADD CONSTRAINT poison CHECK (metrics NOT LIKE '%666%')";
  std::vector<Reading> batch;
  for (int i = 0; i < 2400; ++i)
    batch.push_back(make_reading("dev-" + std::to_string(i % 5), kT0 + i,
                                 {{"v", i == 1777 ? 666.0 : static_cast<double>(i % 600)}}, i));
  ws_->begin();
  EXPECT_ANY_THROW({
    ws_->insert_messages(batch);
    ws_->commit();
  });
  EXPECT_FALSE(ws_->last_error_transient());
  ws_->rollback();
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), 0);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM rollup_1m"), 0);
  batch.erase(batch.begin() + 1777);
  auto ids = store_batch(*ws_, batch);
  for (auto& id : ids) EXPECT_TRUE(id);
  EXPECT_EQ(rows("SELECT COUNT(*) FROM messages"), 2399);
  EXPECT_EQ(rows("SELECT SUM(n) FROM rollup_1m"), 2399);
}

INSTANTIATE_TEST_SUITE_P(Backends, WriteStoreTest, ::testing::ValuesIn(testing::test_backends()),
                         testing::backend_name);

TEST(WriteStoreSqlite, LockedDatabaseIsTransient) {
  TestDatabase db("sqlite");
  db.spec().busy_timeout_ms = 50;
  auto ws = make_write_store(db.spec());
  auto other = db.raw();
  *other << "BEGIN IMMEDIATE";  // another process holds the write lock
  EXPECT_ANY_THROW(ws->begin());
  EXPECT_TRUE(ws->last_error_transient());
  ws->rollback();
  *other << "COMMIT";
  auto ids = store_batch(*ws, {make_reading("dev-1", kT0, {{"t", 1}})});
  EXPECT_TRUE(ids[0]);
}

TEST(WalCheckpointer, KeepsTheWalBoundedUnderContinuousCommits) {
  TestDatabase db("sqlite");
  auto writer = detail::open_session(db.spec());
  detail::WalCheckpointer ck(db.spec(), *writer,
                             {std::chrono::milliseconds(1), /*writer_limit_bytes=*/512 << 10,
                              /*journal_size_limit=*/256 << 10});
  *writer << "CREATE TABLE blobs(id INTEGER PRIMARY KEY, v TEXT)";
  std::string v(2000, 'x');
  for (int i = 0; i < 400; ++i) {
    *writer << "BEGIN IMMEDIATE";
    for (int j = 0; j < 10; ++j) *writer << "INSERT INTO blobs(v) VALUES(:v)", soci::use(v);
    *writer << "COMMIT";
    ck.after_commit(*writer);
  }
  // About 8 MB went through the WAL; without checkpoints it would all still be there.
  EXPECT_LT(std::filesystem::file_size(db.spec().sqlite_path + "-wal"), 2u << 20);
  EXPECT_GT(ck.checkpoints(), 0);
  EXPECT_EQ(count_rows(*writer, "SELECT COUNT(*) FROM blobs"), 4000);
}

TEST(ErrorClassification, TransientAndPermanent) {
  EXPECT_TRUE(detail::is_transient_error(std::runtime_error("sqlite3_statement_backend::loadOne: database is locked")));
  EXPECT_TRUE(detail::is_transient_error(std::runtime_error("server closed the connection unexpectedly")));
  EXPECT_TRUE(detail::is_transient_error(std::runtime_error("Lost connection to MySQL server during query")));
  EXPECT_TRUE(detail::is_transient_error(std::runtime_error("Lock wait timeout exceeded")));
  EXPECT_FALSE(detail::is_transient_error(std::runtime_error("UNIQUE constraint failed: r.id")));
  EXPECT_FALSE(detail::is_transient_error(std::runtime_error("NOT NULL constraint failed: messages.ts")));
}

// SOCI appends the statement and its bound values (stored text) to what(): a payload that
// reads like a transient error must not make a poisoned chunk be retried for ever.
TEST(ErrorClassification, BoundValuesInTheMessageDoNotDecide) {
  soci::soci_error poisoned("ERROR:  new row for relation \"messages\" violates check constraint");
  poisoned.add_context(R"(while executing "INSERT INTO messages …" with :c4="{\"{\\\"note\\\":\\\"lost connection, timed out, database is locked\\\"}\"}")");
  EXPECT_NE(std::string(poisoned.what()).find("timed out"), std::string::npos);
  EXPECT_FALSE(detail::is_transient_error(poisoned));
  EXPECT_FALSE(detail::is_connection_error(poisoned));
  soci::soci_error lost("server closed the connection unexpectedly");
  lost.add_context(R"(while executing "SELECT 1")");
  EXPECT_TRUE(detail::is_transient_error(lost));
  EXPECT_TRUE(detail::is_connection_error(lost));
}

TEST(MetricsJson, CompactShortestAndEscaped) {
  std::string out = "garbage";
  detail::write_metrics_json(out, {{"a\"b", 0.1}, {"c", 1e21}, {"d", -0.0}, {"e", 3}, {"f\n", 2.5e-8}});
  EXPECT_EQ(out, R"({"a\"b":0.1,"c":1e+21,"d":-0,"e":3,"f\n":2.5e-08})");
  std::string one;
  EXPECT_TRUE(detail::filter_metrics_json(out, "e", one));
  EXPECT_EQ(one, R"({"e":3})");
  EXPECT_FALSE(detail::filter_metrics_json(out, "zz", one));
  EXPECT_FALSE(detail::filter_metrics_json("not json", "e", one));
}

// The ingest hot path: 2000 readings x 5 metrics per batch, 100 devices, on every backend.
// Prints the rate; no timing assertion (shared CI machines).
class WriteStoreRate : public ::testing::TestWithParam<std::string> {};

TEST_P(WriteStoreRate, InsertRate) {
  TestDatabase db(GetParam());
  auto ws = make_write_store(db.spec());
  // IOTD_TEST_INSERT_BATCHES=500 gives a steadier, longer measurement (1M rows).
  const char* env = std::getenv("IOTD_TEST_INSERT_BATCHES");
  const int kBatches = env ? std::max(1, std::atoi(env)) : 50;
  constexpr int kPerBatch = 2000;
  std::vector<Reading> batch(kPerBatch);
  std::int64_t total = 0;
  double seconds = 0, cpu_seconds = 0;
  auto thread_cpu = [] {
    timespec ts{};
    ::clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
  };
  for (int b = 0; b < kBatches; ++b) {
    for (int i = 0; i < kPerBatch; ++i) {
      std::int64_t k = static_cast<std::int64_t>(b) * kPerBatch + i;
      Reading& r = batch[i];
      r.device_id = "esp32-" + std::to_string(k % 100);
      r.ts_ms = kT0 + (k / 100) * 1000 + (k % 100);
      r.received_at_ms = r.ts_ms + 40;
      r.has_device_time = true;
      r.dedup_key = static_cast<std::int64_t>(k * 0x9E3779B97F4A7C15ull >> 1);
      r.metrics = {{"current", 1 + (k % 7) * 0.1},
                   {"humidity", 40 + (k % 13) * 0.5},
                   {"pressure", 1013.25 - (k % 5)},
                   {"temperature", 20 + (k % 17) * 0.1},
                   {"voltage", 229.5 + (k % 3)}};
    }
    auto t0 = std::chrono::steady_clock::now();
    double c0 = thread_cpu();
    auto ids = store_batch(*ws, batch);
    cpu_seconds += thread_cpu() - c0;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (auto& id : ids) total += id.has_value();
  }
  EXPECT_EQ(total, kBatches * kPerBatch);
  // Wall time depends on the disk and on who else uses the CPU; the writer thread's CPU time
  // is the rate one free core sustains.
  std::printf("[ RATE     ] %s write store: %lld message rows in %.3f s wall = %.0f rows/s; "
              "writer CPU %.3f s = %.0f rows/s per core (batches of %d readings x 5 metrics, "
              "100 devices, rollups + latest + commit included)\n",
              db.spec().display.c_str(), static_cast<long long>(total), seconds, total / seconds, cpu_seconds,
              total / cpu_seconds, kPerBatch);
}

INSTANTIATE_TEST_SUITE_P(Backends, WriteStoreRate, ::testing::ValuesIn(testing::test_backends()),
                         testing::backend_name);

}  // namespace
}  // namespace iotd::storage
