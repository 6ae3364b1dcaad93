// IOTD_MQTT_SHARE_GROUP in the configuration (issue 13).
#include <gtest/gtest.h>

#include "iotd/config/config.hpp"

namespace iotd::config {
namespace {

TEST(ShareGroupConfig, OffByDefaultAndTakenAsGiven) {
  EXPECT_EQ(parse_invocation({}, {}).config.mqtt_share_group, "");
  EXPECT_EQ(parse_invocation({}, {"IOTD_MQTT_SHARE_GROUP=iotd"}).config.mqtt_share_group, "iotd");
  EXPECT_EQ(parse_invocation({"--mqtt-share-group", "fleet"}, {}).config.mqtt_share_group, "fleet");
}

TEST(ShareGroupConfig, ABadGroupNameIsAConfigErrorNamingTheSetting) {
  for (const char* bad : {"a/b", "a+b", "g#", "two words"}) {
    try {
      parse_invocation({}, {std::string("IOTD_MQTT_SHARE_GROUP=") + bad});
      ADD_FAILURE() << bad << " accepted";
    } catch (const ConfigError& e) {
      EXPECT_NE(std::string(e.what()).find("IOTD_MQTT_SHARE_GROUP"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace iotd::config
