// Parameter validation of each endpoint, as pure functions.
#include "../../../src/http/params.hpp"

#include <gtest/gtest.h>

namespace iotd::http::api {
namespace {

constexpr std::int64_t kNow = 1'769'700'000'000;  // 2026-01-29T15:20:00Z

Request req(std::string_view qs) {
  Request r;
  r.method = "GET";
  auto q = parse_query_string(qs);
  EXPECT_TRUE(q) << qs;
  if (q) r.query = *q;
  return r;
}

template <class T>
std::string error_of(const Parsed<T>& p) {
  return p ? std::string("<ok>") : p.error().message;
}

TEST(ValidNames, DeviceIds) {
  EXPECT_TRUE(valid_device_id("esp32-01"));
  EXPECT_TRUE(valid_device_id("AA:BB:CC:DD:EE:FF"));
  EXPECT_TRUE(valid_device_id("dev_1.a"));
  EXPECT_TRUE(valid_device_id(std::string(64, 'x')));
  EXPECT_FALSE(valid_device_id(""));
  EXPECT_FALSE(valid_device_id(std::string(65, 'x')));
  EXPECT_FALSE(valid_device_id("a b"));
  EXPECT_FALSE(valid_device_id("a/b"));
  EXPECT_FALSE(valid_device_id("dev'; DROP TABLE"));
}

TEST(ValidNames, MetricNames) {
  EXPECT_TRUE(valid_metric_name("temperature"));
  EXPECT_TRUE(valid_metric_name("env.temp-2_x"));
  EXPECT_FALSE(valid_metric_name("a:b"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("t\xc3\xa9"));
}

TEST(ParseInt, WholeStringOnly) {
  EXPECT_EQ(parse_int("42"), 42);
  EXPECT_EQ(parse_int("-7"), -7);
  EXPECT_FALSE(parse_int(""));
  EXPECT_FALSE(parse_int("4x"));
  EXPECT_FALSE(parse_int(" 4"));
  EXPECT_FALSE(parse_int("+4"));
  EXPECT_FALSE(parse_int("1.5"));
  EXPECT_FALSE(parse_int("99999999999999999999"));
}

TEST(Cursor, RoundTrips) {
  for (storage::Cursor c : {storage::Cursor{1'769'700'000'123, 42}, storage::Cursor{0, 1},
                            storage::Cursor{-5000, 9}, storage::Cursor{INT64_MAX, INT64_MAX},
                            storage::Cursor{INT64_MIN, 0}}) {
    auto token = encode_cursor(c);
    auto back = decode_cursor(token);
    ASSERT_TRUE(back) << token;
    EXPECT_EQ(back->ts, c.ts) << token;
    EXPECT_EQ(back->id, c.id) << token;
  }
}

TEST(Cursor, RejectsGarbage) {
  for (const char* bad : {"", "_", "abc", "12_", "_12", "xyz_1", "1_-2", "1_2_3", "1A_2",
                          "10000000000000000_1", "1_8000000000000000"})
    EXPECT_FALSE(decode_cursor(bad)) << bad;
}

TEST(ReadingsQuery, Defaults) {
  auto q = parse_readings_query(req(""), {}, kNow);
  ASSERT_TRUE(q) << error_of(q);
  EXPECT_EQ(q->limit, 100);
  EXPECT_EQ(q->offset, 0);
  EXPECT_FALSE(q->device_id);
  EXPECT_FALSE(q->metric);
  EXPECT_FALSE(q->from_ms);
  EXPECT_FALSE(q->to_ms);
  EXPECT_FALSE(q->before);
  EXPECT_FALSE(q->oldest_first);
}

TEST(ReadingsQuery, ParsesEveryParameter) {
  auto q = parse_readings_query(
      req("device_id=esp-1&metric=temperature&from=2026-01-29T00:00:00Z&to=now&limit=50&offset=10"),
      {}, kNow);
  ASSERT_TRUE(q) << error_of(q);
  EXPECT_EQ(q->device_id, "esp-1");
  EXPECT_EQ(q->metric, "temperature");
  EXPECT_EQ(q->from_ms, 1'769'644'800'000);
  EXPECT_EQ(q->to_ms, kNow);
  EXPECT_EQ(q->limit, 50);
  EXPECT_EQ(q->offset, 10);
}

TEST(ReadingsQuery, RelativeAndEpochTimes) {
  auto q = parse_readings_query(req("from=-24h&to=1769700000"), {}, kNow);
  ASSERT_TRUE(q) << error_of(q);
  EXPECT_EQ(q->from_ms, kNow - 86'400'000);
  EXPECT_EQ(q->to_ms, 1'769'700'000'000);
}

TEST(ReadingsQuery, DevicePathWinsOverQuery) {
  auto q = parse_readings_query(req("device_id=other"), {{"id", "dev-9"}}, kNow);
  ASSERT_TRUE(q);
  EXPECT_EQ(q->device_id, "dev-9");
  auto bad = parse_readings_query(req(""), {{"id", "bad id"}}, kNow);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().status, 400);
}

TEST(ReadingsQuery, LimitOutOfRangeSaysTheRange) {
  for (const char* qs : {"limit=0", "limit=10001", "limit=abc", "limit=-1", "limit=1.5"}) {
    auto q = parse_readings_query(req(qs), {}, kNow);
    ASSERT_FALSE(q) << qs;
    EXPECT_EQ(q.error().status, 400);
    EXPECT_EQ(q.error().code, "invalid_parameter");
    EXPECT_EQ(q.error().message, "limit must be an integer from 1 to 10000");
  }
  EXPECT_TRUE(parse_readings_query(req("limit=10000"), {}, kNow));
  EXPECT_TRUE(parse_readings_query(req("limit=1"), {}, kNow));
  EXPECT_TRUE(parse_readings_query(req("limit="), {}, kNow)) << "empty means default";
}

TEST(ReadingsQuery, RejectsBadNames) {
  auto d = parse_readings_query(req("device_id=a%20b"), {}, kNow);
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().message.find("device_id"), std::string::npos);
  auto m = parse_readings_query(req("metric=te:mp"), {}, kNow);
  ASSERT_FALSE(m);
  EXPECT_NE(m.error().message.find("metric"), std::string::npos);
  EXPECT_FALSE(parse_readings_query(req("metric=" + std::string(65, 'm')), {}, kNow));
}

TEST(ReadingsQuery, RejectsBadTimesAndEmptyRanges) {
  auto bad = parse_readings_query(req("from=yesterday"), {}, kNow);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("from must be", 0), 0u) << bad.error().message;
  auto bad_to = parse_readings_query(req("to=2026-13-01"), {}, kNow);
  ASSERT_FALSE(bad_to);
  EXPECT_EQ(bad_to.error().message.rfind("to must be", 0), 0u);
  auto inverted = parse_readings_query(req("from=now&to=-1h"), {}, kNow);
  ASSERT_FALSE(inverted);
  EXPECT_NE(inverted.error().message.find("earlier"), std::string::npos);
  EXPECT_FALSE(parse_readings_query(req("from=1769700000000&to=1769700000000"), {}, kNow))
      << "from == to is empty";
}

