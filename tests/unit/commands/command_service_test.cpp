// The command service against real parts: a SQLite file, mosquitto and MqttSource as the
// publisher. Topic and payload helpers are pure and tested directly.
#include "iotd/commands/command_service.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>

#include <regex>
#include <set>
#include <thread>

#include "iotd/mqtt/mqtt_source.hpp"
#include "iotd/storage/database.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::commands {
namespace {

using namespace std::chrono_literals;
using nlohmann::json;

TEST(CommandTopic, EveryPlaceholderIsReplaced) {
  EXPECT_EQ(command_topic("control/{device_id}/command", "ESP32_001"), "control/ESP32_001/command");
  EXPECT_EQ(command_topic("{device_id}/cmd/{device_id}", "a:b"), "a:b/cmd/a:b");
  EXPECT_NO_THROW(validate_command_topic("control/{device_id}/command"));
  EXPECT_THROW(validate_command_topic("control/all/command"), std::invalid_argument);
  EXPECT_THROW(validate_command_topic("control/{device_id}/#"), std::invalid_argument);
}

TEST(CommandPayload, CarriesIdCommandParametersAndIssueTime) {
  storage::Command c;
  c.command_id = "0123456789abcdef0123456789abcdef";
  c.command = "set \"mode\"";
  c.parameters = R"({"level":3,"name":"é"})";
  c.issued_at_ms = 1'767'225'600'123;
  auto j = json::parse(command_payload(c));
  EXPECT_EQ(j, json({{"command_id", c.command_id},
                     {"command", "set \"mode\""},
                     {"parameters", {{"level", 3}, {"name", "é"}}},
                     {"issued_at", "2026-01-01T00:00:00.123Z"}}));
}

TEST(CommandId, Is32HexDigitsAndNeverRepeats) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = new_command_id();
    ASSERT_TRUE(std::regex_match(id, std::regex("[0-9a-f]{32}"))) << id;
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
}

class CommandServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    IOTD_REQUIRE_PROGRAM(mosquitto_path, "mosquitto");
    broker = std::make_unique<test::MosquittoServer>();
    storage::migrate(spec);
    auto ws = storage::make_write_store(spec);  // creates the device, as ingest would
    Reading r;
    r.device_id = "dev-1";
    r.ts_ms = r.received_at_ms = 1'767'225'600'000;
    r.metrics = {{"t", 1}};
    ws->begin();
    ws->insert_messages(std::span<const Reading>(&r, 1));
    ws->commit();
    repo = storage::make_command_repository(spec, 2);
    journal::JournalOptions jo;
    jo.dir = dir / "journal";
    journal = std::make_unique<journal::Journal>(jo);
    mqtt::MqttOptions o;
    o.url = broker->url();
    o.client_id = "iotd-command-service-test";
    o.filters = {"sensors/+/data"};
    o.reconnect_min = 200ms;
    o.reconnect_max = 500ms;
    source = std::make_unique<mqtt::MqttSource>(o, *journal, counters);
    source->start();
    ASSERT_TRUE(wait_until([&] { return source->connected(); }, 10s)) << source->state();
  }

  void TearDown() override {
    if (broker && broker->running()) ::kill(broker->pid(), SIGCONT);
    if (source) source->stop();
    if (service) service->stop();
  }

  void start_service(CommandOptions o = {}) {
    service = std::make_unique<CommandService>(o, *repo, counters);
    service->start();
    service->set_publisher(source.get());
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
  std::string state(const std::string& id) {
    auto c = repo->get("dev-1", id);
    return c ? c->state : "";
  }

  test::TempDir dir;
  storage::ConnectionSpec spec = storage::parse_database_url("sqlite:///" + (dir / "t.db").string());
  std::unique_ptr<test::MosquittoServer> broker;
  std::unique_ptr<storage::CommandRepository> repo;
  std::unique_ptr<journal::Journal> journal;
  Counters counters;
  // Declared after the repository and before the source: destroyed before the repository,
  // after the source (whose completions call it).
  std::unique_ptr<CommandService> service;
  std::unique_ptr<mqtt::MqttSource> source;
};

