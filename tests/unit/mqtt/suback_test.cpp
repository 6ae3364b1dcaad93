// check_suback: what a SUBACK's codes mean for each configured filter.
#include <gtest/gtest.h>

#include "iotd/mqtt/mqtt_source.hpp"

namespace iotd::mqtt {
namespace {

const std::vector<std::string> kFilters{"sensors/+/data", "sensors/+", "control/+/ack"};

TEST(Suback, EveryFilterGrantedTheAskedQosIsClean) {
  auto c = check_suback(kFilters, 1, {1, 1, 1});
  EXPECT_EQ(c.refused, "");
  EXPECT_EQ(c.downgraded, "");
  // More than asked (a broker may grant QoS 2) is not a downgrade.
  EXPECT_EQ(check_suback(kFilters, 1, {2, 1, 1}).downgraded, "");
}

TEST(Suback, RefusedFiltersAreNamedWithTheirReasonCode) {
  // 0x87 not authorized (MQTT 5), 0x80 failure (3.1.1), 0x9E shared subscriptions unsupported.
  auto c = check_suback(kFilters, 1, {0x87, 1, 0x9E});
  EXPECT_EQ(c.refused, "'sensors/+/data' (reason code 0x87), 'control/+/ack' (reason code 0x9E)");
  EXPECT_EQ(c.downgraded, "");
  EXPECT_EQ(check_suback({"a/b"}, 0, {0x80}).refused, "'a/b' (reason code 0x80)");
}

TEST(Suback, ALowerGrantedQosIsADowngradeNotARefusal) {
  auto c = check_suback(kFilters, 1, {0, 1, 0});
  EXPECT_EQ(c.refused, "");
  EXPECT_EQ(c.downgraded, "'sensors/+/data' (QoS 0), 'control/+/ack' (QoS 0)");
  EXPECT_EQ(check_suback(kFilters, 0, {0, 0, 0}).downgraded, "");  // QoS 0 asked, QoS 0 granted
}

TEST(Suback, FiltersTheBrokerGaveNoCodeForCountAsRefused) {
  auto c = check_suback(kFilters, 1, {1});
  EXPECT_EQ(c.refused, "'sensors/+' (reason code 0x80), 'control/+/ack' (reason code 0x80)");
}

}  // namespace
}  // namespace iotd::mqtt
