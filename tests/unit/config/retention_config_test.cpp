// Retention settings (docs/architecture.md §17): ages, "off", defaults and bad values.
#include <gtest/gtest.h>

#include "iotd/config/config.hpp"

namespace iotd::config {
namespace {

using std::chrono::milliseconds;

constexpr std::int64_t kDay = 24LL * 3600 * 1000;

TEST(RetentionConfig, DefaultsKeepReadingsAndAlertsAndRejectsFor30Days) {
  const auto c = parse_invocation({}, {}).config;
  EXPECT_FALSE(c.retention.has_value());
  EXPECT_FALSE(c.retention_alerts.has_value());
  ASSERT_TRUE(c.retention_rejects.has_value());
  EXPECT_EQ(c.retention_rejects->count(), 30 * kDay);
  EXPECT_EQ(c.retention_interval.count(), 10 * 60 * 1000);
}

TEST(RetentionConfig, AgesInDaysHoursAndMinutesAndOffOrZeroMeanKeepForever) {
  EXPECT_EQ(parse_retention("30d"), milliseconds(30 * kDay));
  EXPECT_EQ(parse_retention("12h"), milliseconds(12 * 3600 * 1000));
  EXPECT_EQ(parse_retention(" 90m "), milliseconds(90 * 60 * 1000));
  EXPECT_EQ(parse_retention("2w"), milliseconds(14 * kDay));
  EXPECT_EQ(parse_retention("1s"), milliseconds(1000));
  EXPECT_FALSE(parse_retention("off").has_value());
  EXPECT_FALSE(parse_retention("OFF").has_value());
  EXPECT_FALSE(parse_retention("0").has_value());
  EXPECT_FALSE(parse_retention("0d").has_value());
  EXPECT_THROW(parse_retention("forever"), std::invalid_argument);
  EXPECT_THROW(parse_retention("30 days"), std::invalid_argument);
  EXPECT_THROW(parse_retention("-1d"), std::invalid_argument);
  EXPECT_THROW(parse_retention("500ms"), std::invalid_argument);
  EXPECT_THROW(parse_retention(""), std::invalid_argument);
}

TEST(RetentionConfig, SettingsFromEnvironmentAndFlags) {
  const auto c = parse_invocation({"--retention-alerts", "90d", "--retention-interval", "1s"},
                                  {"IOTD_RETENTION=7d", "IOTD_RETENTION_REJECTS=off"})
                     .config;
  EXPECT_EQ(c.retention, milliseconds(7 * kDay));
  EXPECT_EQ(c.retention_alerts, milliseconds(90 * kDay));
  EXPECT_FALSE(c.retention_rejects.has_value());
  EXPECT_EQ(c.retention_interval.count(), 1000);
}

TEST(RetentionConfig, AMalformedAgeStopsStartUpNamingTheSetting) {
  auto error_of = [](std::vector<std::string> env) -> std::string {
    try {
      parse_invocation({}, env);
    } catch (const ConfigError& e) {
      return e.what();
    }
    return "";
  };
  EXPECT_NE(error_of({"IOTD_RETENTION=thirty"}).find("IOTD_RETENTION=\"thirty\""), std::string::npos);
  EXPECT_NE(error_of({"IOTD_RETENTION_ALERTS=5"}).find("IOTD_RETENTION_ALERTS"), std::string::npos);
  EXPECT_NE(error_of({"IOTD_RETENTION_REJECTS=1x"}).find("IOTD_RETENTION_REJECTS"), std::string::npos);
  EXPECT_NE(error_of({"IOTD_RETENTION_INTERVAL=0s"}).find("IOTD_RETENTION_INTERVAL"), std::string::npos);
}

}  // namespace
}  // namespace iotd::config
