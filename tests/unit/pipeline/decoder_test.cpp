// Unit tests for iotd/pipeline/decoder.hpp (docs/architecture.md §5, §6). The real-sample sweep
// lives in samples_test.cpp.
#include "iotd/pipeline/decoder.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>

#include "iotd/core/time.hpp"

namespace iotd::pipeline {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kNow = 1769904000000;  // 2026-02-01T00:00:00Z, the receive time
constexpr std::int64_t kHour = 3'600'000;

tl::expected<Decoded, Rejection> run(std::string_view payload, std::string_view fallback = "dev1",
                                     const DecoderOptions& opts = {}) {
  return decode(DecodeInput{payload, fallback, kNow}, opts);
}

// Decodes a payload that must yield exactly one reading.
Reading one(std::string_view payload, std::string_view fallback = "dev1",
            const DecoderOptions& opts = {}) {
  auto r = run(payload, fallback, opts);
  if (!r) {
    ADD_FAILURE() << "rejected " << r.error().reason << ": " << r.error().detail << "\n  payload: "
                  << payload;
    return {};
  }
  EXPECT_EQ(r->readings.size(), 1u) << payload;
  return r->readings.empty() ? Reading{} : r->readings.front();
}

std::string rejected(std::string_view payload, std::string_view fallback = "dev1",
                     const DecoderOptions& opts = {}) {
  auto r = run(payload, fallback, opts);
  if (r) {
    ADD_FAILURE() << "accepted: " << payload;
    return {};
  }
  return r.error().reason;
}

std::optional<double> metric(const Reading& r, std::string_view name) {
  for (const auto& [n, v] : r.metrics) {
    if (n == name) return v;
  }
  return std::nullopt;
}

std::vector<std::string> names(const Reading& r) {
  std::vector<std::string> out;
  for (const auto& m : r.metrics) out.push_back(m.first);
  return out;
}

Json extra(const Reading& r) { return r.extra_json.empty() ? Json() : Json::parse(r.extra_json); }

std::int64_t iso(const char* s) { return *time::parse_iso8601_ms(s); }

// --- forms ------------------------------------------------------------------------------

TEST(DecodeForms, FlatObjectYieldsMetricsSortedByName) {
  const Reading r = one(R"({"temperature":28.40,"humidity":61.00,"gas":1873,"vibration":0})");
  EXPECT_EQ(names(r), (std::vector<std::string>{"gas", "humidity", "temperature", "vibration"}));
  EXPECT_EQ(metric(r, "temperature"), 28.4);
  EXPECT_EQ(metric(r, "gas"), 1873);
  EXPECT_EQ(r.device_id, "dev1");
  EXPECT_EQ(r.received_at_ms, kNow);
  EXPECT_EQ(r.ts_ms, kNow);
  EXPECT_FALSE(r.has_device_time);
  EXPECT_FALSE(r.dedup_key);
  EXPECT_EQ(r.extra_json, "");
}

TEST(DecodeForms, NestedMetricsObject) {
  const Reading r = one(R"({"device_id":"esp32_01","metrics":{"temperature":31.4,"voltage":3.91}})");
  EXPECT_EQ(r.device_id, "esp32_01");
  EXPECT_EQ(names(r), (std::vector<std::string>{"temperature", "voltage"}));
}

TEST(DecodeForms, ThingsBoardTsAndValues) {
  const Reading r = one(R"({"ts":1769900000000,"values":{"temperature":21.5,"door":true}})");
  EXPECT_TRUE(r.has_device_time);
  EXPECT_EQ(r.ts_ms, 1769900000000);
  EXPECT_EQ(metric(r, "temperature"), 21.5);
  EXPECT_EQ(metric(r, "door"), 1);
}

TEST(DecodeForms, ArrayOfReadingsDecodesEachElement) {
  auto d = run(R"([{"device_id":"a","t1":1},{"metrics":{"t2":2},"timestamp":"2026-01-31T00:00:00Z"},
                   {"ts":1769817600000,"values":{"t3":3}}])");
  ASSERT_TRUE(d) << d.error().detail;
  ASSERT_EQ(d->readings.size(), 3u);
  EXPECT_EQ(d->readings[0].device_id, "a");
  EXPECT_EQ(d->readings[1].device_id, "dev1");
  EXPECT_EQ(d->readings[1].ts_ms, iso("2026-01-31T00:00:00Z"));
  EXPECT_EQ(metric(d->readings[2], "t3"), 3);
  EXPECT_TRUE(d->notes.device_id_mismatch);  // element 0 names "a" on dev1's topic
}

TEST(DecodeForms, ArrayElementFailureRejectsWholeMessageWithIndex) {
  auto d = run(R"([{"a":1},{"device_id":"x y","b":2}])");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().reason, reason::invalid_device_id);
  EXPECT_NE(d.error().detail.find("element 1"), std::string::npos) << d.error().detail;

  d = run(R"([{"a":1},{"s":"text"}])");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().reason, reason::no_metrics);
  EXPECT_NE(d.error().detail.find("element 1"), std::string::npos);
}