TEST_F(CommandServiceTest, TheBrokersPubackMarksTheCommandSent) {
  start_service();
  auto c = service->issue("dev-1", "restart", R"({"delay_seconds":5})");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->state, "pending");
  EXPECT_EQ(c->expires_at_ms - c->issued_at_ms, 3'600'000);
  ASSERT_TRUE(wait_until([&] { return state(c->command_id) == "sent"; }, 10s)) << state(c->command_id);
  EXPECT_TRUE(repo->get("dev-1", c->command_id)->sent_at_ms);
  EXPECT_EQ(counters.commands_by_state.values()["pending"], 1u);
  EXPECT_EQ(counters.commands_by_state.values()["sent"], 1u);
}

TEST_F(CommandServiceTest, UnknownDeviceIs404AndNothingIsStored) {
  start_service();
  auto c = service->issue("dev-2", "restart", "{}");
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().status, 404);
  storage::CommandQuery q;
  q.device_id = "dev-2";
  EXPECT_TRUE(repo->list(q).empty());
}

TEST_F(CommandServiceTest, WithoutAConnectedBrokerIssueIs503WithRetryAfter) {
  service = std::make_unique<CommandService>(CommandOptions{}, *repo, counters);
  service->start();
  auto none = service->issue("dev-1", "restart", "{}");  // no publisher yet
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().status, 503);
  service->set_publisher(source.get());
  broker->stop();
  ASSERT_TRUE(wait_until([&] { return !source->connected(); }, 10s));
  auto down = service->issue("dev-1", "restart", "{}");
  ASSERT_FALSE(down);
  EXPECT_EQ(down.error().status, 503);
  EXPECT_EQ(down.error().code, "mqtt_unavailable");
  EXPECT_GT(down.error().retry_after_s, 0);
  storage::CommandQuery q;
  q.device_id = "dev-1";
  EXPECT_TRUE(repo->list(q).empty());
}

// The broker takes the message but never answers (frozen): the command stays pending until
// the MQTT client stops, whose failed completion the service records on its way out.
TEST_F(CommandServiceTest, APublishThatNeverGetsItsPubackFailsWhenMqttStops) {
  start_service();
  ::kill(broker->pid(), SIGSTOP);
  auto c = service->issue("dev-1", "restart", "{}");
  ASSERT_TRUE(c) << c.error().message;
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(state(c->command_id), "pending");
  source->stop();
  service->stop();
  ::kill(broker->pid(), SIGCONT);
  auto stored = repo->get("dev-1", c->command_id);
  EXPECT_EQ(stored->state, "failed");
  EXPECT_NE(stored->message.find("not published"), std::string::npos) << stored->message;
}

TEST_F(CommandServiceTest, ExpiresOpenCommandsAfterTheTtlAndFailsPendingOnesAtStart) {
  storage::Command left;
  left.command_id = "left-pending";
  left.device_id = "dev-1";
  left.command = "x";
  left.issued_at_ms = 1;
  left.expires_at_ms = 4'000'000'000'000;
  repo->insert(left);
  CommandOptions o;
  o.ttl = 300ms;
  start_service(o);
  EXPECT_EQ(state("left-pending"), "failed");
  EXPECT_NE(repo->get("dev-1", "left-pending")->message.find("unknown"), std::string::npos);
  auto c = service->issue("dev-1", "ping", "{}");
  ASSERT_TRUE(c);
  ASSERT_TRUE(wait_until([&] { return state(c->command_id) == "expired"; }, 10s)) << state(c->command_id);
  EXPECT_EQ(counters.commands_by_state.values()["expired"], 1u);
}

}  // namespace
}  // namespace iotd::commands
