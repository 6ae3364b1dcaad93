#include "iotd/config/config.hpp"

#include <gtest/gtest.h>

#include <fstream>

#include "support/temp_dir.hpp"

namespace iotd::config {
namespace {

Invocation parse(std::vector<std::string> args, std::vector<std::string> env = {}) {
  return parse_invocation(args, env);
}

std::string error_of(std::vector<std::string> args, std::vector<std::string> env = {}) {
  try {
    parse(std::move(args), std::move(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(Config, DefaultsMatchTheDesign) {
  auto inv = parse({});
  EXPECT_EQ(inv.command, "run");
  const auto& c = inv.config;
  EXPECT_EQ(c.http_listen, "0.0.0.0:8080");
  EXPECT_EQ(c.database_url, "sqlite:///data/iotd.db");
  EXPECT_EQ(c.mqtt_url, "tcp://127.0.0.1:1883");
  EXPECT_EQ(c.mqtt_topics, "sensors/{device_id}/data,sensors/{device_id},iot/{device_id}/telemetry");
  EXPECT_EQ(c.mqtt_qos, 1);
  EXPECT_EQ(c.mqtt_version, 5);
  EXPECT_EQ(c.mqtt_session_expiry.count(), 86400);
  EXPECT_EQ(c.journal_dir, "data/journal");
  EXPECT_EQ(c.journal_fsync, "interval");
  EXPECT_EQ(c.journal_max_bytes, 1ULL << 30);
  EXPECT_EQ(c.max_clock_skew.count(), 24LL * 3600 * 1000);
  EXPECT_EQ(c.rejects_max_bytes, 64u * 1024);
  EXPECT_EQ(c.max_devices, 100000);
  EXPECT_EQ(c.commit_delay.count(), 10);
  EXPECT_EQ(c.mqtt_client_id, "iotd-" + c.instance_id);
  EXPECT_GE(c.io_threads, 1);
  EXPECT_EQ(c.sources.at("IOTD_HTTP_LISTEN"), "default");
}

TEST(Config, FlagBeatsEnvBeatsFileBeatsDefault) {
  test::TempDir dir;
  auto file = dir / "iotd.conf";
  std::ofstream(file) << "# comment\nhttp_listen = 127.0.0.1:1111\nlog_level = debug\ndb_pool=7\n";
  auto inv = parse({"--http-listen", "127.0.0.1:3333", "--config", file.string()},
                   {"IOTD_HTTP_LISTEN=127.0.0.1:2222", "IOTD_LOG_LEVEL=warn", "PATH=/bin"});
  EXPECT_EQ(inv.config.http_listen, "127.0.0.1:3333");
  EXPECT_EQ(inv.config.sources.at("IOTD_HTTP_LISTEN"), "flag");
  EXPECT_EQ(inv.config.log_level, "warn");
  EXPECT_EQ(inv.config.sources.at("IOTD_LOG_LEVEL"), "env");
  EXPECT_EQ(inv.config.db_pool, 7);
  EXPECT_EQ(inv.config.sources.at("IOTD_DB_POOL"), "file");
}

TEST(Config, ConfigFileFromEnvironment) {
  test::TempDir dir;
  auto file = dir / "iotd.conf";
  std::ofstream(file) << "max_devices = 42\n";
  auto inv = parse({}, {"IOTD_CONFIG=" + file.string()});
  EXPECT_EQ(inv.config.max_devices, 42);
}

TEST(Config, MalformedValueNamesTheSetting) {
  EXPECT_NE(error_of({}, {"IOTD_MQTT_QOS=2"}).find("IOTD_MQTT_QOS"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_JOURNAL_FSYNC=sometimes"}).find("IOTD_JOURNAL_FSYNC"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_JOURNAL_MAX_BYTES=lots"}).find("IOTD_JOURNAL_MAX_BYTES"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_MAX_CLOCK_SKEW=soon"}).find("IOTD_MAX_CLOCK_SKEW"), std::string::npos);
  EXPECT_NE(error_of({"--http-listen", "nohost"}).find("IOTD_HTTP_LISTEN"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_HTTP_LISTEN=0.0.0.0:99999"}).find("IOTD_HTTP_LISTEN"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_MQTT_URL=http://x"}).find("IOTD_MQTT_URL"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_ADMIN_KEY=short"}).find("IOTD_ADMIN_KEY"), std::string::npos);
  EXPECT_EQ(error_of({}, {"IOTD_ADMIN_KEY=short"}).find("short"), std::string::npos)
      << "a rejected secret must not be echoed";
  EXPECT_NE(error_of({}, {"IOTD_MQTT_SESSION_EXPIRY=0s"}).find("IOTD_MQTT_SESSION_EXPIRY"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_COMMIT_DELAY=5s"}).find("IOTD_COMMIT_DELAY"), std::string::npos);
  EXPECT_NE(error_of({}, {"IOTD_COMMIT_DELAY=later"}).find("IOTD_COMMIT_DELAY"), std::string::npos);
}

TEST(Config, UnknownVariableWarnsAndStrictEnvMakesItFatal) {
  auto inv = parse({}, {"IOTD_HTTP_LISTN=1.2.3.4:5"});
  ASSERT_EQ(inv.warnings.size(), 1u);
  EXPECT_NE(inv.warnings[0].find("IOTD_HTTP_LISTN"), std::string::npos);
  EXPECT_NE(error_of({"--strict-env"}, {"IOTD_HTTP_LISTN=1.2.3.4:5"}).find("IOTD_HTTP_LISTN"), std::string::npos);
}

TEST(Config, KubernetesServiceVariablesAreIgnored) {
  auto inv = parse({"--strict-env"}, {"IOTD_SERVICE_HOST=10.0.0.1", "IOTD_PORT_8080_TCP=tcp://x", "IOTD_PORT=tcp://x"});
  EXPECT_TRUE(inv.warnings.empty());
}

TEST(Config, CommandsAndHelp) {
  EXPECT_EQ(parse({"migrate"}).command, "migrate");
  EXPECT_EQ(parse({"--help"}).command, "help");
  auto cfg = parse({"config", "--example"});
  EXPECT_EQ(cfg.command, "config");
  EXPECT_EQ(cfg.config_output, "example");
  EXPECT_NE(error_of({"serve"}).find("serve"), std::string::npos);
  EXPECT_NE(error_of({"--no-such-flag=1"}).find("--no-such-flag"), std::string::npos);
}

TEST(Config, HelpExampleAndTableListEverySetting) {
  auto help = help_text();
  auto example = example_config_file();
  auto table = markdown_table();
  for (const auto& s : settings()) {
    EXPECT_NE(help.find(s.env), std::string::npos) << s.env;
    EXPECT_NE(table.find(s.env), std::string::npos) << s.env;
  }
  EXPECT_NE(example.find("http_listen = 0.0.0.0:8080"), std::string::npos);
}

TEST(Config, ExampleFileParsesBackToDefaults) {
  test::TempDir dir;
  auto file = dir / "example.conf";
  std::ofstream(file) << example_config_file();
  auto inv = parse({"--config", file.string()});
  EXPECT_TRUE(inv.warnings.empty());
  EXPECT_EQ(inv.config.http_listen, "0.0.0.0:8080");
}

TEST(Config, SizesAndBooleans) {
  EXPECT_EQ(parse_size("1GiB"), 1ULL << 30);
  EXPECT_EQ(parse_size("64KiB"), 65536u);
  EXPECT_EQ(parse_size("512MB"), 512000000u);
  EXPECT_EQ(parse_size(" 1000 "), 1000u);
  EXPECT_THROW(parse_size("1 parsec"), std::invalid_argument);
  EXPECT_THROW(parse_size("-5"), std::invalid_argument);
  EXPECT_THROW(parse_size("99999999999999TiB"), std::invalid_argument);
  EXPECT_TRUE(parse_bool("yes"));
  EXPECT_FALSE(parse_bool("OFF"));
  EXPECT_THROW(parse_bool("maybe"), std::invalid_argument);
}

// HTTP ingest (issue 9): a zero timeout would answer every request 503 at once.
TEST(Config, IngestTimeoutMustBePositive) {
  EXPECT_NE(error_of({}, {"IOTD_INGEST_TIMEOUT=0s"}).find("IOTD_INGEST_TIMEOUT"), std::string::npos);
  EXPECT_EQ(parse({}, {"IOTD_INGEST_TIMEOUT=1500ms"}).config.ingest_timeout, std::chrono::milliseconds(1500));
}

}  // namespace
}  // namespace iotd::config
