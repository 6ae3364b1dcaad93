// Every line of tests/data/payloads.jsonl (docs/architecture.md §6): decoded as expected, or
// rejected with a stated reason. Line numbers below are 1-based file lines (`sed -n Np`).
//
// Each line is run the way the writer will run it: an MQTT topic goes through the topic
// templates first (no match -> rejected `unmatched_topic`, which the caller sets); an HTTP
// line has no topic and, in this model, no device key (empty fallback id).
//
// Pass 1 uses the default templates. Pass 2 adds templates an operator would configure for
// the other sample sources, to show they decode too:
//   "+/f2-{device_id}/#"   F2 controllers (tele/stat/cmnd with the MAC in level 2),
//   "iot/{device_id}/test" the Machine-Guard firmware's hard-coded topic,
//   "decoded_iot_data"     IotMeasurement records (no id level: the id is in the payload).
//
// Documented deviations from the sample file's `expect`:
// - Booleans are metrics (1/0), as docs/architecture.md §6 says; the file lists them under
//   "states". The checks accept an extra metric only when `states` holds it as a boolean.
// - Units ("units", the iot-meter "unit" word) are not stored: units are stripped.
// - "accepted_by_origin": false lines that carry numbers (9, 35, 41, 45, ...) are accepted:
//   range checks and required-field sets are the origin backends' business rules, not
//   decoding; out-of-range values raise alerts instead.
// - Raw F2 hex ("data": "01 03 0C ...") needs per-device codecs (not written yet): today
//   such messages are rejected no_metrics; `metrics_with_datapoint_config` is not checked.
// - A catch-all F2 template also admits commands published on cmnd/ with numeric fields
//   (line 54); with the default templates they are unmatched.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "iotd/core/time.hpp"
#include "iotd/pipeline/decoder.hpp"
#include "iotd/pipeline/topic.hpp"

