// Unit tests for iotd/core/metrics.hpp and the registry in iotd/core/counters.hpp.
#include "iotd/core/metrics.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "iotd/core/counters.hpp"

namespace iotd::metrics {
namespace {

// Records what a visit saw, flattened to "name" or "name{v1,v2}" -> value.
class Recorder final : public MetricVisitor {
 public:
  void counter(const Info& i, std::uint64_t v) override { add(i, "counter"); values[std::string(i.name)] = v; }
  void gauge(const Info& i, std::int64_t v) override { add(i, "gauge"); values[std::string(i.name)] = v; }
  void histogram(const Info& i, const HistogramSnapshot& h) override {
    add(i, "histogram");
    values[std::string(i.name) + "_count"] = static_cast<std::int64_t>(h.count);
  }
  void labelled_counter(const Info& i, std::span<const std::string_view> names,
                        std::span<const LabelledSample> samples) override {
    add(i, "labelled");
    label_names[std::string(i.name)] = std::vector<std::string>(names.begin(), names.end());
    for (const auto& s : samples) {
      std::string key(i.name);
      key += '{';
      for (std::size_t k = 0; k < s.values.size(); ++k) key += (k ? "," : "") + s.values[k];
      key += '}';
      values[key] = static_cast<std::int64_t>(s.value);
    }
  }
  void labelled_histogram(const Info& i, std::span<const std::string_view> names,
                          std::span<const LabelledHistogram> series) override {
    add(i, "labelled_histogram");
    label_names[std::string(i.name)] = std::vector<std::string>(names.begin(), names.end());
    for (const auto& s : series) {
      std::string key(i.name);
      key += '{';
      for (std::size_t k = 0; k < s.values.size(); ++k) key += (k ? "," : "") + s.values[k];
      key += "}_count";
      values[key] = static_cast<std::int64_t>(s.histogram.count);
    }
  }

  std::vector<std::string> names;
  std::map<std::string, std::string> kinds;
  std::map<std::string, std::vector<std::string>> label_names;
  std::map<std::string, std::int64_t> values;

 private:
  void add(const Info& i, const char* kind) {
    names.emplace_back(i.name);
    kinds[std::string(i.name)] = kind;
    EXPECT_FALSE(i.help.empty()) << i.name << " has no help text";
  }
};

TEST(Registry, RefusesASecondDeclarationOfAName) {
  Registry r;
  Counter a(r, {"frames", "Frames"});
  EXPECT_THROW({ Counter again(r, {"frames", "Frames again"}); }, std::logic_error);
  EXPECT_THROW({ Gauge unnamed(r, {"", "No name"}); }, std::logic_error);
  ASSERT_EQ(r.metrics().size(), 1u);
  EXPECT_EQ(r.metrics()[0], &a);
}

TEST(Registry, CountersDeclaresEveryMetricOnceInDeclarationOrder) {
  Counters c;
  Recorder rec;
  c.visit(rec);
  const std::set<std::string> unique(rec.names.begin(), rec.names.end());
  EXPECT_EQ(unique.size(), rec.names.size());
  EXPECT_EQ(rec.names.size(), c.metrics().size());
  EXPECT_EQ(rec.names.front(), "mqtt_received");
  for (const char* n : {"mqtt_received", "mqtt_duplicates", "mqtt_retained_ignored",
                        "journal_append_failures", "messages_stored", "messages_deduplicated",
                        "nonfinite_dropped", "clock_skew", "bad_timestamp", "device_id_mismatch",
                        "alerts_raised", "alerts_cleared", "commits", "commit_failures",
                        "http_requests"})
    EXPECT_EQ(rec.kinds[n], "counter") << n;
  EXPECT_EQ(rec.kinds["last_commit_at"], "gauge");
  EXPECT_EQ(rec.kinds["rejects"], "labelled");
  EXPECT_EQ(rec.label_names["rejects"], (std::vector<std::string>{"reason"}));
  EXPECT_EQ(rec.kinds["http_responses"], "labelled");
  EXPECT_EQ(rec.label_names["http_responses"], (std::vector<std::string>{"route", "status"}));
  EXPECT_EQ(rec.kinds["commit_duration"], "histogram");
  EXPECT_EQ(rec.kinds["commit_batch_size"], "histogram");
}

TEST(Counters, MembersKeepTheirAtomicInterfaceAndTheVisitSeesTheValues) {
  Counters c;
  c.mqtt_received.fetch_add(1, std::memory_order_relaxed);
  c.mqtt_received++;
  ++c.mqtt_received;
  c.messages_stored += 5;
  c.commits = 9;
  c.last_commit_at_ms = 1'769'644'800'000;
  EXPECT_EQ(c.mqtt_received.load(), 3u);
  EXPECT_EQ(c.messages_stored.load(std::memory_order_relaxed), 5u);
  EXPECT_EQ(c.last_commit_at_ms.load(), 1'769'644'800'000);
  Recorder rec;
  c.visit(rec);
  EXPECT_EQ(rec.values["mqtt_received"], 3);
  EXPECT_EQ(rec.values["messages_stored"], 5);
  EXPECT_EQ(rec.values["commits"], 9);
  EXPECT_EQ(rec.values["last_commit_at"], 1'769'644'800'000);
}

TEST(Counters, RejectsAreALabelledCounterByReason) {
  Counters c;
  c.add_reject("not_json", 2);
  c.add_reject("no_metrics");
  c.add_reject(std::string("not_json"));
  EXPECT_EQ(c.rejects(), (std::map<std::string, std::uint64_t>{{"no_metrics", 1}, {"not_json", 3}}));
  EXPECT_EQ(c.rejects_total(), 4u);
  Recorder rec;
  c.visit(rec);
  EXPECT_EQ(rec.values["rejects{not_json}"], 3);
  EXPECT_EQ(rec.values["rejects{no_metrics}"], 1);
}

TEST(LabelledCounter, CellsAreStableAndPastTheBoundNewValuesShareOther) {
  Registry r;
  LabelledCounter l(r, {"rejects", "Rejects"}, "reason", 3);
  auto& a = l.cell("a");
  l.add("b", 2);
  a.fetch_add(1);
  EXPECT_EQ(&l.cell("a"), &a);
  l.add("c");  // the third slot is kept for "other"
  l.add("d", 4);
  l.add("a");
  EXPECT_EQ(l.values(), (std::map<std::string, std::uint64_t>{{"a", 2}, {"b", 2}, {"other", 5}}));
  EXPECT_EQ(l.total(), 9u);
}

TEST(LabelledCounter, ConcurrentAddsAreAllCounted) {
  Registry r;
  LabelledCounter l(r, {"rejects", "Rejects"}, "reason", 16);
  std::vector<std::jthread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) l.add(i % 2 ? "odd" : "even");
    });
  threads.clear();
  EXPECT_EQ(l.values(), (std::map<std::string, std::uint64_t>{{"even", 20000}, {"odd", 20000}}));
}

