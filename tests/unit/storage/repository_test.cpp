#include <gtest/gtest.h>
#include <soci/soci.h>

#include <atomic>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "../../../src/storage/metrics_json.hpp"
#include "iotd/core/time.hpp"
#include "iotd/storage/database.hpp"
#include "storage_test_support.hpp"

namespace iotd::storage {
namespace {

using testing::make_reading;
using testing::store_batch;
using testing::TestDatabase;

constexpr std::int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z, a UTC day boundary
constexpr std::int64_t kMinute = 60'000, kHour = 3'600'000, kDay = 86'400'000;

class RepositoryTest : public ::testing::TestWithParam<std::string> {
 protected:
  RepositoryTest()
      : db_(GetParam()), ws_(make_write_store(db_.spec())), repo_(make_repository(db_.spec(), 4)) {}

  // Stores `rs` in batches of `batch` readings and returns them with their ids.
  struct Stored {
    std::int64_t id;
    Reading r;
  };
  std::vector<Stored> store(const std::vector<Reading>& rs, std::size_t batch = 500) {
    std::vector<Stored> out;
    for (std::size_t i = 0; i < rs.size(); i += batch) {
      std::vector<Reading> part(rs.begin() + i, rs.begin() + std::min(rs.size(), i + batch));
      auto ids = store_batch(*ws_, part);
      for (std::size_t j = 0; j < part.size(); ++j)
        if (ids[j]) out.push_back({*ids[j], part[j]});
    }
    return out;
  }