namespace iotd::pipeline {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kReceivedAt = 1780272000000;  // 2026-06-01T00:00:00Z
constexpr std::string_view kDefaultTemplates =
    "sensors/{device_id}/data,sensors/{device_id},iot/{device_id}/telemetry";
constexpr std::string_view kExtraTemplates = "+/f2-{device_id}/#,iot/{device_id}/test,decoded_iot_data";

struct Sample {
  int line = 0;
  std::string topic;
  std::string payload;
  std::string transport;
  Json expect;
};

const std::vector<Sample>& samples() {
  static const std::vector<Sample> all = [] {
    std::vector<Sample> out;
    std::ifstream in(IOTD_TEST_DATA_DIR "/payloads.jsonl");
    std::string text;
    int line = 0;
    while (std::getline(in, text)) {
      ++line;
      const Json j = Json::parse(text);
      out.push_back({line, j.at("topic").get<std::string>(), j.at("payload").get<std::string>(),
                     j.at("transport").get<std::string>(), j.value("expect", Json::object())});
    }
    return out;
  }();
  return all;
}

// What the writer does with a frame: topic -> fallback id (or unmatched), then decode.
tl::expected<Decoded, Rejection> ingest(const Sample& s, const std::vector<TopicTemplate>& templates,
                                        std::string_view device_key_id = {}) {
  std::string fallback(device_key_id);
  if (s.transport == "mqtt") {
    auto id = match_topic(templates, s.topic);
    if (!id) return tl::unexpected(Rejection{std::string(reason::unmatched_topic), s.topic});
    fallback = std::move(*id);
  }
  return decode(DecodeInput{s.payload, fallback, kReceivedAt}, DecoderOptions{});
}

struct Outcome {
  std::string_view reason;  // empty: accepted
  std::string_view device_id;
  std::size_t readings = 0;
};
constexpr Outcome ok(std::string_view id, std::size_t n = 1) { return {"", id, n}; }
constexpr Outcome no(std::string_view why) { return {why, "", 0}; }

constexpr std::string_view kUnmatched = reason::unmatched_topic;

struct Row {
  int line;
  Outcome pass1;                  // default templates
  std::optional<Outcome> pass2{};  // default + extra templates, when it differs
};

// The expected outcome of EVERY line. A behaviour change fails here.
const std::vector<Row>& table() {
  static const std::vector<Row> rows = {
      // Machine-Guard: topic sensors/{id}/data; the firmware's iot/esp32/test is unmatched.
      {1, ok("ESP32_001")},
      {2, ok("ESP32_001")},
      {3, ok("ESP32_001")},
      {4, ok("ESP32_001")},
      {5, ok("ESP32_001")},
      {6, no(kUnmatched), ok("esp32")},
      {7, no(kUnmatched), ok("esp32")},
      {8, no(kUnmatched), ok("esp32")},  // bare nan: 2 metrics dropped, message kept
      {9, ok("ESP32_001")},              // "abc" kept in extra; humidity, gas, current stored
      {10, ok("ESP32_002")},
      {11, no(kUnmatched)},  // ML alert, not telemetry
      // iot-meter: only iot/{id}/telemetry is telemetry.
      {12, ok("device-001")},
      {13, ok("device-002")},
      {14, ok("device-003")},
      {15, ok("test-dc-meter-001")},
      {16, ok("legacy-sensor")},
      {17, ok("device-001")},
      {18, no(reason::not_json)},
      {19, ok("test-dc-meter-001", 5)},  // v1 batch of flat items
      {20, ok("dc-meter-007", 10)},      // 20 items at 10 distinct times
      {21, ok("ac-meter-101", 2)},
      {22, ok("ac-meter-001", 1)},
      {23, ok("dc-meter-001", 1)},  // {n,v,u} items, envelope time
      {24, ok("dc-meter-dup", 1)},  // published twice: same dedup key (below)
      {25, no(reason::no_metrics)},  // empty measurements
      {26, no(kUnmatched)},          // hello
      {27, no(kUnmatched)},          // status online
      {28, no(kUnmatched)},          // status offline (LWT)
      {29, no(kUnmatched)},          // command/ack
      {30, no(kUnmatched)},          // ota/status
      {31, no(kUnmatched)},          // outbound command
      // IoT-Shield: sensors/{id}; the payload id wins (line 32 differs from the topic).
      {32, ok("device_01")},
      {33, ok("device2")},
      {34, ok("device5")},
      {35, ok("device3")},
      // telemetry_app over HTTP, no device key in this model.
      {36, ok("esp32_01")},
      {37, ok("esp32-001")},
      {38, no(reason::not_json)},  // "// Optional" comment
      {39, ok("esp32-001")},
      {40, no(reason::no_metrics)},
      {41, ok("esp32-001")},
      {42, no(reason::no_device_id)},  // needs the device key (see DeviceKeySuppliesTheId)
      {43, no(reason::no_metrics)},
      {44, ok("esp32_01")},
      {45, ok("esp32_01")},
      // F2: unmatched by default; with "+/f2-{device_id}/#":
      {46, no(kUnmatched), no(reason::no_metrics)},  // raw Modbus hex
      {47, no(kUnmatched), ok("e4fd45f654be")},      // status: true -> 1
      {48, no(kUnmatched), ok("e4fd45f654be")},
      {49, no(kUnmatched), ok("e4fd45f654be")},
      {50, no(kUnmatched), no(reason::no_metrics)},  // bytes repr string
      {51, no(kUnmatched), no(reason::no_metrics)},
      {52, no(kUnmatched), ok("e4fd45f654be")},
      {53, no(kUnmatched), ok("e4fd45f654be")},
      {54, no(kUnmatched), ok("e4fd45f654be")},      // a command with numbers (see header)
      {55, no(kUnmatched), no(reason::not_object)},  // bare 1
      {56, no(kUnmatched), no(reason::not_object)},  // bare 1 on a 6-level topic
      {57, no(kUnmatched), no(reason::no_metrics)},  // "0xfa"
      {58, no(kUnmatched), ok("abc123def456")},
      {59, no(kUnmatched), no(reason::no_metrics)},
      {60, no(kUnmatched), no(reason::no_metrics)},
      {61, no(kUnmatched), no(reason::no_metrics)},
      {62, no(kUnmatched), ok("ac1234567890")},
      {63, no(kUnmatched), ok("ac1234567890")},
      {64, no(kUnmatched), ok("al1111222233")},
      {65, no(kUnmatched), ok("al1111222233")},
      {66, no(kUnmatched), ok("e4-fd-45-f6-54-be")},
      {67, no(kUnmatched), ok("e4-fd-45-f6-54-be")},
      {68, no(kUnmatched), no(reason::not_json)},  // bare "open"
      {69, no(kUnmatched)},                         // system/status: no device level
      {70, no(kUnmatched), no(reason::no_metrics)},
      {71, no(kUnmatched), no(reason::no_metrics)},
      {72, no(kUnmatched), no(reason::no_metrics)},
      {73, no(kUnmatched), no(reason::no_metrics)},
      // IotMeasurement records: one labelled metric each; id from device_id/mac_address.
      {74, no(kUnmatched), ok("f2-e4fd45f654be")},
      {75, no(kUnmatched), ok("e4fd45f654be")},
      {76, no(kUnmatched), ok("e4fd45f654be")},
      {77, no(kUnmatched), ok("f2-e4fd45f654be")},
      {78, no(kUnmatched), ok("f2-e4fd45f654be")},
      {79, no(kUnmatched), ok("e4fd45f654be")},
      {80, no(kUnmatched), no(reason::no_metrics)},  // "n/a"; its bad timestamp alone is no reason
  };
  return rows;
}

// Accepted lines whose `expect` describes no content (only "accepted_by_origin": false or
// "telemetry": false): the metric names the decoder keeps.
const std::map<int, std::vector<std::string>> kUndescribedMetrics = {
    {8, {"current", "gas", "vibration"}},                   // temperature/humidity were nan
    {9, {"current", "gas", "humidity"}},                    // temperature "abc" -> extra
    {35, {"current", "humidity", "temperature", "voltage"}},  // origin requires pressure
    {41, {"humidity", "temperature", "voltage"}},           // 200 °C: an alert, not a reject
    {45, {"humidity", "temperature", "voltage"}},           // 30 V: likewise
    {54, {"period", "power-flag"}},                         // cmnd/ via the F2 catch-all
};

// Reachable lines whose `expect` has numbers but which are rejected, and why.
const std::set<int> kDocumentedRejections = {
    42,  // HTTP without a device key: the id comes only from the key (README curl example)
};

std::vector<TopicTemplate> default_templates() { return parse_topic_templates(kDefaultTemplates); }

std::vector<TopicTemplate> extended_templates() {
  return parse_topic_templates(std::string(kDefaultTemplates) + "," + std::string(kExtraTemplates));
}

const Sample& sample(int line) { return samples().at(static_cast<std::size_t>(line - 1)); }

bool has_numeric_expectation(const Json& e) {
  if (e.contains("samples") || e.contains("first_sample")) return true;
  if (!e.contains("metrics") || !e["metrics"].is_object()) return false;
  for (const auto& [k, v] : e["metrics"].items()) {
    if (v.is_number()) return true;
  }
  return false;
}

std::optional<double> metric(const Reading& r, std::string_view name) {
  for (const auto& [n, v] : r.metrics) {
    if (n == name) return v;
  }
  return std::nullopt;
}

// Reading vs {"timestamp"?, "metrics"?} (+ the line's boolean "states").
void check_reading(const Reading& r, const Json& want, const Json& states, const std::string& where) {
  SCOPED_TRACE(where);
  EXPECT_EQ(r.received_at_ms, kReceivedAt);
  if (want.contains("timestamp")) {
    const Json& ts = want["timestamp"];
    if (ts.is_null()) {
      EXPECT_FALSE(r.has_device_time);
      EXPECT_EQ(r.ts_ms, kReceivedAt);
      EXPECT_FALSE(r.dedup_key);
    } else {
      const auto expected = time::parse_iso8601_ms(ts.get<std::string>());
      ASSERT_TRUE(expected) << ts;
      EXPECT_TRUE(r.has_device_time);
      EXPECT_EQ(r.ts_ms, *expected) << time::format_iso8601_ms(r.ts_ms) << " vs " << ts;
      EXPECT_TRUE(r.dedup_key);
    }
  }
  std::set<std::string> expected_names;
  if (want.contains("metrics") && want["metrics"].is_object()) {
    for (const auto& [name, value] : want["metrics"].items()) {
      if (!value.is_number()) continue;
      expected_names.insert(name);
      EXPECT_EQ(metric(r, name), value.get<double>()) << name;
    }
  }
  // Any other metric must be a boolean state (booleans are 1/0 metrics, docs/architecture.md
  // §6).
  for (const auto& [name, value] : r.metrics) {
    if (expected_names.count(name)) continue;
    const bool is_bool_state = states.is_object() && states.contains(name) && states[name].is_boolean();
    EXPECT_TRUE(is_bool_state) << "unexpected metric " << name;
    if (is_bool_state) {
      EXPECT_EQ(value, states[name].get<bool>() ? 1.0 : 0.0) << name;
    }
  }
  for (std::size_t i = 1; i < r.metrics.size(); ++i) {
    EXPECT_LT(r.metrics[i - 1].first, r.metrics[i].first);  // sorted, unique
  }
}

// An accepted line against its `expect`.
void check_against_expect(const Sample& s, const Decoded& d) {
  const Json& e = s.expect;
  const std::string where = "line " + std::to_string(s.line);
  const Json states = e.value("states", Json::object());
  if (e.contains("device_id") && e["device_id"].is_string()) {
    for (const Reading& r : d.readings) EXPECT_EQ(r.device_id, e["device_id"]) << where;
  }
  if (e.contains("seq")) {
    for (const Reading& r : d.readings) {
      EXPECT_EQ(Json::parse(r.extra_json).at("seq"), e["seq"]) << where;
    }
  }
  if (!e.contains("metrics") && !e.contains("samples") && !e.contains("first_sample") &&
      !e.contains("states")) {
    const auto it = kUndescribedMetrics.find(s.line);
    ASSERT_NE(it, kUndescribedMetrics.end()) << where << ": accepted, but expect shows no content";
    ASSERT_EQ(d.readings.size(), 1u) << where;
    std::vector<std::string> got;
    for (const auto& m : d.readings[0].metrics) got.push_back(m.first);
    EXPECT_EQ(got, it->second) << where;
    return;
  }
  if (e.contains("samples")) {
    ASSERT_EQ(d.readings.size(), e["samples"].size()) << where;
    for (std::size_t i = 0; i < d.readings.size(); ++i) {
      check_reading(d.readings[i], e["samples"][i], states, where + " sample " + std::to_string(i));
    }
  } else if (e.contains("first_sample")) {
    check_reading(d.readings.front(), e["first_sample"], states, where + " first sample");
  } else {
    ASSERT_EQ(d.readings.size(), 1u) << where;
    check_reading(d.readings.front(), e, states, where);
  }
}

// One row; a failed ASSERT ends only this row, so one run reports every broken line.
void check_row(const Row& row, const std::vector<TopicTemplate>& templates, bool extended) {
  const Sample& s = sample(row.line);
  const Outcome want = extended ? row.pass2.value_or(row.pass1) : row.pass1;
  SCOPED_TRACE("line " + std::to_string(row.line) + (extended ? " (extended templates)" : "") +
               " topic " + s.topic + " payload " + s.payload.substr(0, 120));
  const auto got = ingest(s, templates);
  if (!want.reason.empty()) {
    ASSERT_FALSE(got) << "accepted, expected " << want.reason;
    EXPECT_EQ(got.error().reason, want.reason) << got.error().detail;
    EXPECT_FALSE(got.error().detail.empty());
    const bool reachable = want.reason != kUnmatched;
    if (reachable && has_numeric_expectation(s.expect)) {
      EXPECT_TRUE(kDocumentedRejections.count(row.line)) << "undocumented rejection";
    }
    return;
  }
  ASSERT_TRUE(got) << "rejected " << got.error().reason << ": " << got.error().detail;
  ASSERT_EQ(got->readings.size(), want.readings);
  for (const Reading& r : got->readings) {
    EXPECT_EQ(r.device_id, want.device_id);
    EXPECT_FALSE(r.metrics.empty());
    if (!r.extra_json.empty()) {
      EXPECT_TRUE(Json::accept(r.extra_json)) << r.extra_json;
    }
  }
  check_against_expect(s, *got);
}

void check_pass(const std::vector<TopicTemplate>& templates, bool extended) {
  for (const Row& row : table()) check_row(row, templates, extended);
}

TEST(Samples, FileHasEightyLinesAndTheTableCoversEachOnce) {
  ASSERT_EQ(samples().size(), 80u);
  ASSERT_EQ(table().size(), samples().size());
  for (std::size_t i = 0; i < table().size(); ++i) {
    EXPECT_EQ(table()[i].line, static_cast<int>(i) + 1);
  }
}

TEST(Samples, EveryLineWithDefaultTopics) { check_pass(default_templates(), false); }

TEST(Samples, EveryLineWithF2AndRecordTemplates) { check_pass(extended_templates(), true); }

TEST(Samples, FirmwareNanDropsTwoMetricsAndKeepsTheRest) {
  const auto d = ingest(sample(8), extended_templates());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->notes.nonfinite_dropped, 2u);
  const Reading& r = d->readings.at(0);
  EXPECT_EQ(metric(r, "gas"), 1873);
  EXPECT_EQ(metric(r, "current"), 0.0);
  EXPECT_FALSE(metric(r, "temperature"));
  EXPECT_FALSE(metric(r, "humidity"));
}