TEST(ReadingsQuery, BeforeTokenAndOffsetAreExclusive) {
  auto token = encode_cursor({1'769'700'000'000, 77});
  auto q = parse_readings_query(req("before=" + token), {}, kNow);
  ASSERT_TRUE(q) << error_of(q);
  ASSERT_TRUE(q->before);
  EXPECT_EQ(q->before->ts, 1'769'700'000'000);
  EXPECT_EQ(q->before->id, 77);
  auto both = parse_readings_query(req("before=" + token + "&offset=5"), {}, kNow);
  ASSERT_FALSE(both);
  EXPECT_EQ(both.error().message, "use either offset or before, not both");
  auto garbage = parse_readings_query(req("before=zzz"), {}, kNow);
  ASSERT_FALSE(garbage);
  EXPECT_NE(garbage.error().message.find("before"), std::string::npos);
}

TEST(ReadingsQuery, OffsetBounds) {
  EXPECT_FALSE(parse_readings_query(req("offset=-1"), {}, kNow));
  EXPECT_FALSE(parse_readings_query(req("offset=x"), {}, kNow));
  EXPECT_FALSE(parse_readings_query(req("offset=10000001"), {}, kNow));
  EXPECT_TRUE(parse_readings_query(req("offset=10000000"), {}, kNow));
}

