// iotd-sim's command line: defaults, every flag, and clear errors for bad input.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "iotd/sim/options.hpp"
#include "iotd/sim/report.hpp"

namespace iotd::sim {
namespace {

Command parse(std::vector<std::string> args) { return parse_command_line(args); }

// The UsageError message for args ("" when parsing succeeds).
std::string error_of(std::vector<std::string> args) {
  try {
    parse_command_line(args);
  } catch (const UsageError& e) {
    return e.what();
  }
  return "";
}

TEST(SimCli, NoArgumentsPublishWithTheDefaults) {
  const Command c = parse({});
  ASSERT_EQ(c.kind, Command::Kind::publish);
  const PublishOptions& o = c.publish;
  EXPECT_EQ(o.url, "tcp://127.0.0.1:1883");
  EXPECT_EQ(o.devices, 100u);
  EXPECT_EQ(o.messages, 0u);
  EXPECT_EQ(o.rate, 0);
  EXPECT_EQ(o.qos, 1);
  EXPECT_FALSE(o.style);  // mixed
  EXPECT_EQ(o.topic, "sensors/{device_id}/data");
  EXPECT_EQ(o.device_prefix, "sim-");
  EXPECT_EQ(o.connections, 1u);
  EXPECT_EQ(o.engine, Engine::raw);
  EXPECT_FALSE(o.json);
}

TEST(SimCli, RawEngineNeedsATcpUrlPahoTakesOthers) {
  EXPECT_NE(error_of({"--url", "ssl://h:8883"}).find("--engine paho"), std::string::npos);
  const Command c = parse({"--url", "ssl://h:8883", "--engine", "paho"});
  EXPECT_EQ(c.publish.engine, Engine::paho);
  EXPECT_EQ(error_of({"--engine", "fast"}), "--engine must be raw or paho, got 'fast'");
}

TEST(SimCli, CaFileGoesWithAnSslUrl) {
  EXPECT_EQ(parse({"--url", "ssl://h:8883", "--engine", "paho", "--cafile", "/ca.pem"}).publish.cafile, "/ca.pem");
  EXPECT_EQ(error_of({"--engine", "paho", "--url", "tcp://h:1", "--cafile", "/ca.pem"}),
            "--cafile needs an ssl:// --url");
}

TEST(SimCli, EveryPublishFlagIsRead) {
  const Command c = parse({"publish", "--url", "tcp://h:1", "--devices", "50", "--messages=2000",
                           "--duration", "1.5", "--rate", "2000", "--qos", "0", "--style",
                           "senml", "--topic", "t/{device_id}", "--device-prefix", "dev_",
                           "--connections", "4", "--window", "64", "--client-id", "me",
                           "--seed", "9", "--json"});
  ASSERT_EQ(c.kind, Command::Kind::publish);
  const PublishOptions& o = c.publish;
  EXPECT_EQ(o.url, "tcp://h:1");
  EXPECT_EQ(o.devices, 50u);
  EXPECT_EQ(o.messages, 2000u);
  EXPECT_EQ(o.duration_s, 1.5);
  EXPECT_EQ(o.rate, 2000);
  EXPECT_EQ(o.qos, 0);
  EXPECT_EQ(o.style, Style::senml);
  EXPECT_EQ(o.topic, "t/{device_id}");
  EXPECT_EQ(o.device_prefix, "dev_");
  EXPECT_EQ(o.connections, 4u);
  EXPECT_EQ(o.window, 64u);
  EXPECT_EQ(o.client_id, "me");
  EXPECT_EQ(o.seed, 9u);
  EXPECT_TRUE(o.json);
  EXPECT_FALSE(parse({"--style", "mixed"}).publish.style);
}

TEST(SimCli, SinkFlags) {
  const Command c = parse({"sink", "--url", "tcp://h:2", "--topic", "a/+/b", "--qos", "0",
                           "--count", "2000", "--timeout", "30", "--json"});
  ASSERT_EQ(c.kind, Command::Kind::sink);
  EXPECT_EQ(c.sink.url, "tcp://h:2");
  EXPECT_EQ(c.sink.topic, "a/+/b");
  EXPECT_EQ(c.sink.qos, 0);
  EXPECT_EQ(c.sink.count, 2000u);
  EXPECT_EQ(c.sink.timeout_s, 30);
  EXPECT_TRUE(c.sink.json);
  EXPECT_EQ(parse({"sink"}).sink.topic, "sensors/+/data");
}

TEST(SimCli, HelpAnywhere) {
  EXPECT_EQ(parse({"--help"}).kind, Command::Kind::help);
  EXPECT_EQ(parse({"sink", "-h"}).kind, Command::Kind::help);
  EXPECT_EQ(parse({"--qos", "7", "--help"}).kind, Command::Kind::help);
  EXPECT_NE(help_text().find("--window"), std::string::npos);
}

TEST(SimCli, ErrorsNameTheFlagAndTheValue) {
  EXPECT_EQ(error_of({"--bogus", "1"}), "unknown option --bogus");
  EXPECT_EQ(error_of({"sink", "--devices", "3"}), "unknown option --devices");
  EXPECT_EQ(error_of({"--devices"}), "--devices needs a value");
  EXPECT_EQ(error_of({"--devices", "ten"}), "--devices expects a whole number, got 'ten'");
  EXPECT_EQ(error_of({"--devices", "0"}), "--devices must be between 1 and 10000000, got 0");
  EXPECT_EQ(error_of({"--messages", "-1"}), "--messages expects a whole number, got '-1'");
  EXPECT_EQ(error_of({"--qos", "2"}), "--qos must be 0 or 1, got '2'");
  EXPECT_EQ(error_of({"sink", "--qos=x"}), "--qos must be 0 or 1, got 'x'");
  EXPECT_EQ(error_of({"--rate", "-3"}), "--rate expects a number >= 0, got '-3'");
  EXPECT_EQ(error_of({"--rate", "nan"}), "--rate expects a number >= 0, got 'nan'");
  EXPECT_EQ(error_of({"--duration", "5s"}), "--duration expects a number >= 0, got '5s'");
  EXPECT_NE(error_of({"--style", "xml"}).find("got 'xml'"), std::string::npos);
  EXPECT_EQ(error_of({"--window", "0"}), "--window must be between 1 and 65535, got 0");
  EXPECT_EQ(error_of({"--json=yes"}), "--json takes no value");
  EXPECT_EQ(error_of({"extra"}), "unexpected argument 'extra'");
}

TEST(SimCli, PublishTopicMustNotHaveWildcards) {
  EXPECT_NE(error_of({"--topic", "sensors/+/data"}).find("without + or #"), std::string::npos);
  EXPECT_NE(error_of({"--topic", ""}).find("--topic"), std::string::npos);
}

TEST(SimCli, DevicePrefixMustGiveIdsIotdAccepts) {
  EXPECT_NE(error_of({"--device-prefix", "my dev "}).find("iotd rejects"), std::string::npos);
  EXPECT_NE(error_of({"--device-prefix", std::string(60, 'x')}).find("iotd rejects"),
            std::string::npos);
  EXPECT_EQ(error_of({"--device-prefix", "esp32:a.b_c-"}), "");
}

TEST(SimCli, ConnectionsNeverExceedDevices) {
  EXPECT_EQ(error_of({"--devices", "2", "--connections", "3"}),
            "--connections (3) must not exceed --devices (2)");
  EXPECT_EQ(parse({"--devices", "2", "--connections", "2"}).publish.connections, 2u);
}

TEST(SimReport, RatesSpanFirstPublishToLastAck) {
  PublishReport r;
  r.published = r.acknowledged = 2000;
  r.first_publish_us = 1'000'000;
  r.last_ack_us = 1'500'000;
  EXPECT_DOUBLE_EQ(r.seconds(), 0.5);
  EXPECT_DOUBLE_EQ(r.rate(), 4000);
  const auto j = nlohmann::json::parse(to_json(r, PublishOptions{}));
  EXPECT_EQ(j["published"], 2000);
  EXPECT_EQ(j["acknowledged"], 2000);
  EXPECT_EQ(j["errors"], 0);
  EXPECT_EQ(j["unacknowledged"], 0);
  EXPECT_EQ(j["first_publish_us"], 1'000'000);
  EXPECT_EQ(j["last_ack_us"], 1'500'000);
  EXPECT_EQ(j["rate"], 4000.0);
  EXPECT_EQ(j["style"], "mixed");

  SinkReport s;
  EXPECT_EQ(s.rate(), 0);  // nothing received: no rate, no division by zero
  s.received = 10;
  s.first_receive_us = 5;
  s.last_receive_us = 5;
  EXPECT_EQ(s.rate(), 0);
  EXPECT_EQ(nlohmann::json::parse(to_json(s, SinkOptions{}))["received"], 10);
}

}  // namespace
}  // namespace iotd::sim