TEST(Samples, PublishedTwiceGivesTheSameDedupKey) {
  const Sample& s = sample(24);
  ASSERT_EQ(s.expect.value("publish_twice_second_dropped", false), true);
  const auto a = ingest(s, default_templates());
  const auto b = ingest(s, default_templates());
  ASSERT_TRUE(a && b);
  ASSERT_TRUE(a->readings.at(0).dedup_key);
  EXPECT_EQ(a->readings.at(0).dedup_key, b->readings.at(0).dedup_key);
  EXPECT_EQ(a->readings.at(0).ts_ms, b->readings.at(0).ts_ms);
}

TEST(Samples, SameTimeAndMetricsWithAnotherSeqGetsAnotherKey) {
  Sample s = sample(24);
  const auto a = ingest(s, default_templates());
  const auto at = s.payload.find("\"seq\": 5");
  ASSERT_NE(at, std::string::npos);
  s.payload.replace(at, 8, "\"seq\": 6");
  const auto b = ingest(s, default_templates());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a->readings.at(0).ts_ms, b->readings.at(0).ts_ms);
  EXPECT_EQ(a->readings.at(0).metrics, b->readings.at(0).metrics);
  EXPECT_NE(a->readings.at(0).dedup_key, b->readings.at(0).dedup_key);
}

