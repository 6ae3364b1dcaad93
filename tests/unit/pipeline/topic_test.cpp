// Unit tests for iotd/pipeline/topic.hpp.
#include "iotd/pipeline/topic.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

namespace iotd::pipeline {
namespace {

TEST(TopicTemplate, PlaceholderBecomesPlusInFilterAndYieldsId) {
  const TopicTemplate t("sensors/{device_id}/data");
  EXPECT_EQ(t.filter(), "sensors/+/data");
  EXPECT_EQ(t.text(), "sensors/{device_id}/data");
  EXPECT_EQ(t.match("sensors/ESP32_001/data"), "ESP32_001");
  EXPECT_EQ(t.match("sensors/ESP32_001/data/x"), std::nullopt);
  EXPECT_EQ(t.match("sensors/ESP32_001"), std::nullopt);
  EXPECT_EQ(t.match("sensors/ESP32_001/status"), std::nullopt);
  EXPECT_EQ(t.match("other/ESP32_001/data"), std::nullopt);
}

TEST(TopicTemplate, EmptyIdLevelDoesNotMatch) {
  const TopicTemplate t("sensors/{device_id}/data");
  EXPECT_EQ(t.match("sensors//data"), std::nullopt);
}

TEST(TopicTemplate, SeedStyleSinglePlusIsTheIdLevel) {
  const TopicTemplate t("sensors/+/data");
  EXPECT_EQ(t.filter(), "sensors/+/data");
  EXPECT_EQ(t.match("sensors/dev-7/data"), "dev-7");
}

TEST(TopicTemplate, PrefixedIdLevelWithTrailingHash) {
  const TopicTemplate t("tele/f2-{device_id}/#");
  EXPECT_EQ(t.filter(), "tele/+/#");
  EXPECT_EQ(t.match("tele/f2-e4fd45f654be/sensor-mode/J4/sensor-3"), "e4fd45f654be");
  EXPECT_EQ(t.match("tele/f2-aa:bb:cc:dd:ee:01/sensor-mode/J1/sensor-1"), "aa:bb:cc:dd:ee:01");
  EXPECT_EQ(t.match("tele/f2-abc"), "abc");  // '#' also matches zero levels
  EXPECT_EQ(t.match("tele/f3-abc/x"), std::nullopt);
  EXPECT_EQ(t.match("tele/f2-/x"), std::nullopt);
  EXPECT_EQ(t.match("stat/f2-abc/x"), std::nullopt);
}

TEST(TopicTemplate, SuffixAroundPlaceholder) {
  const TopicTemplate t("dev/{device_id}.meter/up");
  EXPECT_EQ(t.match("dev/abc.meter/up"), "abc");
  EXPECT_EQ(t.match("dev/abc/up"), std::nullopt);
}

TEST(TopicTemplate, PlusBesidePlaceholderIsAPlainWildcard) {
  const TopicTemplate t("+/f2-{device_id}/#");
  EXPECT_EQ(t.filter(), "+/+/#");
  EXPECT_EQ(t.match("cmnd/f2-e4fd45f654be/access-control-mode/J2/reader-1/success"), "e4fd45f654be");
  EXPECT_EQ(t.match("system/status"), std::nullopt);
}

TEST(TopicTemplate, NoWildcardMatchesExactlyAndYieldsNoId) {
  const TopicTemplate t("decoded_iot_data");
  EXPECT_EQ(t.filter(), "decoded_iot_data");
  EXPECT_EQ(t.match("decoded_iot_data"), "");
  EXPECT_EQ(t.match("decoded_iot_data/x"), std::nullopt);
  EXPECT_EQ(t.match("decoded"), std::nullopt);
}

TEST(TopicTemplate, HashOnlyMatchesEverythingWithoutId) {
  const TopicTemplate t("#");
  EXPECT_EQ(t.match("a/b/c"), "");
  EXPECT_EQ(t.match("$SYS/broker/uptime"), std::nullopt);  // MQTT: wildcards skip '$' topics
}

TEST(TopicTemplate, RejectsMalformedTemplates) {
  for (const char* bad : {"", "a/{device_id}/{device_id}", "a/{device_id}{device_id}", "a//b",
                          "/a", "a/", "a/#/b", "a/b#", "a/f2-+/b", "a/+x", "{mac}/x",
                          "a/{device}/b", "+/+/data"}) {
    EXPECT_THROW(TopicTemplate{bad}, std::invalid_argument) << bad;
  }
}

TEST(TopicTemplate, ErrorMessageNamesTheTemplate) {
  try {
    TopicTemplate t("a/#/b");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("a/#/b"), std::string::npos);
  }
}

TEST(TopicTemplates, ParsesTheDefaultList) {
  const auto ts =
      parse_topic_templates("sensors/{device_id}/data,sensors/{device_id},iot/{device_id}/telemetry");
  ASSERT_EQ(ts.size(), 3u);
  EXPECT_EQ(ts[0].filter(), "sensors/+/data");
  EXPECT_EQ(ts[1].filter(), "sensors/+");
  EXPECT_EQ(ts[2].filter(), "iot/+/telemetry");
  EXPECT_EQ(match_topic(ts, "sensors/device1"), "device1");
  EXPECT_EQ(match_topic(ts, "sensors/a/data"), "a");
  EXPECT_EQ(match_topic(ts, "iot/dc-meter-007/telemetry"), "dc-meter-007");
  EXPECT_EQ(match_topic(ts, "iot/dc-meter-007/hello"), std::nullopt);
  EXPECT_EQ(match_topic(ts, "iot/esp32/test"), std::nullopt);
}

TEST(TopicTemplates, FirstMatchingTemplateWins) {
  const auto ts = parse_topic_templates("a/{device_id}/x, a/+/x, #");
  EXPECT_EQ(match_topic(ts, "a/one/x"), "one");
  EXPECT_EQ(match_topic(ts, "b/c"), "");
}

TEST(TopicTemplates, ClassifyNamesTheKindOfTheFirstMatchingTemplate) {
  auto ts = parse_topic_templates("control/{device_id}/ack", MessageKind::command_ack);
  for (auto& t : parse_topic_templates("sensors/{device_id}/data,control/#")) ts.push_back(t);
  ASSERT_EQ(ts.size(), 3u);
  EXPECT_EQ(ts[0].kind(), MessageKind::command_ack);
  EXPECT_EQ(ts[1].kind(), MessageKind::telemetry);
  const auto ack = classify_topic(ts, "control/esp-7/ack");
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->kind, MessageKind::command_ack);
  EXPECT_EQ(ack->device_id, "esp-7");
  const auto data = classify_topic(ts, "sensors/esp-7/data");
  ASSERT_TRUE(data);
  EXPECT_EQ(data->kind, MessageKind::telemetry);
  EXPECT_EQ(data->device_id, "esp-7");
  const auto other = classify_topic(ts, "control/esp-7/command");  // only the telemetry '#'
  ASSERT_TRUE(other);
  EXPECT_EQ(other->kind, MessageKind::telemetry);
  EXPECT_FALSE(classify_topic(ts, "iot/x/telemetry"));
}