// Readers take no lock: they see published cells whole while writers create new ones.
TEST(LabelledCounter, ReadersRaceWithWritersCreatingValues) {
  Registry r;
  LabelledCounter l(r, {"rejects", "Rejects"}, "reason", 64);
  std::atomic<bool> done{false};
  std::jthread reader([&] {
    while (!done.load()) {
      for (const auto& [value, n] : l.values()) ASSERT_EQ(value.rfind("reason_", 0), 0u) << value;
      (void)l.total();
    }
  });
  {
    std::vector<std::jthread> writers;
    for (int t = 0; t < 3; ++t)
      writers.emplace_back([&, t] {
        for (int i = 0; i < 3000; ++i) l.add("reason_" + std::to_string((i * 7 + t) % 40));
      });
  }
  done = true;
  reader.join();
  EXPECT_EQ(l.values().size(), 40u);
  EXPECT_EQ(l.total(), 9000u);
}

TEST(Histogram, BucketsAreLessOrEqualAndCumulative) {
  Registry r;
  Histogram h(r, {"batch", "Batch"}, {1, 10, 100});
  for (double v : {0.5, 1.0, 3.0, 10.0, 50.0, 1000.0}) h.observe(v);
  auto s = h.snapshot();
  ASSERT_EQ(s.bounds.size(), 3u);
  EXPECT_EQ(s.cumulative, (std::vector<std::uint64_t>{2, 4, 5, 6}));
  EXPECT_EQ(s.count, 6u);
  EXPECT_DOUBLE_EQ(s.sum, 1064.5);
}

TEST(Histogram, RefusesBoundsThatDoNotAscend) {
  Registry r;
  EXPECT_THROW({ Histogram equal(r, {"a", "A"}, {1, 1}); }, std::invalid_argument);
  EXPECT_THROW({ Histogram descending(r, {"b", "B"}, {2, 1}); }, std::invalid_argument);
  EXPECT_TRUE(r.metrics().empty()) << "a metric whose constructor threw leaves the registry";
  Histogram ok(r, {"b", "B"}, {1, 2});
  EXPECT_EQ(r.metrics().size(), 1u);
}

TEST(Counters, RecordCommitFillsBothHistograms) {
  Counters c;
  c.record_commit(std::chrono::milliseconds(3), 40);
  c.record_commit(std::chrono::milliseconds(30), 1);
  auto d = c.commit_duration.snapshot();
  EXPECT_EQ(d.count, 2u);
  EXPECT_NEAR(d.sum, 0.033, 1e-9);
  auto b = c.commit_batch_size.snapshot();
  EXPECT_EQ(b.count, 2u);
  EXPECT_EQ(b.cumulative.front(), 1u);  // le=1: the one-row batch
  EXPECT_DOUBLE_EQ(b.sum, 41);
}