TEST(Samples, PayloadIdDifferingFromTopicIsNoted) {
  const auto d = ingest(sample(32), default_templates());
  ASSERT_TRUE(d);
  EXPECT_TRUE(d->notes.device_id_mismatch);
  EXPECT_FALSE(ingest(sample(33), default_templates())->notes.device_id_mismatch);
}

TEST(Samples, DeviceKeySuppliesTheId) {
  const auto d = ingest(sample(42), default_templates(), "esp32-key-device");
  ASSERT_TRUE(d) << d.error().detail;
  EXPECT_EQ(d->readings.at(0).device_id, "esp32-key-device");
  check_reading(d->readings.at(0), sample(42).expect, Json::object(), "line 42 with key");
}

TEST(Samples, F2StrikeDecodesVoltageAndCurrentWithStateInExtra) {
  const auto d = ingest(sample(62), extended_templates());
  ASSERT_TRUE(d);
  const Reading& r = d->readings.at(0);
  EXPECT_EQ(r.device_id, "ac1234567890");
  ASSERT_EQ(r.metrics.size(), 2u);
  EXPECT_EQ(metric(r, "voltage"), 12.1);
  EXPECT_EQ(metric(r, "current"), 0.85);
  EXPECT_EQ(Json::parse(r.extra_json), Json::parse(R"({"state":"locked"})"));
}

