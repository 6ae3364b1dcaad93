// The settings table against the design's list (DESIGN §7, copied here) and its secret
// flags, and the masking that `iotd check-config` prints with.
#include <gtest/gtest.h>

#include <set>
#include <string>

#include "iotd/config/config.hpp"

namespace iotd::config {
namespace {

const SettingInfo& setting(std::string_view env) {
  for (const auto& s : settings())
    if (s.env == env) return s;
  throw std::out_of_range(std::string(env));
}

// Every variable the design's configuration section names.
const std::vector<std::string_view> kDesignSettings{
    "IOTD_HTTP_LISTEN", "IOTD_DATABASE_URL", "IOTD_MQTT_URL", "IOTD_MQTT_TOPICS", "IOTD_MQTT_CLIENT_ID",
    "IOTD_MQTT_USERNAME", "IOTD_MQTT_PASSWORD", "IOTD_MQTT_QOS", "IOTD_MQTT_VERSION", "IOTD_MQTT_KEEPALIVE",
    "IOTD_MQTT_SESSION_EXPIRY", "IOTD_INSTANCE_ID", "IOTD_JOURNAL_DIR", "IOTD_JOURNAL_FSYNC",
    "IOTD_JOURNAL_MAX_BYTES", "IOTD_COMMAND_TOPIC", "IOTD_COMMAND_ACK_TOPIC", "IOTD_DEVICE_ID_SOURCE",
    "IOTD_MAX_CLOCK_SKEW", "IOTD_INGEST_TIMEOUT", "IOTD_ADMIN_KEY", "IOTD_IO_THREADS", "IOTD_DB_POOL",
    "IOTD_HTTP_BODY_LIMIT", "IOTD_REJECTS_MAX_BYTES", "IOTD_CORS_ORIGINS", "IOTD_AUTO_REGISTER",
    "IOTD_MAX_DEVICES", "IOTD_LOG_LEVEL", "IOTD_LOG_FORMAT", "IOTD_LOG_FILE", "IOTD_COMMAND_TTL",
    "IOTD_RETENTION", "IOTD_RETENTION_ALERTS", "IOTD_RETENTION_REJECTS",
    "IOTD_HTTP_TLS_CERT", "IOTD_HTTP_TLS_KEY", "IOTD_MQTT_SHARE_GROUP",
    // Delivered on other branches this session (harden) or not yet (share group, issue
    // 13): move each line up into the list above as its branch is merged.
    // "IOTD_RATE_LIMIT",
};

TEST(SettingsTable, HasEverySettingOfTheDesignAndHelpListsIt) {
  const auto help = help_text();
  for (auto env : kDesignSettings) {
    EXPECT_NO_THROW(setting(env)) << env << " is in the design but not in the settings table";
    EXPECT_NE(help.find(std::string(" / ") + std::string(env) + "\n"), std::string::npos) << env;
  }
}

TEST(SettingsTable, NamesAreUniqueAndPasswordsAndKeysAreSecret) {
  std::set<std::string_view> seen;
  for (const auto& s : settings()) {
    EXPECT_TRUE(seen.insert(s.env).second) << s.env << " twice";
    const std::string env(s.env);
    const bool password = env.ends_with("_PASSWORD");
    const bool tls_path = env.ends_with("_FILE") || env.ends_with("_TLS_CERT") || env.ends_with("_TLS_KEY");
    const bool key = env.ends_with("_KEY") && !tls_path;
    if (password || key) {
      EXPECT_NE(s.secret, Secret::no) << env << " holds a secret";
    }
    // Paths to TLS material are not secrets (the files are).
    if (tls_path) {
      EXPECT_EQ(s.secret, Secret::no) << env;
    }
  }
  EXPECT_EQ(setting("IOTD_ADMIN_KEY").secret, Secret::value);
  EXPECT_EQ(setting("IOTD_MQTT_PASSWORD").secret, Secret::value);
  EXPECT_EQ(setting("IOTD_DATABASE_URL").secret, Secret::url_password);
  EXPECT_EQ(setting("IOTD_MQTT_USERNAME").secret, Secret::no);
}

TEST(MaskedValue, HidesWholeSecretsAndOnlyTheUrlPassword) {
  const auto& url = setting("IOTD_DATABASE_URL");
  EXPECT_EQ(masked_value(url, "postgresql://iotd:s3cret@db:5432/iotd"), "postgresql://iotd:***@db:5432/iotd");
  EXPECT_EQ(masked_value(url, "mysql+pymysql://u:p%40ss@h/db?charset=utf8mb4"), "mysql+pymysql://u:***@h/db?charset=utf8mb4");
  EXPECT_EQ(masked_value(url, "postgresql://u:p@ss@h/db"), "postgresql://u:***@h/db") << "an unencoded @ in it";
  EXPECT_EQ(masked_value(url, "postgresql://iotd@db/iotd"), "postgresql://iotd@db/iotd") << "no password";
  EXPECT_EQ(masked_value(url, "postgresql://db/iotd?x=a:b@c"), "postgresql://db/iotd?x=a:b@c") << "no user info";
  EXPECT_EQ(masked_value(url, "sqlite:///data/iotd.db"), "sqlite:///data/iotd.db");
  EXPECT_EQ(masked_value(setting("IOTD_ADMIN_KEY"), "0123456789abcdef0123"), "***");
  EXPECT_EQ(masked_value(setting("IOTD_ADMIN_KEY"), ""), "") << "unset stays visibly unset";
  EXPECT_EQ(masked_value(setting("IOTD_HTTP_LISTEN"), "0.0.0.0:8080"), "0.0.0.0:8080");
}

TEST(EffectiveConfig, ListsEverySettingWithSourceAndNeverASecret) {
  const std::vector<std::string> args{"--admin-key", "flag-admin-key-0123456789"};
  const std::vector<std::string> env{"IOTD_DATABASE_URL=postgresql://iotd:envpw@db/iotd", "IOTD_MQTT_PASSWORD=mqttpw"};
  auto inv = parse_invocation(args, env);
  const auto text = effective_config_text(inv.config);
  EXPECT_NE(text.find("IOTD_ADMIN_KEY=***  # flag\n"), std::string::npos) << text;
  EXPECT_NE(text.find("IOTD_DATABASE_URL=postgresql://iotd:***@db/iotd  # env\n"), std::string::npos) << text;
  EXPECT_NE(text.find("IOTD_MQTT_PASSWORD=***  # env\n"), std::string::npos) << text;
  EXPECT_NE(text.find("IOTD_LOG_MAX_BYTES=10MiB  # default\n"), std::string::npos) << text;
  for (const char* secret : {"flag-admin-key", "envpw", "mqttpw"}) EXPECT_EQ(text.find(secret), std::string::npos) << secret;
  std::size_t lines = 0;
  for (char c : text) lines += c == '\n';
  EXPECT_EQ(lines, settings().size());
}

TEST(LogSettings, DefaultsAndBounds) {
  auto c = parse_invocation({}, {}).config;
  EXPECT_EQ(c.log_max_bytes, 10ULL << 20);
  EXPECT_EQ(c.log_files, 5);
  c = parse_invocation({"--log-max-bytes", "0", "--log-files", "0"}, {}).config;
  EXPECT_EQ(c.log_max_bytes, 0u);
  EXPECT_EQ(c.log_files, 0);
  EXPECT_THROW(parse_invocation({"--log-max-bytes", "100"}, {}), ConfigError);
  EXPECT_THROW(parse_invocation({"--log-files", "1001"}, {}), ConfigError);
  EXPECT_EQ(parse_invocation({"check-config"}, {}).command, "check-config");
}

TEST(ConfigErrors, AMalformedSecretIsNamedButNotShown) {
  try {
    parse_invocation({}, {"IOTD_ADMIN_KEY=tooshort"});
    FAIL() << "a short admin key is refused";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("IOTD_ADMIN_KEY"), std::string::npos) << what;
    EXPECT_EQ(what.find("tooshort"), std::string::npos) << what;
  }
}

}  // namespace
}  // namespace iotd::config