  TestDatabase db_;
  std::unique_ptr<WriteStore> ws_;
  std::unique_ptr<Repository> repo_;
};

// Random readings over `span` ms: 3 devices, metrics a/b/c in varying subsets, random
// millisecond times (so minute edges are partial), some sharing a timestamp.
std::vector<Reading> random_readings(std::size_t n, std::int64_t span, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<std::int64_t> t(0, span - 1);
  std::uniform_real_distribution<double> v(-100, 100);
  std::vector<Reading> out;
  for (std::size_t i = 0; i < n; ++i) {
    std::vector<std::pair<std::string, double>> m;
    if (i % 2 == 0) m.emplace_back("a", v(rng));
    if (i % 3 != 1) m.emplace_back("b", v(rng));
    if (i % 5 == 0 || m.empty()) m.emplace_back("c", v(rng));
    std::int64_t ts = kT0 + (i % 10 == 9 ? out.back().ts_ms - kT0 : t(rng));
    out.push_back(make_reading("dev-" + std::to_string(i % 3), ts, std::move(m),
                               static_cast<std::int64_t>(i)));
  }
  return out;
}

bool newer(const std::pair<std::int64_t, std::int64_t>& x, const std::pair<std::int64_t, std::int64_t>& y) {
  return x > y;  // (ts, id) descending
}

TEST_P(RepositoryTest, KeysetPagingVisitsEveryRowOnceInOrder) {
  auto stored = store(random_readings(407, 20 * kMinute, 1));
  for (std::optional<std::string> device : {std::optional<std::string>{}, std::optional<std::string>{"dev-1"}}) {
    std::vector<std::pair<std::int64_t, std::int64_t>> want;  // (ts, id)
    for (const auto& s : stored)
      if (!device || s.r.device_id == *device) want.emplace_back(s.r.ts_ms, s.id);
    std::sort(want.begin(), want.end(), newer);

    std::vector<std::pair<std::int64_t, std::int64_t>> got;
    ReadingQuery q;
    q.device_id = device;
    q.limit = 37;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = repo_->readings(q);
      for (const auto& r : page.rows) {
        got.emplace_back(r.ts_ms, r.id);
        if (device) {
          EXPECT_EQ(r.device_id, *device);
        }
      }
      if (!page.next) break;
      EXPECT_EQ(page.rows.size(), 37u);
      q.before = page.next;
    }
    EXPECT_EQ(got, want);

    // Oldest first with `after` (the export walk) sees the same rows reversed.
    std::vector<std::pair<std::int64_t, std::int64_t>> up;
    ReadingQuery e;
    e.device_id = device;
    e.oldest_first = true;
    e.limit = 50;
    for (int pages = 0; pages < 100; ++pages) {
      auto page = repo_->readings(e);
      for (const auto& r : page.rows) up.emplace_back(r.ts_ms, r.id);
      if (!page.next) break;
      e.after = page.next;
    }
    std::reverse(up.begin(), up.end());
    EXPECT_EQ(up, want);
  }
}

TEST_P(RepositoryTest, OffsetPagingAndTimeRange) {
  auto stored = store(random_readings(150, 10 * kMinute, 2));
  const std::int64_t from = kT0 + 2 * kMinute + 123, to = kT0 + 7 * kMinute + 456;
  std::vector<std::int64_t> want;
  std::vector<std::pair<std::int64_t, std::int64_t>> keyed;
  for (const auto& s : stored)
    if (s.r.ts_ms >= from && s.r.ts_ms < to) keyed.emplace_back(s.r.ts_ms, s.id);
  std::sort(keyed.begin(), keyed.end(), newer);
  for (auto& k : keyed) want.push_back(k.second);

  std::vector<std::int64_t> got;
  ReadingQuery q;
  q.from_ms = from;
  q.to_ms = to;
  q.limit = 10;
  for (q.offset = 0; q.offset < 1000; q.offset += q.limit) {
    auto page = repo_->readings(q);
    for (const auto& r : page.rows) got.push_back(r.id);
    if (page.rows.size() < 10u) {
      EXPECT_FALSE(page.next);
      break;
    }
  }
  EXPECT_EQ(got, want);
}

TEST_P(RepositoryTest, ReadingCarriesAllFields) {
  auto r = make_reading("dev-x", kT0 + 5, {{"temperature", 22.5}}, 9, kT0 + 99);
  r.extra_json = R"({"status":"ok"})";
  auto stored = store({r});
  ReadingQuery q;
  q.device_id = "dev-x";
  auto page = repo_->readings(q);
  ASSERT_EQ(page.rows.size(), 1u);
  EXPECT_EQ(page.rows[0].id, stored[0].id);
  EXPECT_EQ(page.rows[0].device_id, "dev-x");
  EXPECT_EQ(page.rows[0].ts_ms, kT0 + 5);
  EXPECT_EQ(page.rows[0].received_at_ms, kT0 + 99);
  EXPECT_EQ(page.rows[0].metrics_json, R"({"temperature":22.5})");
  EXPECT_EQ(page.rows[0].extra_json, R"({"status":"ok"})");
  EXPECT_FALSE(page.next);
  q.device_id = "nobody";
  EXPECT_TRUE(repo_->readings(q).rows.empty());
}

TEST_P(RepositoryTest, MetricFilterKeepsCarriersAndShowsOnlyThatMetric) {
  std::vector<Reading> rs;
  for (int i = 0; i < 2000; ++i) {
    std::vector<std::pair<std::string, double>> m{{"temperature", i * 0.5}};
    if (i % 97 == 0) m.emplace_back("rare", i);  // sparse: forces several fetch chunks
    rs.push_back(make_reading("dev-1", kT0 + i * 1000, std::move(m), i));
  }
  store(rs);
  std::vector<double> got;
  ReadingQuery q;
  q.metric = "rare";
  q.limit = 7;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = repo_->readings(q);
    for (const auto& r : page.rows) {
      double v = -1;
      int members = 0;
      detail::for_each_metric(r.metrics_json, [&](std::string_view n, double x) {
        ++members;
        EXPECT_EQ(n, "rare");
        v = x;
      });
      EXPECT_EQ(members, 1) << r.metrics_json;
      got.push_back(v);
    }
    if (!page.next) break;
    q.before = page.next;
  }
  std::vector<double> want;
  for (int i = 1999; i >= 0; --i)
    if (i % 97 == 0) want.push_back(i);
  EXPECT_EQ(got, want);