TEST(Samples, F2RawHexIsNoMetrics) {
  for (const int line : {46, 57, 59, 70}) {
    const auto d = ingest(sample(line), extended_templates());
    ASSERT_FALSE(d) << line;
    EXPECT_EQ(d.error().reason, reason::no_metrics);
    EXPECT_EQ(d.error().detail, "no numeric fields; non-numeric: data") << line;
  }
}

TEST(Samples, UnitStringValueAndContextOfIotMeasurement) {
  const auto d = ingest(sample(74), extended_templates());
  ASSERT_TRUE(d);
  const Reading& r = d->readings.at(0);
  EXPECT_EQ(r.metrics, (std::vector<std::pair<std::string, double>>{{"temperature", 27.93}}));
  const Json extra = Json::parse(r.extra_json);
  EXPECT_EQ(extra.at("pin"), 3);
  EXPECT_EQ(extra.at("mode"), "sensor-mode");
  EXPECT_TRUE(extra.contains("original_topic"));
  EXPECT_TRUE(extra.contains("unit"));

  const auto neg = ingest(sample(79), extended_templates());
  ASSERT_TRUE(neg);
  EXPECT_EQ(metric(neg->readings.at(0), "Temperature"), -12.5);
}

TEST(Samples, UnparseableTimestampIsNotARejectionReason) {
  // Line 80 with a numeric value: the bad time is replaced by the receive time.
  Sample s = sample(80);
  const auto at = s.payload.find("\"n/a\"");
  ASSERT_NE(at, std::string::npos);
  s.payload.replace(at, 5, "21.5");
  const auto d = ingest(s, extended_templates());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->notes.bad_timestamp, 1u);
  EXPECT_FALSE(d->readings.at(0).has_device_time);
  EXPECT_EQ(Json::parse(d->readings.at(0).extra_json).at("original_ts"), "26/05/2023 18:34");
}

}  // namespace
}  // namespace iotd::pipeline