TEST(DecodeForms, ArrayOfScalarsIsNotObject) {
  auto d = run("[1,2,3]");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().reason, reason::not_object);
  EXPECT_NE(d.error().detail.find("element 0"), std::string::npos);
}

TEST(DecodeForms, EmptyArrayHasNoMetrics) { EXPECT_EQ(rejected("[]"), reason::no_metrics); }

TEST(DecodeForms, MeasurementListMakesOneReadingPerDistinctItemTime) {
  auto d = run(R"({"v":2,"device_id":"ac-1","ts":"2026-01-31T10:00:10Z","seq":87,"msg_type":"telemetry",
    "measurements":[
      {"ts":"2026-01-31T10:00:01Z","type":"voltage_ac","val":25123,"unit":"V"},
      {"ts":"2026-01-31T10:00:02Z","type":"voltage_ac","val":25087,"unit":"V"},
      {"ts":"2026-01-31T10:00:01Z","type":"pf","val":0.97}]})");
  ASSERT_TRUE(d) << d.error().detail;
  ASSERT_EQ(d->readings.size(), 2u);
  const Reading& a = d->readings[0];
  EXPECT_EQ(a.ts_ms, iso("2026-01-31T10:00:01Z"));
  EXPECT_EQ(names(a), (std::vector<std::string>{"pf", "voltage_ac"}));  // merged by time
  EXPECT_EQ(metric(a, "voltage_ac"), 25123);
  EXPECT_EQ(d->readings[1].ts_ms, iso("2026-01-31T10:00:02Z"));
  EXPECT_EQ(metric(d->readings[1], "voltage_ac"), 25087);
  // The envelope is context for every reading; the items' units are not kept.
  EXPECT_EQ(extra(a), Json::parse(R"({"msg_type":"telemetry","seq":87,"v":2})"));
  EXPECT_TRUE(a.dedup_key && d->readings[1].dedup_key);
  EXPECT_NE(*a.dedup_key, *d->readings[1].dedup_key);
}

TEST(DecodeForms, MeasurementItemsWithoutTimeTakeEnvelopeTime) {
  const Reading r = one(R"({"ts":"2026-01-31T10:00:00.482913+00:00","seq":1,"measurements":[
      {"n":"voltage_dc","v":712.45,"u":"V"},{"name":"current_dc","value":150.2},
      {"type":"power_dc","val":"107010.29 W"}]})");
  EXPECT_EQ(r.ts_ms, iso("2026-01-31T10:00:00.482Z"));
  EXPECT_EQ(names(r), (std::vector<std::string>{"current_dc", "power_dc", "voltage_dc"}));
  EXPECT_EQ(metric(r, "power_dc"), 107010.29);
}

TEST(DecodeForms, MeasurementItemsWithoutAnyTimeUseReceiveTime) {
  const Reading r = one(R"({"measurements":[{"n":"a","v":1},{"n":"b","v":2}]})");
  EXPECT_FALSE(r.has_device_time);
  EXPECT_EQ(r.ts_ms, kNow);
  EXPECT_EQ(r.metrics.size(), 2u);
}

TEST(DecodeForms, FlatItemsOfV1BatchCarryTheirOwnTime) {
  auto d = run(R"({"device_id":"m1","batch":true,"measurements":[
      {"timestamp":"2026-01-31T10:00:00","temperature":22.1},
      {"timestamp":"2026-01-31T10:00:05","temperature":22.3,"hum":40}]})");
  ASSERT_TRUE(d) << d.error().detail;
  ASSERT_EQ(d->readings.size(), 2u);
  EXPECT_EQ(d->readings[0].ts_ms, iso("2026-01-31T10:00:00Z"));
  EXPECT_EQ(metric(d->readings[1], "humidity"), 40);
  // Envelope booleans are context in a measurement list, not metrics.
  EXPECT_EQ(extra(d->readings[0]), Json::parse(R"({"batch":true})"));
}

TEST(DecodeForms, SenmlArrayIsAMeasurementList) {
  auto d = run(R"([{"n":"temperature","v":21.5,"u":"Cel","t":1769817600},
                   {"n":"humidity","v":40,"u":"%RH","t":1769817600},
                   {"n":"temperature","v":21.7,"u":"Cel","t":1769817660}])");
  ASSERT_TRUE(d) << d.error().detail;
  ASSERT_EQ(d->readings.size(), 2u);
  EXPECT_EQ(d->readings[0].ts_ms, 1769817600000);
  EXPECT_EQ(d->readings[0].metrics.size(), 2u);
  EXPECT_EQ(d->readings[0].device_id, "dev1");
  EXPECT_EQ(metric(d->readings[1], "temperature"), 21.7);
}

TEST(DecodeForms, ArrayWithNumericNIsReadingsNotSenml) {
  auto d = run(R"([{"n":5,"device_id":"q","x":1}])");
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->readings[0].device_id, "q");
  EXPECT_EQ(names(d->readings[0]), (std::vector<std::string>{"n", "x"}));
}

