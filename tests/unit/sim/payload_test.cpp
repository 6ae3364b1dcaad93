// Simulated devices: every payload style decodes with iotd's own decoder into the values
// the simulator generated; the walks stay in bounds and drift.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>

#include <nlohmann/json.hpp>

#include "iotd/core/time.hpp"
#include "iotd/pipeline/decoder.hpp"
#include "iotd/sim/payload.hpp"

namespace iotd::sim {
namespace {

using Json = nlohmann::json;

constexpr std::int64_t kNow = 1769900000123;  // 2026-01-31T22:53:20.123Z
constexpr Style kAllStyles[] = {Style::flat, Style::nested, Style::thingsboard, Style::senml,
                                Style::measurements};

std::map<std::string, double> metrics_of(const Reading& r) {
  return {r.metrics.begin(), r.metrics.end()};
}

class EveryStyle : public ::testing::TestWithParam<Style> {};

TEST_P(EveryStyle, PayloadDecodesToTheGeneratedIdValuesSeqAndTime) {
  Device dev("sim-00042", GetParam(), 7);
  std::string payload;
  for (int step = 1; step <= 3; ++step) {
    const std::int64_t ts = kNow + step * 1000 + 7;  // odd milliseconds survive every format
    const Sample& s = dev.step(ts);
    dev.write_payload(payload);
    SCOPED_TRACE(payload);

    // The topic's id is the fallback, as for the default sensors/{device_id}/data template.
    auto d = pipeline::decode({payload, "sim-00042", ts + 500}, pipeline::DecoderOptions{});
    ASSERT_TRUE(d) << d.error().reason << ": " << d.error().detail;
    ASSERT_EQ(d->readings.size(), 1u);
    const Reading& r = d->readings[0];
    EXPECT_EQ(r.device_id, "sim-00042");
    EXPECT_FALSE(d->notes.device_id_mismatch);
    EXPECT_TRUE(r.has_device_time);
    EXPECT_EQ(r.ts_ms, ts);
    EXPECT_EQ(s.seq, static_cast<std::uint64_t>(step));

    std::map<std::string, double> want{{"temperature", s.temperature},
                                       {"humidity", s.humidity},
                                       {"pressure", s.pressure},
                                       {"battery", s.battery},
                                       {"rssi", s.rssi}};
    if (GetParam() == Style::senml) {
      // A SenML pack has no envelope: the sequence number travels as its own record.
      want["seq"] = static_cast<double>(s.seq);
      EXPECT_EQ(metrics_of(r), want);
    } else {
      EXPECT_EQ(metrics_of(r), want);  // exact: the decimals printed parse back to the value
      ASSERT_FALSE(r.extra_json.empty());
      EXPECT_EQ(Json::parse(r.extra_json)["seq"], s.seq) << r.extra_json;
    }
    // seq feeds the dedup key: consecutive messages never collide.
    EXPECT_TRUE(r.dedup_key.has_value());
  }
}

TEST_P(EveryStyle, PayloadIsOneLineOfValidJson) {
  Device dev("sim-00001", GetParam(), 1);
  dev.step(kNow);
  std::string payload;
  dev.write_payload(payload);
  EXPECT_EQ(payload.find('\n'), std::string::npos);
  EXPECT_TRUE(Json::accept(payload)) << payload;
}

INSTANTIATE_TEST_SUITE_P(Sim, EveryStyle, ::testing::ValuesIn(kAllStyles),
                         [](const auto& info) { return std::string(style_name(info.param)); });

TEST(SimPayload, StylesThatCarryAnIdCarryTheTopicId) {
  for (const Style style : {Style::flat, Style::nested, Style::measurements}) {
    Device dev("sim-00042", style, 3);
    dev.step(kNow);
    std::string payload;
    dev.write_payload(payload);
    EXPECT_EQ(Json::parse(payload)["device_id"], "sim-00042") << payload;
    // Decoding with no topic id at all still finds the device.
    auto d = pipeline::decode({payload, "", kNow}, pipeline::DecoderOptions{});
    ASSERT_TRUE(d) << d.error().detail;
    EXPECT_EQ(d->readings[0].device_id, "sim-00042");
  }
}

TEST(SimPayload, TimestampFormatsFollowTheSamples) {
  std::string payload;
  Device flat("d", Style::flat, 1);
  flat.step(kNow);
  flat.write_payload(payload);
  EXPECT_EQ(Json::parse(payload)["timestamp"], time::format_iso8601_ms(kNow));
  EXPECT_EQ(time::format_iso8601_ms(kNow), "2026-01-31T22:53:20.123Z");

  Device tb("d", Style::thingsboard, 1);
  tb.step(kNow);
  tb.write_payload(payload);
  EXPECT_EQ(Json::parse(payload)["ts"], kNow);  // ThingsBoard: epoch ms

  Device senml("d", Style::senml, 1);
  senml.step(kNow);
  senml.write_payload(payload);
  EXPECT_NE(payload.find(R"("t":1769900000.123)"), std::string::npos) << payload;  // seconds

  Device m("d", Style::measurements, 1);
  m.step(kNow);
  m.write_payload(payload);
  const Json j = Json::parse(payload);
  EXPECT_EQ(j["ts"], "2026-01-31T22:53:20.123Z");
  EXPECT_EQ(j["v"], 2);
  EXPECT_EQ(j["msg_type"], "telemetry");
}

TEST(SimPayload, IsoTimestampIsRightAcrossMidnightAndEveryField) {
  // Crosses a day (the date part is cached per thread) and has every field non-zero.
  std::string payload;
  Device dev("d", Style::flat, 1);
  for (const std::int64_t ms : {kNow, std::int64_t{1767225599999}, std::int64_t{1767225600000},
                                std::int64_t{1709251199001}, kNow}) {
    dev.step(ms);
    dev.write_payload(payload);
    EXPECT_EQ(Json::parse(payload)["timestamp"], time::format_iso8601_ms(ms));
  }
}

TEST(SimPayload, WritingReplacesTheBufferContent) {
  Device dev("sim-00001", Style::nested, 5);
  dev.step(kNow);
  std::string payload = "left over from before";
  dev.write_payload(payload);
  std::string again;
  dev.write_payload(again);
  EXPECT_EQ(payload, again);
  EXPECT_EQ(payload.front(), '{');
}

TEST(SimWalk, ValuesStayInBoundsOverTenThousandStepsAndDrift) {
  for (std::uint64_t seed : {1ULL, 2ULL, 99ULL, 0xdeadbeefULL}) {
    Device dev("d", Style::flat, seed);
    Sample lo{}, hi{};
    for (int i = 0; i < 10'000; ++i) {
      const Sample& s = dev.step(kNow + i);
      ASSERT_EQ(s.seq, static_cast<std::uint64_t>(i + 1));
      ASSERT_GE(s.temperature, kTemperature.min);
      ASSERT_LE(s.temperature, kTemperature.max);
      ASSERT_GE(s.humidity, kHumidity.min);
      ASSERT_LE(s.humidity, kHumidity.max);
      ASSERT_GE(s.pressure, kPressure.min);
      ASSERT_LE(s.pressure, kPressure.max);
      ASSERT_GE(s.battery, kBattery.min);
      ASSERT_LE(s.battery, kBattery.max);
      ASSERT_GE(s.rssi, kRssi.min);
      ASSERT_LE(s.rssi, kRssi.max);
      if (i == 0) lo = hi = s;
      lo.temperature = std::min(lo.temperature, s.temperature);
      hi.temperature = std::max(hi.temperature, s.temperature);
      lo.humidity = std::min(lo.humidity, s.humidity);
      hi.humidity = std::max(hi.humidity, s.humidity);
      lo.pressure = std::min(lo.pressure, s.pressure);
      hi.pressure = std::max(hi.pressure, s.pressure);
      lo.rssi = std::min(lo.rssi, s.rssi);
      hi.rssi = std::max(hi.rssi, s.rssi);
    }
    // A random walk, not a constant (nor white noise across the whole range).
    EXPECT_GT(hi.temperature - lo.temperature, 0.2) << seed;
    EXPECT_LT(hi.temperature - lo.temperature, kTemperature.max - kTemperature.min) << seed;
    EXPECT_GT(hi.humidity - lo.humidity, 0.5) << seed;
    EXPECT_GT(hi.pressure - lo.pressure, 0.5) << seed;
    EXPECT_GT(hi.rssi - lo.rssi, 2) << seed;
  }
}

TEST(SimWalk, ConsecutiveValuesMoveInSmallSteps) {
  Device dev("d", Style::flat, 11);
  Sample prev = dev.step(kNow);
  for (int i = 0; i < 1000; ++i) {
    const Sample s = dev.step(kNow);
    EXPECT_LE(std::abs(s.temperature - prev.temperature), 0.2);
    EXPECT_LE(std::abs(s.humidity - prev.humidity), 1.0);
    prev = s;
  }
}

TEST(SimWalk, SameSeedSameValuesOtherSeedOtherValues) {
  Device a("d", Style::flat, 42), b("d", Style::flat, 42), c("d", Style::flat, 43);
  bool differs = false;
  for (int i = 0; i < 100; ++i) {
    const Sample sa = a.step(kNow), sb = b.step(kNow), sc = c.step(kNow);
    EXPECT_EQ(sa.temperature, sb.temperature);
    EXPECT_EQ(sa.rssi, sb.rssi);
    differs = differs || sa.temperature != sc.temperature;
  }
  EXPECT_TRUE(differs);
}

TEST(SimDeviceId, ZeroPaddedToFiveDigitsOrMoreWhenNeeded) {
  EXPECT_EQ(device_id("sim-", 42, 100), "sim-00042");
  EXPECT_EQ(device_id("sim-", 0, 1), "sim-00000");
  EXPECT_EQ(device_id("sim-", 99'999, 100'000), "sim-99999");
  EXPECT_EQ(device_id("sim-", 42, 100'001), "sim-000042");
  EXPECT_EQ(device_id("", 7, 10), "00007");
  EXPECT_TRUE(pipeline::valid_device_id(device_id("sim-", 123, 1000)));
}

TEST(SimTopic, ReplacesEveryDeviceIdPlaceholder) {
  EXPECT_EQ(expand_topic("sensors/{device_id}/data", "sim-00001"), "sensors/sim-00001/data");
  EXPECT_EQ(expand_topic("a/{device_id}/{device_id}", "x"), "a/x/x");
  EXPECT_EQ(expand_topic("fixed/topic", "x"), "fixed/topic");
}

TEST(SimStyle, NamesRoundTrip) {
  for (const Style s : kAllStyles) EXPECT_EQ(parse_style(style_name(s)), s);
  EXPECT_FALSE(parse_style("mixed"));  // a command-line choice, not a payload style
  EXPECT_FALSE(parse_style("Flat"));
}

}  // namespace
}  // namespace iotd::sim