  ReadingQuery off;
  off.metric = "rare";
  off.limit = 5;
  off.offset = 5;
  auto page = repo_->readings(off);
  ASSERT_EQ(page.rows.size(), 5u);
  EXPECT_EQ(page.rows[0].metrics_json, R"({"rare":1455})");
  off.metric = "never";
  EXPECT_TRUE(repo_->readings(off).rows.empty());
}

struct Brute {
  std::map<std::string, Stat> stats;
  std::map<std::int64_t, std::map<std::string, Stat>> buckets;
};

Brute brute_force(const std::vector<Reading>& rs, std::optional<std::string> device,
                  std::optional<std::string> metric, std::optional<std::int64_t> from,
                  std::optional<std::int64_t> to, std::int64_t interval) {
  Brute b;
  for (const auto& r : rs) {
    if (device && r.device_id != *device) continue;
    if (from && r.ts_ms < *from) continue;
    if (to && r.ts_ms >= *to) continue;
    for (const auto& [name, v] : r.metrics) {
      if (metric && name != *metric) continue;
      b.stats[name].add(v);
      b.buckets[time::floor_to(r.ts_ms, interval)][name].add(v);
    }
  }
  return b;
}

void expect_same(const std::map<std::string, Stat>& got, const std::map<std::string, Stat>& want,
                 const std::string& where) {
  ASSERT_EQ(got.size(), want.size()) << where;
  for (const auto& [name, w] : want) {
    auto it = got.find(name);
    ASSERT_NE(it, got.end()) << where << " " << name;
    EXPECT_EQ(it->second.count, w.count) << where << " " << name;
    EXPECT_EQ(it->second.min, w.min) << where << " " << name;
    EXPECT_EQ(it->second.max, w.max) << where << " " << name;
    EXPECT_NEAR(it->second.sum, w.sum, 1e-9 * std::max(1.0, std::abs(w.sum))) << where << " " << name;
  }
}