TEST(DecodeForms, EmptyMeasurementListHasNoMetrics) {
  EXPECT_EQ(rejected(R"({"seq":0,"measurements":[]})"), reason::no_metrics);
  EXPECT_EQ(rejected(R"({"measurements":[{"n":"a","v":"x"},{"n":"b"}, 5]})"), reason::no_metrics);
}

TEST(DecodeForms, LabelledRecordIsOneMetricAndItsContextGoesToExtra) {
  const Reading r = one(R"({"timestamp":1640995200,"mac_address":"f2-e4fd45f654be","mode":"sensor-mode",
      "data_point_label":"temperature","pin":3,"value":"27.93 °C","unit":"°C","connector":1,
      "original_topic":"data/f2-e4fd45f654be/sensor-mode/1/3"})",
                        "");
  EXPECT_EQ(r.device_id, "f2-e4fd45f654be");
  EXPECT_EQ(r.ts_ms, 1640995200000);
  ASSERT_EQ(r.metrics.size(), 1u);
  EXPECT_EQ(metric(r, "temperature"), 27.93);
  EXPECT_EQ(extra(r), Json::parse(R"({"connector":1,"mode":"sensor-mode","pin":3,"unit":"°C",
      "original_topic":"data/f2-e4fd45f654be/sensor-mode/1/3"})"));
}

TEST(DecodeForms, LabelledRecordAcceptsFieldNames) {
  const Reading r = one(R"({"device_id":"f2-x","datapoint_label":"Temperature","value":23.7,
      "pin_position":"3","connector_mode":"sensor-mode","topic":"t"})", "");
  EXPECT_EQ(names(r), std::vector<std::string>{"Temperature"});
  EXPECT_EQ(extra(r).size(), 3u);
}

// --- names, aliases, reserved keys -----------------------------------------------------

TEST(DecodeNames, AppliesDefaultAliases) {
  const Reading r = one(R"({"temp":20.5,"hum":40,"pressure":1000})");
  EXPECT_EQ(names(r), (std::vector<std::string>{"humidity", "pressure", "temperature"}));
}

TEST(DecodeNames, AppliesConfiguredAliases) {
  DecoderOptions opts;
  opts.aliases = parse_aliases("t:temperature, rh:humidity");
  const Reading r = one(R"({"t":20.5,"rh":40,"temp":1})", "dev1", opts);
  EXPECT_EQ(names(r), (std::vector<std::string>{"humidity", "temp", "temperature"}));
}

TEST(DecodeNames, DuplicateNamesKeepOneValue) {
  const Reading r = one(R"({"temp":1,"temperature":2,"metrics":{"x":3},"x":4})");
  EXPECT_EQ(names(r), (std::vector<std::string>{"temperature", "x"}));
  // The last one met wins (keys are walked in name order: metrics.x, temp, temperature, x).
  EXPECT_EQ(r.metrics[0].second, 2);
  EXPECT_EQ(r.metrics[1].second, 4);
}

TEST(DecodeNames, ManyMetricsComeOutSortedWithTheLastDuplicateKept) {
  // 40 names (past the small-range insertion sort) and a few duplicates via aliases.
  std::string payload = "{";
  for (int i = 39; i >= 0; --i) payload += "\"m" + std::to_string(100 + i) + "\":" + std::to_string(i) + ",";
  payload += R"("temp":1,"temperature":2})";
  const Reading r = one(payload);
  ASSERT_EQ(r.metrics.size(), 41u);
  for (std::size_t i = 0; i < 40; ++i) {
    EXPECT_EQ(r.metrics[i].first, "m" + std::to_string(100 + i));
    EXPECT_EQ(r.metrics[i].second, static_cast<double>(i));
  }
  EXPECT_EQ(r.metrics[40].first, "temperature");
  EXPECT_EQ(r.metrics[40].second, 2);
}

TEST(DecodeNames, ReservedKeysAreNeverMetrics) {
  const Reading r = one(R"({"device_id":"d","timestamp":1769817600,"time":5,"seq":1,"msg_id":7,
                            "unit":3,"v":2,"values":1,"x":1})");
  EXPECT_EQ(names(r), std::vector<std::string>{"x"});
  EXPECT_EQ(extra(r), Json::parse(R"({"msg_id":7,"seq":1,"time":5,"unit":3,"v":2,"values":1})"));
}

TEST(DecodeNames, ReservedNamesInsideMetricsObjectAreNotMetrics) {
  const Reading r = one(R"({"metrics":{"ts":5,"a":1}})");
  EXPECT_EQ(names(r), std::vector<std::string>{"a"});
  EXPECT_EQ(extra(r), Json::parse(R"({"ts":5})"));
}