TEST(StatsQuery, ParsesFilters) {
  auto q = parse_stats_query(req("device_id=d1&metric=humidity&from=-1h"), {}, kNow);
  ASSERT_TRUE(q) << error_of(q);
  EXPECT_EQ(q->device_id, "d1");
  EXPECT_EQ(q->metric, "humidity");
  EXPECT_EQ(q->from_ms, kNow - 3'600'000);
  EXPECT_FALSE(q->to_ms);
  EXPECT_FALSE(parse_stats_query(req("from=a"), {}, kNow));
}

TEST(AggregateQuery, DefaultsToTheLastDayHourly) {
  auto p = parse_aggregate_query(req(""), {}, kNow);
  ASSERT_TRUE(p) << error_of(p);
  EXPECT_EQ(p->interval, "1h");
  EXPECT_EQ(p->query.interval_ms, 3'600'000);
  EXPECT_EQ(p->query.to_ms, kNow);
  EXPECT_EQ(p->query.from_ms, kNow - 86'400'000);
}

TEST(AggregateQuery, AcceptsTheIntervals) {
  for (auto [name, ms] : std::vector<std::pair<std::string, std::int64_t>>{
           {"1m", 60'000}, {"5m", 300'000}, {"15m", 900'000}, {"1h", 3'600'000}, {"1d", 86'400'000}}) {
    auto p = parse_aggregate_query(req("interval=" + name), {}, kNow);
    ASSERT_TRUE(p) << name << ": " << error_of(p);
    EXPECT_EQ(p->query.interval_ms, ms);
    EXPECT_EQ(p->interval, name);
  }
  auto bad = parse_aggregate_query(req("interval=7s"), {}, kNow);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().message.rfind("interval must be one of 1m, 5m", 0), 0u) << bad.error().message;
}

TEST(AggregateQuery, OneSidedRanges) {
  auto only_from = parse_aggregate_query(req("from=-2h"), {}, kNow);
  ASSERT_TRUE(only_from);
  EXPECT_EQ(only_from->query.from_ms, kNow - 7'200'000);
  EXPECT_EQ(only_from->query.to_ms, kNow);
  auto only_to = parse_aggregate_query(req("to=-1h"), {}, kNow);
  ASSERT_TRUE(only_to);
  EXPECT_EQ(only_to->query.to_ms, kNow - 3'600'000);
  EXPECT_EQ(only_to->query.from_ms, kNow - 3'600'000 - 86'400'000);
  EXPECT_FALSE(parse_aggregate_query(req("from=%2B1h"), {}, kNow)) << "from in the future, no to";
}

TEST(AggregateQuery, TooManyBucketsIs400) {
  // 7 days of minutes = 10080 buckets.
  auto p = parse_aggregate_query(req("from=-7d&interval=1m"), {}, kNow);
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("at most 10000"), std::string::npos) << p.error().message;
  EXPECT_TRUE(parse_aggregate_query(req("from=-6d&interval=1m"), {}, kNow));
  EXPECT_TRUE(parse_aggregate_query(req("from=-7d&interval=5m"), {}, kNow));
}

TEST(AggregateQuery, DeviceFromPath) {
  auto p = parse_aggregate_query(req("metric=temperature"), {{"id", "esp-1"}}, kNow);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->query.device_id, "esp-1");
  EXPECT_EQ(p->query.metric, "temperature");
}

TEST(ExportQuery, FormatsAndLimits) {
  auto def = parse_export_query(req(""), kNow);
  ASSERT_TRUE(def);
  EXPECT_EQ(def->format, ExportFormat::columnar);
  EXPECT_EQ(def->limit, 1000);
  auto csv = parse_export_query(req("format=csv"), kNow);
  ASSERT_TRUE(csv);
  EXPECT_EQ(csv->format, ExportFormat::csv);
  EXPECT_EQ(csv->limit, kStreamDefaultLimit);
  auto nd = parse_export_query(req("format=ndjson&limit=5000000"), kNow);
  ASSERT_TRUE(nd);
  EXPECT_EQ(nd->format, ExportFormat::ndjson);
  EXPECT_EQ(nd->limit, 5'000'000);
  auto big = parse_export_query(req("limit=100001"), kNow);
  ASSERT_FALSE(big);
  EXPECT_EQ(big.error().message, "limit must be an integer from 1 to 100000");
  EXPECT_FALSE(parse_export_query(req("format=csv&limit=10000001"), kNow));
  auto fmt = parse_export_query(req("format=xml"), kNow);
  ASSERT_FALSE(fmt);
  EXPECT_EQ(fmt.error().message, "format must be columnar, csv or ndjson");
}

