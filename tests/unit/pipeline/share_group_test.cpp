// IOTD_MQTT_SHARE_GROUP's subscription filters (issue 13, docs/scaling.md §2).
#include "iotd/pipeline/share_group.hpp"

#include <gtest/gtest.h>

namespace iotd::pipeline {
namespace {

std::vector<TopicTemplate> templates() {
  std::vector<TopicTemplate> t;
  t.emplace_back("control/{device_id}/ack", MessageKind::command_ack);
  for (auto& x : parse_topic_templates("sensors/{device_id}/data,iot/f2-{device_id}/telemetry,raw/#"))
    t.push_back(std::move(x));
  return t;
}

TEST(ShareGroup, NoGroupKeepsThePlainFilters) {
  EXPECT_EQ(subscription_filters(templates(), ""),
            (std::vector<std::string>{"control/+/ack", "sensors/+/data", "iot/+/telemetry", "raw/#"}));
}

TEST(ShareGroup, AGroupPrefixesEveryFilterIncludingTheAckTopic) {
  EXPECT_EQ(subscription_filters(templates(), "iotd"),
            (std::vector<std::string>{"$share/iotd/control/+/ack", "$share/iotd/sensors/+/data",
                                      "$share/iotd/iot/+/telemetry", "$share/iotd/raw/#"}));
}

TEST(ShareGroup, SharedFiltersStillMatchTheRealTopicsTheBrokerDelivers) {
  // The broker delivers under the real topic; the template (not the filter) matches it.
  const auto t = templates();
  const auto filters = subscription_filters(t, "fleet-1");
  ASSERT_EQ(filters[1], "$share/fleet-1/sensors/+/data");
  auto m = classify_topic(t, "sensors/ESP32_001/data");
  ASSERT_TRUE(m.has_value());
  EXPECT_EQ(m->device_id, "ESP32_001");
  EXPECT_EQ(m->kind, MessageKind::telemetry);
}

TEST(ShareGroup, ATemplateThatIsAlreadySharedIsRefusedWhenAGroupIsSet) {
  std::vector<TopicTemplate> t = parse_topic_templates("$share/other/sensors/{device_id}/data");
  // Without a group it stays as written (the older way to share, still supported).
  EXPECT_EQ(subscription_filters(t, ""), (std::vector<std::string>{"$share/other/sensors/+/data"}));
  try {
    subscription_filters(t, "iotd");
    FAIL() << "expected a refusal";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("$share/other/sensors/{device_id}/data"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("already a shared subscription"), std::string::npos) << e.what();
  }
}

TEST(ShareGroup, GroupNamesWithWildcardsSlashesOrSpacesAreRefused) {
  for (const char* bad : {"a/b", "a+", "#", "two words", "", "tab\there", "\x7f"})
    EXPECT_THROW(validate_share_group(bad), std::invalid_argument) << bad;
  for (const char* good : {"iotd", "fleet-1", "g_2.x", "$weird"}) EXPECT_NO_THROW(validate_share_group(good)) << good;
  EXPECT_THROW(subscription_filters(templates(), "a/b"), std::invalid_argument);
}

}  // namespace
}  // namespace iotd::pipeline