TEST(DecodeNames, FlattensNestedObjectsWithDots) {
  const Reading r =
      one(R"({"sensors":{"gas":{"value":1873.0,"deviation":3.12},"ok":true,"label":"x"}})");
  EXPECT_EQ(names(r), (std::vector<std::string>{"sensors.gas.deviation", "sensors.gas.value",
                                                "sensors.ok"}));
  EXPECT_EQ(extra(r), Json::parse(R"({"sensors.label":"x"})"));
}

TEST(DecodeNames, InvalidMetricNamesGoToExtra) {
  const std::string long_name(65, 'a');
  const Reading r = one(R"({"bad name":1,"a/b":2,"°C":3,"ok-1.x_Y":4,")" + long_name + R"(":5})");
  EXPECT_EQ(names(r), std::vector<std::string>{"ok-1.x_Y"});
  const Json e = extra(r);
  EXPECT_EQ(e.size(), 4u);
  EXPECT_EQ(e["bad name"], 1);
  EXPECT_EQ(e[long_name], 5);
}

TEST(DecodeNames, KeepsCase) {
  const Reading r = one(R"({"Temperature":1,"temperature":2})");
  EXPECT_EQ(names(r), (std::vector<std::string>{"Temperature", "temperature"}));
}

TEST(DecodeNames, ValidatesNamesAndIds) {
  EXPECT_TRUE(valid_metric_name("a.b-c_D9"));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_FALSE(valid_metric_name("a:b"));
  EXPECT_FALSE(valid_metric_name(std::string(65, 'x')));
  EXPECT_TRUE(valid_metric_name(std::string(64, 'x')));
  EXPECT_TRUE(valid_device_id("aa:bb:cc:dd:ee:01"));
  EXPECT_TRUE(valid_device_id("e4-fd-45-f6-54-be"));
  EXPECT_FALSE(valid_device_id("a b"));
  EXPECT_FALSE(valid_device_id("a/b"));
  EXPECT_FALSE(valid_device_id(""));
  EXPECT_FALSE(valid_device_id(std::string(65, 'x')));
}

TEST(DecodeNames, ParseAliasesRejectsMalformedLists) {
  EXPECT_EQ(parse_aliases("temp:temperature,hum:humidity").size(), 2u);
  EXPECT_TRUE(parse_aliases("").empty());
  for (const char* bad : {"temp", "temp:", ":x", "a:b,a:c", "a b:c", "a:b,,c:d"}) {
    EXPECT_THROW(parse_aliases(bad), std::invalid_argument) << bad;
  }
}

// --- device id ---------------------------------------------------------------------------

TEST(DecodeDeviceId, PayloadThenTopicPrefersPayloadAndFlagsMismatch) {
  auto d = run(R"({"device_id":"device_01","x":1})", "device1");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->readings[0].device_id, "device_01");
  EXPECT_TRUE(d->notes.device_id_mismatch);

  d = run(R"({"device_id":"device1","x":1})", "device1");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->notes.device_id_mismatch);

  d = run(R"({"device_id":"device1","x":1})", "");
  ASSERT_TRUE(d);
  EXPECT_FALSE(d->notes.device_id_mismatch);
}

TEST(DecodeDeviceId, PayloadThenTopicFallsBackToTopic) {
  EXPECT_EQ(one(R"({"x":1})", "topic-id").device_id, "topic-id");
}

TEST(DecodeDeviceId, MacAddressIsAnIdAlias) {
  const Reading r = one(R"({"mac_address":"aa:bb:cc:dd:ee:01","x":1})", "");
  EXPECT_EQ(r.device_id, "aa:bb:cc:dd:ee:01");
  EXPECT_EQ(r.extra_json, "");
  // device_id wins over mac_address, which is then context.
  const Reading s = one(R"({"device_id":"d","mac_address":"m","x":1})", "");
  EXPECT_EQ(s.device_id, "d");
  EXPECT_EQ(extra(s), Json::parse(R"({"mac_address":"m"})"));
}

TEST(DecodeDeviceId, TopicSourceIgnoresPayloadId) {
  DecoderOptions opts;
  opts.id_source = DeviceIdSource::topic;
  auto d = run(R"({"device_id":"spoofed","x":1})", "real", opts);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->readings[0].device_id, "real");
  EXPECT_FALSE(d->notes.device_id_mismatch);
  EXPECT_EQ(rejected(R"({"device_id":"d","x":1})", "", opts), reason::no_device_id);
}

TEST(DecodeDeviceId, PayloadSourceIgnoresFallback) {
  DecoderOptions opts;
  opts.id_source = DeviceIdSource::payload;
  EXPECT_EQ(one(R"({"device_id":"p","x":1})", "t", opts).device_id, "p");
  EXPECT_EQ(rejected(R"({"x":1})", "t", opts), reason::no_device_id);
}

TEST(DecodeDeviceId, RejectsMissingId) {
  EXPECT_EQ(rejected(R"({"temperature":22.5})", ""), reason::no_device_id);
}