TEST(TopicTemplates, TrimsEntriesAndRejectsEmptyOnes) {
  EXPECT_EQ(parse_topic_templates(" a/{device_id} , b ").size(), 2u);
  EXPECT_TRUE(parse_topic_templates("").empty());
  EXPECT_THROW(parse_topic_templates("a,,b"), std::invalid_argument);
  EXPECT_THROW(parse_topic_templates("a,"), std::invalid_argument);
  EXPECT_THROW(parse_topic_templates("a,b/#/c"), std::invalid_argument);
}

}  // namespace
}  // namespace iotd::pipeline

namespace iotd::pipeline {
namespace {

TEST(TopicTemplateShared, SharedSubscriptionSubscribesWithTheGroupAndMatchesTheRealTopic) {
  TopicTemplate t("$share/iotd/sensors/{device_id}/data");
  EXPECT_EQ(t.filter(), "$share/iotd/sensors/+/data");
  EXPECT_EQ(t.match("sensors/ESP32_001/data"), std::optional<std::string>("ESP32_001"));
  EXPECT_EQ(t.match("$share/iotd/sensors/ESP32_001/data"), std::nullopt);
  EXPECT_EQ(t.match("sensors/ESP32_001/other"), std::nullopt);
}

TEST(TopicTemplateShared, SharedSubscriptionWithoutGroupOrTopicIsRejected) {
  EXPECT_THROW(TopicTemplate("$share/"), std::invalid_argument);
  EXPECT_THROW(TopicTemplate("$share//sensors/{device_id}"), std::invalid_argument);
  EXPECT_THROW(TopicTemplate("$share/iotd/"), std::invalid_argument);
}

}  // namespace
}  // namespace iotd::pipeline