TEST(RouteStatusCounter, CountsByRoutePatternAndStatusClassAndUnknownIndexesAsUnmatched) {
  Counters c;
  const std::vector<std::string> routes{"/api/v1/health", "/api/v1/alerts/{id}/ack", "/api/v1/health"};
  c.set_http_routes(routes);
  c.record_http_response(0, 200);
  c.record_http_response(2, 204);  // same pattern, another method: same row
  c.record_http_response(1, 404);
  c.record_http_response(1, 503);
  c.record_http_response(RouteStatusCounter::kUnmatched, 404);
  c.record_http_response(99, 999);  // out of range index and status: clamped
  EXPECT_EQ(c.http_requests.load(), 6u);
  Recorder rec;
  c.visit(rec);
  EXPECT_EQ(rec.values["http_responses{/api/v1/health,2xx}"], 2);
  EXPECT_EQ(rec.values["http_responses{/api/v1/alerts/{id}/ack,4xx}"], 1);
  EXPECT_EQ(rec.values["http_responses{/api/v1/alerts/{id}/ack,5xx}"], 1);
  EXPECT_EQ(rec.values["http_responses{unmatched,4xx}"], 1);
  EXPECT_EQ(rec.values["http_responses{unmatched,5xx}"], 1);
  EXPECT_EQ(rec.values.count("http_responses{/api/v1/health,4xx}"), 0u) << "zero cells are not listed";
}

TEST(RouteStatusCounter, WithoutRoutesEverythingIsUnmatched) {
  Counters c;
  c.record_http_response(3, 200);
  Recorder rec;
  c.visit(rec);
  EXPECT_EQ(rec.values["http_responses{unmatched,2xx}"], 1);
}

TEST(RouteHistogram, ObservesPerRoutePatternWithUnknownIndexesAsUnmatched) {
  Counters c;
  const std::vector<std::string> routes{"/api/v1/health", "/api/v1/readings", "/api/v1/health"};
  c.set_http_routes(routes);
  c.record_http_duration(0, std::chrono::microseconds(80));   // le 0.0001
  c.record_http_duration(2, std::chrono::milliseconds(3));    // same pattern, another method
  c.record_http_duration(1, std::chrono::seconds(20));        // past the last bound: +Inf
  c.record_http_duration(RouteHistogram::kUnmatched, std::chrono::milliseconds(1));
  c.record_http_duration(42, std::chrono::milliseconds(1));  // out of range: unmatched

  auto health = c.http_request_duration.snapshot("/api/v1/health");
  EXPECT_EQ(health.count, 2u);
  EXPECT_NEAR(health.sum, 0.00308, 1e-9);
  ASSERT_EQ(health.bounds.size(), 16u);
  EXPECT_DOUBLE_EQ(health.bounds.front(), 0.0001);
  EXPECT_DOUBLE_EQ(health.bounds.back(), 10);
  EXPECT_EQ(health.cumulative.front(), 1u);  // 80 µs <= 0.1 ms
  auto readings = c.http_request_duration.snapshot("/api/v1/readings");
  EXPECT_EQ(readings.count, 1u);
  EXPECT_EQ(readings.cumulative[readings.bounds.size() - 1], 0u) << "20 s is only in +Inf";
  EXPECT_EQ(c.http_request_duration.snapshot("unmatched").count, 2u);
  EXPECT_EQ(c.http_request_duration.snapshot("/nowhere").count, 0u);

  Recorder rec;
  c.visit(rec);
  EXPECT_EQ(rec.label_names["http_request_duration"], std::vector<std::string>{"route"});
  EXPECT_EQ(rec.values["http_request_duration{/api/v1/health}_count"], 2);
  EXPECT_EQ(rec.values["http_request_duration{/api/v1/readings}_count"], 1);
  EXPECT_EQ(rec.values["http_request_duration{unmatched}_count"], 2);
}

TEST(RouteHistogram, ConcurrentObservationsAreAllCountedWhileReadersRender) {
  Counters c;
  const std::vector<std::string> routes{"/a", "/b"};
  c.set_http_routes(routes);
  std::atomic<bool> done{false};
  std::thread reader([&] {
    while (!done.load()) {
      Recorder rec;
      c.visit(rec);
    }
  });
  std::vector<std::thread> writers;
  for (int t = 0; t < 4; ++t)
    writers.emplace_back([&, t] {
      for (int i = 0; i < 10000; ++i) c.record_http_duration(static_cast<std::size_t>(t % 2), std::chrono::microseconds(i));
    });
  for (auto& w : writers) w.join();
  done = true;
  reader.join();
  EXPECT_EQ(c.http_request_duration.snapshot("/a").count, 20000u);
  EXPECT_EQ(c.http_request_duration.snapshot("/b").count, 20000u);
}

TEST(RouteHistogram, RefusesBoundsThatDoNotAscend) {
  Registry r;
  EXPECT_THROW({ RouteHistogram h(r, {"h", "H"}, {1, 1}); }, std::invalid_argument);
  EXPECT_TRUE(r.metrics().empty());
}

}  // namespace
}  // namespace iotd::metrics