TEST(DecodeDeviceId, RejectsInvalidIds) {
  EXPECT_EQ(rejected(R"({"device_id":"a b","x":1})"), reason::invalid_device_id);
  EXPECT_EQ(rejected(R"({"device_id":"","x":1})"), reason::invalid_device_id);
  EXPECT_EQ(rejected(R"({"device_id":{"a":1},"x":1})"), reason::invalid_device_id);
  EXPECT_EQ(rejected(R"({"device_id":")" + std::string(65, 'a') + R"(","x":1})"),
            reason::invalid_device_id);
  EXPECT_EQ(rejected(R"({"x":1})", "bad id"), reason::invalid_device_id);
}

TEST(DecodeDeviceId, IntegerIdIsItsDecimalText) {
  EXPECT_EQ(one(R"({"device_id":42,"x":1})").device_id, "42");
}

// --- values --------------------------------------------------------------------------------

TEST(DecodeValues, StringsThatStartWithANumberAreMetrics) {
  const std::pair<const char*, std::optional<double>> cases[] = {
      {"24.5", 24.5},      {"55", 55},           {"27.93 °C", 27.93}, {"-12.5 °C", -12.5},
      {"12 V", 12},        {"50%", 50},          {" 7 ", 7},          {"1e3", 1000},
      {"+3", 3},           {".5", 0.5},          {"12e", 12},         {"3 ppm", 3},
      {"01 03 0C 32", {}}, {"0xfa", {}},         {"0x12a", {}},       {"n/a", {}},
      {"abc", {}},         {"b'\\x02'", {}},     {"", {}},            {" ", {}},
      {"nan", {}},         {"inf", {}},          {"NaN", {}},         {"1.2.3", {}},
      {"2023-05-26", {}},  {"zone_2", {}},       {"-", {}},           {".", {}},
  };
  for (const auto& [text, want] : cases) {
    const std::string payload = Json{{"s", text}, {"k", 1}}.dump();
    const Reading r = one(payload);
    EXPECT_EQ(metric(r, "s"), want) << text;
    if (!want) {
      EXPECT_EQ(extra(r)["s"], text) << text;
    }
  }
}

TEST(DecodeValues, BooleansAreOneAndZero) {
  const Reading r = one(R"({"door-sensor-1":false,"door-sensor-2":true})");
  EXPECT_EQ(metric(r, "door-sensor-1"), 0);
  EXPECT_EQ(metric(r, "door-sensor-2"), 1);
}

TEST(DecodeValues, NullsAreIgnored) {
  const Reading r = one(R"({"a":null,"b":1,"timestamp":null})");
  EXPECT_EQ(names(r), std::vector<std::string>{"b"});
  EXPECT_EQ(r.extra_json, "");
  EXPECT_FALSE(r.has_device_time);
}

TEST(DecodeValues, ArraysAreContextNotMetrics) {
  const Reading r = one(R"({"samples":[1,2,3],"x":1})");
  EXPECT_EQ(names(r), std::vector<std::string>{"x"});
  EXPECT_EQ(extra(r), Json::parse(R"({"samples":[1,2,3]})"));
}

TEST(DecodeValues, DropsNonFiniteMetricButKeepsMessage) {
  auto d = run(R"({"temperature":nan,"humidity":NaN,"gas":1873,"a":inf,"b":-inf,"c":Infinity,
                   "d":-Infinity,"vibration":0})");
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->notes.nonfinite_dropped, 6u);
  EXPECT_EQ(names(d->readings[0]), (std::vector<std::string>{"gas", "vibration"}));
  EXPECT_EQ(d->readings[0].extra_json, "");  // the rewrite leaves no trace
}

TEST(DecodeValues, DropsOverflowingNumbersAndStrings) {
  auto d = run(R"({"a":1e999,"b":-1e999,"c":"1e999","d":"1e999 V","e":1e-999,"f":2})");
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->notes.nonfinite_dropped, 4u);
  EXPECT_EQ(names(d->readings[0]), (std::vector<std::string>{"e", "f"}));
  EXPECT_EQ(metric(d->readings[0], "e"), 0.0);
}

TEST(DecodeValues, NanInsideStringsStaysAString) {
  auto d = run(R"({"s":"nan","t":1})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->notes.nonfinite_dropped, 0u);
  EXPECT_EQ(extra(d->readings[0]), Json::parse(R"({"s":"nan"})"));
  // ... also when the payload needed the rewrite for a bare token elsewhere.
  d = run(R"({"s":"nan","q":"x\"nan","t":nan,"u":1})");
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->notes.nonfinite_dropped, 1u);
  EXPECT_EQ(extra(d->readings[0]), Json::parse(R"({"q":"x\"nan","s":"nan"})"));
}

TEST(DecodeValues, OnlyNonFiniteMetricsMeansNoMetrics) {
  auto d = run(R"({"temperature":nan,"humidity":nan})");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().reason, reason::no_metrics);
  EXPECT_NE(d.error().detail.find("non-finite: humidity, temperature"), std::string::npos)
      << d.error().detail;
}