TEST_P(RepositoryTest, StatsMatchBruteForceWithPartialMinuteEdges) {
  auto rs = random_readings(1500, 30 * kMinute, 3);
  store(rs);
  using O = std::optional<std::int64_t>;
  struct Range { O from, to; };
  const std::vector<Range> ranges{
      {O{}, O{}},
      {O{kT0 + 61'234}, O{kT0 + 17 * kMinute + 59'999}},
      {O{kT0 + 5 * kMinute}, O{kT0 + 9 * kMinute}},           // whole minutes only
      {O{kT0 + 3 * kMinute + 10}, O{kT0 + 3 * kMinute + 50'000}},  // inside one minute
      {O{kT0 + 3 * kMinute + 59'000}, O{kT0 + 4 * kMinute + 1'000}},  // across one boundary
      {O{kT0 + 12 * kMinute + 1}, O{}},
      {O{}, O{kT0 + 12 * kMinute + 1}},
      {O{kT0 + 20 * kMinute}, O{kT0 + 10 * kMinute}},  // empty
  };
  for (std::optional<std::string> device : {std::optional<std::string>{}, std::optional<std::string>{"dev-2"}})
    for (std::optional<std::string> metric : {std::optional<std::string>{}, std::optional<std::string>{"b"}})
      for (const auto& range : ranges) {
        StatsQuery q{device, metric, range.from, range.to};
        auto want = brute_force(rs, device, metric, range.from, range.to, kMinute);
        expect_same(repo_->stats(q), want.stats,
                    "device=" + device.value_or("*") + " metric=" + metric.value_or("*") +
                        " from=" + std::to_string(range.from.value_or(-1) - kT0) +
                        " to=" + std::to_string(range.to.value_or(-1) - kT0));
      }
  EXPECT_TRUE(repo_->stats({std::string("nobody"), {}, {}, {}}).empty());
  EXPECT_TRUE(repo_->stats({{}, std::string("nothing"), {}, {}}).empty());
}

TEST_P(RepositoryTest, AggregateBucketsAlignedToUtc) {
  auto rs = random_readings(3000, 2 * kDay + 5 * kHour, 4);
  store(rs, 1000);
  for (std::int64_t interval : {kMinute, 5 * kMinute, kHour, kDay}) {
    for (auto [from, to] : {std::pair{kT0 + 7 * kMinute + 3'333, kT0 + kDay + 13 * kHour + 77},
                            std::pair{kT0 - kDay, kT0 + 3 * kDay}}) {
      for (std::optional<std::string> device : {std::optional<std::string>{}, std::optional<std::string>{"dev-0"}}) {
        AggregateQuery q{device, std::nullopt, from, to, interval};
        auto got = repo_->aggregate(q);
        auto want = brute_force(rs, device, std::nullopt, from, to, interval);
        ASSERT_EQ(got.size(), want.buckets.size()) << interval;
        std::size_t i = 0;
        for (const auto& [start, stats] : want.buckets) {
          EXPECT_EQ(got[i].start_ms, start);
          EXPECT_EQ(got[i].start_ms % interval, 0);
          expect_same(got[i].metrics, stats, "interval " + std::to_string(interval) + " bucket " +
                                                 time::format_iso8601_ms(start));
          ++i;
        }
      }
    }
  }
  AggregateQuery bad;
  bad.from_ms = kT0;
  bad.to_ms = kT0 + kDay;
  bad.interval_ms = 90'000;
  EXPECT_THROW(repo_->aggregate(bad), std::invalid_argument);
}

TEST_P(RepositoryTest, AlertFiltersAndAcknowledge) {
  auto make = [](std::string dev, std::string metric, std::string severity, std::int64_t ts) {
    Alert a;
    a.device_id = std::move(dev);
    a.metric = std::move(metric);
    a.severity = std::move(severity);
    a.first_value = a.last_value = a.peak_value = 99;
    a.raised_ts_ms = a.updated_ts_ms = ts;
    a.raised_received_at_ms = ts + 1;
    return a;
  };
  std::vector<Alert> all{make("d1", "temperature", "warning", kT0), make("d1", "humidity", "critical", kT0 + 10),
                         make("d2", "temperature", "warning", kT0 + 20), make("d2", "voltage", "warning", kT0 + 30)};
  ws_->begin();
  for (auto& a : all) a.id = ws_->insert_alert(a);
  all[3].state = "cleared";
  all[3].cleared_ts_ms = kT0 + 40;
  ws_->update_alert(all[3]);
  ws_->commit();

  auto ids = [](const std::vector<Alert>& v) {
    std::vector<std::int64_t> out;
    for (const auto& a : v) out.push_back(a.id);
    return out;
  };
  AlertQuery q;
  EXPECT_EQ(ids(repo_->alerts(q)), (std::vector{all[3].id, all[2].id, all[1].id, all[0].id}));
  q.device_id = "d1";
  EXPECT_EQ(ids(repo_->alerts(q)), (std::vector{all[1].id, all[0].id}));
  q = {};
  q.state = "active";
  EXPECT_EQ(repo_->alerts(q).size(), 3u);
  q = {};
  q.severity = "critical";
  EXPECT_EQ(ids(repo_->alerts(q)), (std::vector{all[1].id}));
  q = {};
  q.from_ms = kT0 + 10;
  q.to_ms = kT0 + 30;
  EXPECT_EQ(ids(repo_->alerts(q)), (std::vector{all[2].id, all[1].id}));
  q = {};
  q.limit = 2;
  q.offset = 1;
  EXPECT_EQ(ids(repo_->alerts(q)), (std::vector{all[2].id, all[1].id}));
  q = {};
  q.device_id = "nobody";
  EXPECT_TRUE(repo_->alerts(q).empty());

  EXPECT_TRUE(repo_->acknowledge_alert(all[0].id, "alice", kT0 + 1000));
  EXPECT_TRUE(repo_->acknowledge_alert(all[0].id, "bob", kT0 + 2000));  // first one kept
  EXPECT_FALSE(repo_->acknowledge_alert(123456789, "alice", kT0));
  q = {};
  q.acknowledged = true;
  auto acked = repo_->alerts(q);
  ASSERT_EQ(acked.size(), 1u);
  EXPECT_EQ(acked[0].acknowledged_by, "alice");
  EXPECT_EQ(acked[0].acknowledged_at_ms, kT0 + 1000);
  q.acknowledged = false;
  EXPECT_EQ(repo_->alerts(q).size(), 3u);
  auto one = repo_->alert(all[1].id);
  ASSERT_TRUE(one);
  EXPECT_EQ(one->device_id, "d1");
  EXPECT_EQ(one->metric, "humidity");
  EXPECT_EQ(one->raised_received_at_ms, kT0 + 11);
  EXPECT_FALSE(one->cleared_ts_ms);
  EXPECT_FALSE(repo_->alert(987654321));
}

TEST_P(RepositoryTest, PingAndRules) {
  EXPECT_NO_THROW(repo_->ping());
  EXPECT_EQ(repo_->rules().size(), 5u);
}

TEST_P(RepositoryTest, PutRuleUpsertsPerScopeAndDeleteRemovesOne) {
  auto find = [&](const std::string& metric, const std::string& scope,
                  const std::string& value) -> std::optional<Rule> {
    for (auto& r : repo_->rules())
      if (r.metric == metric && r.scope == scope && r.scope_value == value) return r;
    return std::nullopt;
  };
  Rule device;
  device.metric = "temperature";
  device.scope = "device";
  device.scope_value = "esp-1";
  device.max = 30;
  device.severity = "critical";
  device.hysteresis = 0.5;
  EXPECT_TRUE(repo_->put_rule(device));
  auto got = find("temperature", "device", "esp-1");
  ASSERT_TRUE(got);
  EXPECT_FALSE(got->min);
  EXPECT_EQ(got->max, 30);
  EXPECT_EQ(got->severity, "critical");
  EXPECT_EQ(got->hysteresis, 0.5);

  // Replacing: the limits, severity and hysteresis all change, a bound can go away.
  device.min = -10;
  device.max.reset();
  device.severity = "info";
  device.hysteresis = 0;
  EXPECT_FALSE(repo_->put_rule(device));
  got = find("temperature", "device", "esp-1");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->min, -10);
  EXPECT_FALSE(got->max);
  EXPECT_EQ(got->severity, "info");
  EXPECT_EQ(got->hysteresis, 0);

  // The seed's global rule is replaced in place; a type rule is one more row.
  Rule global;
  global.metric = "temperature";
  global.min = 5;
  global.max = 45;
  EXPECT_FALSE(repo_->put_rule(global));
  Rule type = global;
  type.scope = "type";
  type.scope_value = "greenhouse";
  EXPECT_TRUE(repo_->put_rule(type));
  EXPECT_EQ(repo_->rules().size(), 7u);
  EXPECT_EQ(find("temperature", "global", "")->max, 45);

  EXPECT_TRUE(repo_->delete_rule("temperature", "device", "esp-1"));
  EXPECT_FALSE(repo_->delete_rule("temperature", "device", "esp-1"));
  EXPECT_FALSE(repo_->delete_rule("temperature", "device", "esp-2"));
  EXPECT_FALSE(find("temperature", "device", "esp-1"));
  EXPECT_TRUE(find("temperature", "type", "greenhouse"));
  EXPECT_EQ(repo_->rules().size(), 6u);
}

TEST_P(RepositoryTest, InsertAlertCreatesTheDeviceWhenMissing) {
  // One device known to the writer, one never seen.
  store({make_reading("known", kT0, {{"temperature", 20}}, 1)});
  Alert a;
  a.device_id = "never-seen";
  a.metric = "";
  a.kind = "manual";
  a.severity = "critical";
  a.message = "tamper switch";
  a.first_value = a.last_value = a.peak_value = 1;
  a.raised_ts_ms = a.raised_received_at_ms = a.updated_ts_ms = kT0 + 5;
  const auto id = repo_->insert_alert(a);
  ASSERT_GT(id, 0);
  a.device_id = "known";
  a.message = "inspect";
  const auto id2 = repo_->insert_alert(a);
  ASSERT_GT(id2, id);

  auto got = repo_->alert(id);
  ASSERT_TRUE(got);
  EXPECT_EQ(got->device_id, "never-seen");
  EXPECT_EQ(got->kind, "manual");
  EXPECT_EQ(got->severity, "critical");
  EXPECT_EQ(got->state, "active");
  EXPECT_EQ(got->message, "tamper switch");
  EXPECT_EQ(got->metric, "");
  EXPECT_FALSE(got->threshold_min);
  EXPECT_FALSE(got->threshold_max);
  EXPECT_EQ(got->raised_ts_ms, kT0 + 5);
  EXPECT_FALSE(got->acknowledged);
  AlertQuery q;
  q.device_id = "known";
  auto known = repo_->alerts(q);
  ASSERT_EQ(known.size(), 1u);
  EXPECT_EQ(known[0].id, id2);
  // The writer's view of active alerts includes it; its alarm book skips manual ones.
  bool listed = false;
  for (const auto& x : ws_->active_alerts()) listed = listed || x.id == id;
  EXPECT_TRUE(listed);
  EXPECT_TRUE(repo_->acknowledge_alert(id, "alice", kT0 + 100));
}

TEST_P(RepositoryTest, ReadersRunBesideTheWriter) {
  std::atomic<bool> done{false};
  std::atomic<int> errors{0}, queries{0};
  std::string first_error;
  std::mutex error_mu;
  auto note = [&](const std::exception& e) {
    std::lock_guard lock(error_mu);
    if (errors++ == 0) first_error = e.what();
  };
  std::vector<std::jthread> readers;
  for (int t = 0; t < 4; ++t)
    readers.emplace_back([&, t] {
      while (!done) {
        try {
          ReadingQuery rq;
          rq.limit = 50;
          if (t % 2) rq.device_id = "dev-" + std::to_string(t);
          repo_->readings(rq);
          repo_->stats({{}, {}, kT0 + 1234, kT0 + 10 * kMinute + 4321});
          repo_->aggregate({{}, {}, kT0, kT0 + kHour, 5 * kMinute});
          repo_->alerts({});
          ++queries;
        } catch (const std::exception& e) {
          note(e);
        }
      }
    });
  constexpr int kBatches = 50, kPerBatch = 400;
  for (int b = 0; b < kBatches; ++b) {
    std::vector<Reading> batch;
    for (int i = 0; i < kPerBatch; ++i) {
      int k = b * kPerBatch + i;
      batch.push_back(make_reading("dev-" + std::to_string(k % 8), kT0 + k * 50,
                                   {{"temperature", k * 0.01}, {"humidity", 50}}, k));
    }
    try {
      store_batch(*ws_, batch);
    } catch (const std::exception& e) {
      note(e);
    }
  }
  done = true;
  readers.clear();
  EXPECT_EQ(errors, 0) << first_error;
  EXPECT_GT(queries, 0);
  auto all = repo_->stats({});
  EXPECT_EQ(all.at("temperature").count, kBatches * kPerBatch);
}

INSTANTIATE_TEST_SUITE_P(Backends, RepositoryTest, ::testing::ValuesIn(testing::test_backends()),
                         testing::backend_name);

}  // namespace
}  // namespace iotd::storage
