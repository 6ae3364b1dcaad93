// What iotd makes of the broker's SUBACK, against a real mosquitto: a broker that grants
// less than IOTD_MQTT_QOS (mosquitto's max_qos) is named in a warning, and readings still
// arrive. (A refused filter disconnects and retries, with the reason in /health; mosquitto
// 2.0 grants every well-formed filter, so that path is covered by the Suback unit tests.)
#include <gtest/gtest.h>

#include "support/iotd_process.hpp"
#include "support/publisher.hpp"
#include "support/services.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

TEST(MqttSubscription, ABrokerGrantingOnlyQos0IsNamedInTheLogAndReadingsStillArrive) {
  TempDir dir;
  MosquittoServer broker({.extra_config = {"max_qos 0"}});
  for (const char* version : {"5", "3.1.1"}) {
    SCOPED_TRACE(version);
    IotdProcess iotd({dir / version, broker.url(),
                      {{"IOTD_MQTT_VERSION", version}, {"IOTD_MQTT_CLIENT_ID", std::string("iotd-qos-") + version}}});
    ASSERT_TRUE(eventually([&] { return iotd.get("/api/v1/health").json()["mqtt"]["connected"] == true; }, 15s))
        << iotd.log();
    EXPECT_TRUE(eventually([&] { return iotd.log().find("arrive at most once") != std::string::npos; }, 5s))
        << iotd.log();
    EXPECT_NE(iotd.log().find("'sensors/+/data' (QoS 0)"), std::string::npos) << iotd.log();
    auto r = publish_all(broker.url(), std::string("qos-pub-") + version,
                         {{"sensors/granted-0/data", R"({"temperature": 21.5})"}}, 0);
    ASSERT_EQ(r.acknowledged, 1u);
    EXPECT_TRUE(eventually([&] { return iotd.get("/api/v1/readings/latest?device_id=granted-0").status == 200; }, 10s))
        << iotd.log();
  }
}

}  // namespace
}  // namespace iotd::test