TEST(DecodeValues, NoMetricsDetailListsNonNumericFields) {
  auto d = run(R"({"timestamp":"2023-05-25 15:13:10.5434","data":"01 03 0C 32"})");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().reason, reason::no_metrics);
  EXPECT_EQ(d.error().detail, "no numeric fields; non-numeric: data");
  EXPECT_EQ(rejected(R"({"device_id":"esp32-001"})"), reason::no_metrics);
  EXPECT_EQ(rejected(R"({"metrics":{}})"), reason::no_metrics);
}

TEST(DecodeValues, TooManyMetricsIsRejected) {
  DecoderOptions opts;
  opts.max_metrics = 3;
  EXPECT_TRUE(run(R"({"a":1,"b":2,"c":3})", "d", opts));
  EXPECT_EQ(rejected(R"({"a":1,"b":2,"c":3,"d":4})", "d", opts), reason::too_many_metrics);
}

// --- not JSON, not an object, size ----------------------------------------------------------

TEST(DecodeInput, NotJsonCarriesTheParserPosition) {
  for (const char* p : {"not-json", "open", "nan", "{\"a\":1 // Optional\n}", "{\"a\":", "{'a':1}",
                        "{\"a\":1}x", "\xff\xfe", "{\"a\":\"\xc3\x28\"}"}) {
    auto d = run(p);
    if (d) {
      ADD_FAILURE() << "accepted " << p;
      continue;
    }
    if (std::string_view(p) == "nan") {
      EXPECT_EQ(d.error().reason, reason::not_object);  // a bare nan is a (non-finite) scalar
      continue;
    }
    EXPECT_EQ(d.error().reason, reason::not_json) << p;
    EXPECT_EQ(d.error().detail.rfind("byte ", 0), 0u) << d.error().detail;
  }
}

TEST(DecodeInput, EmptyPayloadIsNotJson) { EXPECT_EQ(rejected(""), reason::not_json); }

TEST(DecodeInput, ScalarJsonIsNotObject) {
  for (const char* p : {"1", "\"open\"", "true", "null", "2.5"}) {
    EXPECT_EQ(rejected(p), reason::not_object) << p;
  }
}

TEST(DecodeInput, OversizedPayloadIsRejectedBeforeParsing) {
  DecoderOptions opts;
  opts.max_payload_bytes = 16;
  EXPECT_EQ(rejected(R"({"temperature":1.5})", "d", opts), reason::payload_too_large);
  EXPECT_TRUE(run(R"({"t":1.5})", "d", opts));
}

TEST(DecodeInput, NestingUpTo16LevelsIsAccepted) {
  std::string p;
  for (int i = 0; i < 16; ++i) p += "{\"a\":";
  p += "1";
  for (int i = 0; i < 16; ++i) p += "}";
  const Reading r = one(p);
  ASSERT_EQ(r.metrics.size(), 1u);
  EXPECT_EQ(r.metrics[0].first.size(), 15u * 2 + 1);  // a.a.a...
}

TEST(DecodeInput, NestingBeyond16LevelsIsRejected) {
  std::string p;
  for (int i = 0; i < 17; ++i) p += "{\"a\":";
  p += "1";
  for (int i = 0; i < 17; ++i) p += "}";
  auto d = run(p);
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().reason, reason::not_json);
  EXPECT_NE(d.error().detail.find("too deep"), std::string::npos);
}

TEST(DecodeInput, DepthBombDoesNotCrash) {
  const std::string arrays(10000, '[');
  EXPECT_EQ(rejected(arrays), reason::not_json);
  EXPECT_EQ(rejected(arrays + std::string(10000, ']')), reason::not_json);
  std::string objects;
  for (int i = 0; i < 10000; ++i) objects += "{\"a\":";
  EXPECT_EQ(rejected(objects), reason::not_json);
  // Also with a bare nan that would trigger the rewrite pass.
  EXPECT_EQ(rejected(arrays + "nan"), reason::not_json);
  auto d = run(R"({"a":nan,"b":)" + arrays + "1" + std::string(10000, ']') + "}");
  ASSERT_FALSE(d);
  EXPECT_NE(d.error().detail.find("too deep"), std::string::npos) << d.error().detail;
}

TEST(DecodeInput, RandomBytesNeverThrow) {
  std::mt19937 rng(20260129);
  std::uniform_int_distribution<int> len(0, 300);
  std::uniform_int_distribution<int> byte(0, 255);
  for (int i = 0; i < 2000; ++i) {
    std::string buf(static_cast<std::size_t>(len(rng)), '\0');
    for (char& c : buf) c = static_cast<char>(byte(rng));
    EXPECT_NO_THROW({ auto d = run(buf); (void)d; });
  }
}

