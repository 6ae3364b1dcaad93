// MqttSource as the outbound MqttPublisher, against a real mosquitto: a subscriber gets the
// message, the completion waits for the broker's PUBACK, and a publish while the broker is
// down fails at once.
#include <gtest/gtest.h>
#include <mqtt/async_client.h>
#include <signal.h>

#include <future>
#include <thread>

#include "iotd/mqtt/mqtt_source.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::mqtt {
namespace {

using namespace std::chrono_literals;

class MqttPublisherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IOTD_REQUIRE_PROGRAM(mosquitto_path, "mosquitto");
    broker = std::make_unique<test::MosquittoServer>();
    journal::JournalOptions jo;
    jo.dir = dir / "journal";
    journal = std::make_unique<journal::Journal>(jo);
    MqttOptions o;
    o.url = broker->url();
    o.client_id = "iotd-publisher-test";
    o.filters = {"sensors/+/data"};
    o.reconnect_min = 200ms;
    o.reconnect_max = 500ms;
    source = std::make_unique<MqttSource>(o, *journal, counters);
    source->start();
    ASSERT_TRUE(wait_until([&] { return source->connected(); }, 10s)) << source->state();
  }

  void TearDown() override {
    if (broker && broker->running()) ::kill(broker->pid(), SIGCONT);  // in case a test froze it
    if (source) source->stop();
  }

  template <class F>
  static bool wait_until(F&& f, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!f()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(10ms);
    }
    return true;
  }

  test::TempDir dir;
  std::unique_ptr<test::MosquittoServer> broker;
  std::unique_ptr<journal::Journal> journal;
  Counters counters;
  std::unique_ptr<MqttSource> source;
};

TEST_F(MqttPublisherTest, ASubscriberReceivesThePublishedMessageAndTheCompletionReportsDelivery) {
  ::mqtt::async_client sub(broker->url(), "publisher-test-subscriber");
  sub.start_consuming();
  ASSERT_TRUE(sub.connect()->wait_for(10s));
  ASSERT_TRUE(sub.subscribe("control/+/command", 1)->wait_for(10s));

  std::promise<PublishResult> done;
  auto fut = done.get_future();
  MqttPublisher& port = *source;
  port.publish("control/dev-1/command", R"({"command_id":"c-1","command":"reboot"})",
               [&](PublishResult r) { done.set_value(std::move(r)); });
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  const auto r = fut.get();
  EXPECT_TRUE(r.delivered) << r.error;

  ::mqtt::const_message_ptr msg;
  ASSERT_TRUE(sub.try_consume_message_for(&msg, 10s));
  ASSERT_TRUE(msg);
  EXPECT_EQ(msg->get_topic(), "control/dev-1/command");
  EXPECT_EQ(msg->to_string(), R"({"command_id":"c-1","command":"reboot"})");
  EXPECT_EQ(msg->get_qos(), 1);
  sub.disconnect()->wait_for(5s);
}

TEST_F(MqttPublisherTest, TheCompletionWaitsForTheBrokersPuback) {
  // A frozen broker keeps the TCP connection but sends no PUBACK.
  ASSERT_EQ(::kill(broker->pid(), SIGSTOP), 0);
  std::promise<PublishResult> done;
  auto fut = done.get_future();
  source->publish("control/dev-2/command", "{}", 1, [&](PublishResult r) { done.set_value(std::move(r)); });
  EXPECT_EQ(fut.wait_for(700ms), std::future_status::timeout) << "completed without a PUBACK";
  ASSERT_EQ(::kill(broker->pid(), SIGCONT), 0);
  ASSERT_EQ(fut.wait_for(10s), std::future_status::ready);
  const auto r = fut.get();
  EXPECT_TRUE(r.delivered) << r.error;
}

TEST_F(MqttPublisherTest, PublishingWhileTheBrokerIsDownFailsAtOnce) {
  broker->stop();
  ASSERT_TRUE(wait_until([&] { return !source->connected(); }, 10s));
  bool called = false;
  PublishResult result;
  source->publish("control/dev-3/command", "{}", 1, [&](PublishResult r) {
    called = true;
    result = std::move(r);
  });
  ASSERT_TRUE(called) << "the completion must run before publish() returns";
  EXPECT_FALSE(result.delivered);
  EXPECT_NE(result.error.find("not connected"), std::string::npos) << result.error;
  EXPECT_FALSE(source->connected());
}

TEST_F(MqttPublisherTest, PublishesPendingAtStopCompleteAndNoneAfterwards) {
  std::promise<PublishResult> done;
  auto fut = done.get_future();
  source->publish("control/dev-4/command", "{}", 1, [&](PublishResult r) { done.set_value(std::move(r)); });
  source->stop();
  ASSERT_EQ(fut.wait_for(0s), std::future_status::ready) << "stop() leaves no completion behind";
  bool called = false;
  source->publish("control/dev-4/command", "{}", 1, [&](PublishResult r) {
    called = true;
    EXPECT_FALSE(r.delivered);
  });
  EXPECT_TRUE(called);
}

TEST_F(MqttPublisherTest, WildcardTopicsAndBadQosFailWithoutReachingTheBroker) {
  std::vector<PublishResult> results;
  auto record = [&](PublishResult r) { results.push_back(std::move(r)); };
  source->publish("control/+/command", "{}", 1, record);
  source->publish("control/x/command", "{}", 3, record);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_FALSE(results[0].delivered);
  EXPECT_FALSE(results[1].delivered);
  EXPECT_NE(results[1].error.find("QoS"), std::string::npos);
}

}  // namespace
}  // namespace iotd::mqtt