TEST(ExportQuery, FiltersAndRange) {
  auto p = parse_export_query(req("device_id=d&metric=gas&from=-1h&to=now"), kNow);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->device_id, "d");
  EXPECT_EQ(p->metric, "gas");
  EXPECT_EQ(p->range.from, kNow - 3'600'000);
  EXPECT_EQ(p->range.to, kNow);
  EXPECT_FALSE(parse_export_query(req("from=now&to=-1h"), kNow));
}

TEST(AlertsQuery, ParsesFilters) {
  auto q = parse_alerts_query(
      req("device_id=d1&state=active&acknowledged=false&severity=Critical&from=-1d&limit=20&offset=40"),
      {}, kNow);
  ASSERT_TRUE(q) << error_of(q);
  EXPECT_EQ(q->device_id, "d1");
  EXPECT_EQ(q->state, "active");
  EXPECT_EQ(q->acknowledged, false);
  EXPECT_EQ(q->severity, "critical");
  EXPECT_EQ(q->from_ms, kNow - 86'400'000);
  EXPECT_EQ(q->limit, 20);
  EXPECT_EQ(q->offset, 40);
}

TEST(AlertsQuery, RejectsBadValues) {
  auto state = parse_alerts_query(req("state=open"), {}, kNow);
  ASSERT_FALSE(state);
  EXPECT_EQ(state.error().message, "state must be active or cleared");
  auto ack = parse_alerts_query(req("acknowledged=maybe"), {}, kNow);
  ASSERT_FALSE(ack);
  EXPECT_EQ(ack.error().message, "acknowledged must be true or false");
  EXPECT_FALSE(parse_alerts_query(req("severity=a%20b"), {}, kNow));
  EXPECT_FALSE(parse_alerts_query(req("limit=0"), {}, kNow));
  auto yes = parse_alerts_query(req("acknowledged=1"), {}, kNow);
  ASSERT_TRUE(yes);
  EXPECT_EQ(yes->acknowledged, true);
}

TEST(RejectsQuery, ParsesAndBounds) {
  auto q = parse_rejects_query(req("reason=not_json&limit=5"));
  ASSERT_TRUE(q);
  EXPECT_EQ(q->reason, "not_json");
  EXPECT_EQ(q->limit, 5);
  EXPECT_FALSE(parse_rejects_query(req("limit=1001")));
  EXPECT_FALSE(parse_rejects_query(req("reason=a%20b")));
}

TEST(ParseId, PositiveIntegersOnly) {
  EXPECT_EQ(parse_id("17"), 17);
  EXPECT_FALSE(parse_id("0"));
  EXPECT_FALSE(parse_id("-1"));
  EXPECT_FALSE(parse_id("1e3"));
  EXPECT_FALSE(parse_id(""));
  EXPECT_FALSE(parse_id("99999999999999999999"));
}

TEST(MetricPlural, FollowsTheSeedsNaming) {
  EXPECT_EQ(metric_plural("gas"), "gases");
  EXPECT_EQ(metric_plural("temperature"), "temperatures");
  EXPECT_EQ(metric_plural("power"), "powers");
  EXPECT_EQ(metric_plural("vibration"), "vibrations");
  EXPECT_EQ(metric_plural("box"), "boxes");
  EXPECT_EQ(metric_plural("fizz"), "fizzes");
  EXPECT_EQ(metric_plural("switch"), "switches");
  EXPECT_EQ(metric_plural("flash"), "flashes");
  EXPECT_EQ(metric_plural("humidity"), "humiditys");
}

TEST(ApiError, RendersTheV1Shape) {
  auto r = bad_param("limit must be an integer from 1 to 10000").to_response();
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"error\":{\"code\":\"invalid_parameter\",\"message\":\"limit must be an integer "
            "from 1 to 10000\"}}");
}

}  // namespace
}  // namespace iotd::http::api