TEST(DecodeInput, MutatedValidPayloadsNeverThrow) {
  // Random edits of real-looking JSON reach the decoder past the parser.
  const std::string seeds[] = {
      R"({"device_id":"d","timestamp":"2026-01-29T14:30:45.123Z","temperature":"27.93 °C","x":[1,{"y":nan}]})",
      R"({"v":2,"ts":"2026-01-29T10:00:00Z","seq":1,"measurements":[{"n":"a","v":1,"t":5},{"timestamp":1,"b":2}]})",
      R"([{"ts":1769000000000,"values":{"a":true}},{"metrics":{"b":"1e999"}}])",
      R"({"mac_address":"aa:bb","data_point_label":"T","value":"-1 C","timestamp":"1640995200"})",
  };
  const char alphabet[] = "{}[]:,\"0123456789.eE-+ntrufalsINF\\x ";
  std::mt19937 rng(7);
  for (const auto& seed : seeds) {
    for (int i = 0; i < 500; ++i) {
      std::string p = seed;
      const int edits = 1 + static_cast<int>(rng() % 4);
      for (int e = 0; e < edits; ++e) {
        const std::size_t at = rng() % p.size();
        const char c = alphabet[rng() % (sizeof alphabet - 1)];
        switch (rng() % 3) {
          case 0: p[at] = c; break;
          case 1: p.insert(p.begin() + static_cast<std::ptrdiff_t>(at), c); break;
          default: p.erase(at, 1); break;
        }
        if (p.empty()) p = "{";
      }
      EXPECT_NO_THROW({
        auto d = run(p);
        if (d) {
          for (const auto& r : d->readings) {
            EXPECT_FALSE(r.metrics.empty());
            for (const auto& m : r.metrics) EXPECT_TRUE(std::isfinite(m.second)) << p;
            if (!r.extra_json.empty()) {
              EXPECT_TRUE(Json::accept(r.extra_json)) << p;
            }
          }
        }
      });
    }
  }
}

// --- timestamps --------------------------------------------------------------------------

TEST(DecodeTime, EpochSecondsMillisAndMicros) {
  EXPECT_EQ(one(R"({"ts":1769817600,"x":1})").ts_ms, 1769817600000);
  EXPECT_EQ(one(R"({"ts":1769817600123,"x":1})").ts_ms, 1769817600123);
  EXPECT_EQ(one(R"({"ts":1769817600123456,"x":1})").ts_ms, 1769817600123);
  EXPECT_EQ(one(R"({"ts":1769817600.123456,"x":1})").ts_ms, 1769817600123);
  EXPECT_EQ(one(R"({"ts":"1769817600","x":1})").ts_ms, 1769817600000);
  EXPECT_EQ(one(R"({"ts":"1769817600.5","x":1})").ts_ms, 1769817600500);
}

TEST(DecodeTime, IsoVariants) {
  EXPECT_EQ(one(R"({"timestamp":"2026-01-31T10:00:00.482913","x":1})").ts_ms,
            iso("2026-01-31T10:00:00.482Z"));
  EXPECT_EQ(one(R"({"timestamp":"2026-01-31 10:00:00+02","x":1})").ts_ms,
            iso("2026-01-31T08:00:00Z"));
  EXPECT_EQ(one(R"({"time":"2026-01-31","x":1})").ts_ms, iso("2026-01-31T00:00:00Z"));
}

TEST(DecodeTime, FirstPresentKeyWinsAndOthersAreContext) {
  const Reading r = one(R"({"timestamp":"2026-01-31T00:00:00Z","ts":1,"time":"noon","x":1})");
  EXPECT_EQ(r.ts_ms, iso("2026-01-31T00:00:00Z"));
  EXPECT_EQ(extra(r), Json::parse(R"({"time":"noon","ts":1})"));
}

TEST(DecodeTime, DeviceTimeTooFarAheadIsReplaced) {
  auto d = run(R"({"ts":"2026-02-03T00:00:00Z","x":1})");  // 48 h ahead
  ASSERT_TRUE(d);
  const Reading& r = d->readings[0];
  EXPECT_EQ(r.ts_ms, kNow);
  EXPECT_FALSE(r.has_device_time);
  EXPECT_FALSE(r.dedup_key);
  EXPECT_EQ(d->notes.clock_skew, 1u);
  EXPECT_EQ(d->notes.bad_timestamp, 0u);
  EXPECT_EQ(extra(r), Json::parse(R"({"original_ts":"2026-02-03T00:00:00Z"})"));
}

TEST(DecodeTime, DeviceTimeWithinSkewIsKept) {
  const Reading r = one(R"({"ts":"2026-02-01T23:00:00Z","x":1})");  // 23 h ahead
  EXPECT_TRUE(r.has_device_time);
  DecoderOptions opts;
  opts.max_clock_skew_ms = kHour;
  EXPECT_FALSE(one(R"({"ts":"2026-02-01T02:00:00Z","x":1})", "d", opts).has_device_time);
}

TEST(DecodeTime, TimeBefore2000IsReplaced) {
  for (const char* p : {R"({"ts":0,"x":1})", R"({"ts":86400,"x":1})",  // ESP32 without NTP
                        R"({"ts":"1999-12-31T23:59:59.999Z","x":1})", R"({"ts":-5,"x":1})"}) {
    auto d = run(p);
    ASSERT_TRUE(d) << p;
    EXPECT_FALSE(d->readings[0].has_device_time) << p;
    EXPECT_EQ(d->readings[0].ts_ms, kNow);
    EXPECT_EQ(d->notes.clock_skew, 1u) << p;
    EXPECT_TRUE(extra(d->readings[0]).contains("original_ts")) << p;
  }
  EXPECT_TRUE(one(R"({"ts":"2000-01-01T00:00:00Z","x":1})").has_device_time);
}

