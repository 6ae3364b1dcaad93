// Unit tests for iotd/core/prometheus_text.hpp: the text exposition of a registry.
#include "iotd/core/prometheus_text.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "iotd/core/counters.hpp"

namespace iotd::metrics {
namespace {

TEST(PrometheusText, CountersAndGaugesHaveHelpAndTypeLines) {
  Registry r;
  Counter frames(r, {"frames", "Frames appended"});
  Gauge depth(r, {"depth", "Queue depth"});
  Gauge last(r, {"last_commit_at", "Last commit", Unit::unix_ms});
  frames += 42;
  depth = -3;
  last = 1'769'644'800'250;
  EXPECT_EQ(prometheus_text(r),
            "# HELP iotd_frames_total Frames appended\n"
            "# TYPE iotd_frames_total counter\n"
            "iotd_frames_total 42\n"
            "# HELP iotd_depth Queue depth\n"
            "# TYPE iotd_depth gauge\n"
            "iotd_depth -3\n"
            "# HELP iotd_last_commit_at_timestamp_seconds Last commit\n"
            "# TYPE iotd_last_commit_at_timestamp_seconds gauge\n"
            "iotd_last_commit_at_timestamp_seconds 1769644800.25\n");
}

TEST(PrometheusText, ByteGaugesEndInBytes) {
  Registry r;
  Gauge size(r, {"journal_size", "Journal bytes", Unit::bytes});
  size = 4096;
  EXPECT_EQ(prometheus_text(r),
            "# HELP iotd_journal_size_bytes Journal bytes\n"
            "# TYPE iotd_journal_size_bytes gauge\n"
            "iotd_journal_size_bytes 4096\n");
}

TEST(PrometheusText, HistogramBucketsAreCumulativeEndingWithInfThenSumAndCount) {
  Registry r;
  Histogram h(r, {"commit_duration", "Commit time", Unit::seconds}, {0.25, 0.5, 1});
  h.observe(0.125);
  h.observe(0.25);  // on a bound: "less than or equal"
  h.observe(0.375);
  h.observe(2);
  EXPECT_EQ(prometheus_text(r, "x_"),
            "# HELP x_commit_duration_seconds Commit time\n"
            "# TYPE x_commit_duration_seconds histogram\n"
            "x_commit_duration_seconds_bucket{le=\"0.25\"} 2\n"
            "x_commit_duration_seconds_bucket{le=\"0.5\"} 3\n"
            "x_commit_duration_seconds_bucket{le=\"1\"} 3\n"
            "x_commit_duration_seconds_bucket{le=\"+Inf\"} 4\n"
            "x_commit_duration_seconds_sum 2.75\n"
            "x_commit_duration_seconds_count 4\n");
}

TEST(PrometheusText, LabelValuesAndHelpAreEscaped) {
  Registry r;
  LabelledCounter l(r, {"rejects", "Rejects by reason\\kind\nsecond line"}, "reason", 8);
  l.add("say \"hi\"\\now\nplease", 2);
  l.add("plain");
  EXPECT_EQ(prometheus_text(r),
            "# HELP iotd_rejects_total Rejects by reason\\\\kind\\nsecond line\n"
            "# TYPE iotd_rejects_total counter\n"
            "iotd_rejects_total{reason=\"plain\"} 1\n"
            "iotd_rejects_total{reason=\"say \\\"hi\\\"\\\\now\\nplease\"} 2\n");
}

TEST(PrometheusText, RouteStatusCounterHasTwoLabels) {
  Registry r;
  RouteStatusCounter http(r, {"http_responses", "Responses"});
  const std::vector<std::string> routes{"/api/v1/alerts/{id}"};
  http.set_routes(routes);
  http.record(0, 200);
  http.record(RouteStatusCounter::kUnmatched, 404);
  EXPECT_EQ(prometheus_text(r),
            "# HELP iotd_http_responses_total Responses\n"
            "# TYPE iotd_http_responses_total counter\n"
            "iotd_http_responses_total{route=\"/api/v1/alerts/{id}\",status=\"2xx\"} 1\n"
            "iotd_http_responses_total{route=\"unmatched\",status=\"4xx\"} 1\n");
}

TEST(PrometheusText, RouteHistogramHasARouteLabelOnEverySampleAndOmitsUnusedRoutes) {
  Registry r;
  RouteHistogram h(r, {"http_request_duration", "Request time", Unit::seconds}, {0.001, 0.01});
  const std::vector<std::string> routes{"/api/v1/alerts/{id}", "/api/v1/health"};
  h.set_routes(routes);
  h.observe(0, 0.0005);
  h.observe(0, 0.5);
  h.observe(RouteHistogram::kUnmatched, 0.002);
  EXPECT_EQ(prometheus_text(r),
            "# HELP iotd_http_request_duration_seconds Request time\n"
            "# TYPE iotd_http_request_duration_seconds histogram\n"
            "iotd_http_request_duration_seconds_bucket{route=\"/api/v1/alerts/{id}\",le=\"0.001\"} 1\n"
            "iotd_http_request_duration_seconds_bucket{route=\"/api/v1/alerts/{id}\",le=\"0.01\"} 1\n"
            "iotd_http_request_duration_seconds_bucket{route=\"/api/v1/alerts/{id}\",le=\"+Inf\"} 2\n"
            "iotd_http_request_duration_seconds_sum{route=\"/api/v1/alerts/{id}\"} 0.5005\n"
            "iotd_http_request_duration_seconds_count{route=\"/api/v1/alerts/{id}\"} 2\n"
            "iotd_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"0.001\"} 0\n"
            "iotd_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"0.01\"} 1\n"
            "iotd_http_request_duration_seconds_bucket{route=\"unmatched\",le=\"+Inf\"} 1\n"
            "iotd_http_request_duration_seconds_sum{route=\"unmatched\"} 0.002\n"
            "iotd_http_request_duration_seconds_count{route=\"unmatched\"} 1\n");
}

TEST(PrometheusText, NumbersAreShortestInPlainNotation) {
  EXPECT_EQ(prometheus_float(0.0005), "0.0005");
  EXPECT_EQ(prometheus_float(2.5), "2.5");
  EXPECT_EQ(prometheus_float(10000), "10000");
  EXPECT_EQ(prometheus_float(0), "0");
  EXPECT_EQ(prometheus_float(-3), "-3");
  EXPECT_EQ(prometheus_float(1e-9), "1e-09");
  EXPECT_EQ(prometheus_float(INFINITY), "+Inf");
  EXPECT_EQ(prometheus_float(-INFINITY), "-Inf");
  EXPECT_EQ(prometheus_float(NAN), "NaN");
}

TEST(PrometheusText, EveryCounterOfTheProcessHasOneFamily) {
  Counters c;
  const auto text = prometheus_text(c);
  std::size_t families = 0;
  for (std::size_t at = 0; (at = text.find("# TYPE ", at)) != std::string::npos; ++at) ++families;
  EXPECT_EQ(families, c.metrics().size());
  EXPECT_NE(text.find("# TYPE iotd_messages_stored_total counter\niotd_messages_stored_total 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("iotd_commit_batch_size_bucket{le=\"+Inf\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("iotd_commit_duration_seconds_bucket{le=\"0.0005\"} 0\n"), std::string::npos)
      << "bounds in plain notation";
}

}  // namespace
}  // namespace iotd::metrics