TEST(DecodeTime, UnparseableTimestampIsReplacedAndCounted) {
  auto d = run(R"({"timestamp":"26/05/2023 18:34","x":1})");
  ASSERT_TRUE(d);
  EXPECT_EQ(d->notes.bad_timestamp, 1u);
  EXPECT_EQ(d->notes.clock_skew, 0u);
  EXPECT_EQ(d->readings[0].ts_ms, kNow);
  EXPECT_EQ(extra(d->readings[0]), Json::parse(R"({"original_ts":"26/05/2023 18:34"})"));
  for (const char* p : {R"({"ts":true,"x":1})", R"({"ts":{"a":1},"x":1})", R"({"ts":nan,"x":1})",
                        R"({"ts":"2026-13-01","x":1})", R"({"ts":"2026-02-30","x":1})"}) {
    auto e = run(p);
    ASSERT_TRUE(e) << p;
    EXPECT_EQ(e->notes.bad_timestamp, 1u) << p;
    EXPECT_FALSE(e->readings[0].has_device_time);
  }
}

TEST(DecodeTime, NoTimestampUsesReceiveTime) {
  const Reading r = one(R"({"x":1})");
  EXPECT_EQ(r.ts_ms, kNow);
  EXPECT_FALSE(r.has_device_time);
}

// --- dedup key ---------------------------------------------------------------------------

TEST(DecodeDedup, SameMessageSameKey) {
  const char* p = R"({"ts":"2026-01-31T10:00:00Z","seq":5,"a":1.25,"b":2})";
  const Reading x = one(p), y = one(p);
  ASSERT_TRUE(x.dedup_key);
  EXPECT_EQ(x.dedup_key, y.dedup_key);
}

TEST(DecodeDedup, KeyIgnoresKeyOrderAndContext) {
  const Reading x = one(R"({"ts":1769817600,"a":1,"b":2,"note":"x"})");
  const Reading y = one(R"({"b":2.0,"a":1,"ts":1769817600})");
  EXPECT_EQ(x.dedup_key, y.dedup_key);
}

TEST(DecodeDedup, DifferentSeqSameContentDifferentKeys) {
  const Reading x = one(R"({"ts":1769817600,"seq":1,"a":1})");
  const Reading y = one(R"({"ts":1769817600,"seq":2,"a":1})");
  const Reading z = one(R"({"ts":1769817600,"a":1})");
  EXPECT_NE(x.dedup_key, y.dedup_key);
  EXPECT_NE(x.dedup_key, z.dedup_key);
  // msg_id takes precedence over seq.
  EXPECT_EQ(one(R"({"ts":1769817600,"msg_id":"m","seq":1,"a":1})").dedup_key,
            one(R"({"ts":1769817600,"msg_id":"m","seq":2,"a":1})").dedup_key);
}

TEST(DecodeDedup, DifferentValuesDifferentKeys) {
  EXPECT_NE(one(R"({"ts":1769817600,"a":0.1})").dedup_key,
            one(R"({"ts":1769817600,"a":0.10000000000000002})").dedup_key);
}

TEST(DecodeDedup, NoDeviceTimeNoKey) {
  EXPECT_FALSE(one(R"({"seq":1,"a":1})").dedup_key);
}

// --- extra -------------------------------------------------------------------------------

TEST(DecodeExtra, IsCompactJsonOfContextFields) {
  const Reading r = one(R"({"status": "ok", "x": 1, "fw": "1.2.3", "list": [1, 2]})");
  EXPECT_EQ(r.extra_json, R"({"fw":"1.2.3","list":[1,2],"status":"ok"})");
}

TEST(DecodeExtra, OverTheCapDropsFieldsAndSaysSo) {
  DecoderOptions opts;
  opts.max_extra_bytes = 64;
  const std::string big(100, 'z');
  const Reading r =
      one(R"({"a":"short","b":")" + big + R"(","c":"also short","ts":"bad time","x":1})", "d", opts);
  EXPECT_LE(r.extra_json.size(), 64u);
  const Json e = extra(r);
  EXPECT_EQ(e["_truncated"], true);
  EXPECT_FALSE(e.contains("b"));
  EXPECT_EQ(e["a"], "short");
  EXPECT_EQ(e["original_ts"], "bad time");
}

TEST(DecodeExtra, TinyCapLeavesNoInvalidJson) {
  DecoderOptions opts;
  opts.max_extra_bytes = 5;
  const Reading r = one(R"({"a":"short","x":1})", "d", opts);
  EXPECT_EQ(r.extra_json, "");
}

}  // namespace
}  // namespace iotd::pipeline
