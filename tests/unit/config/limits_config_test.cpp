// The HTTP limit and rate-limit settings (issue 12): defaults, forms, and errors naming the
// setting.
#include <gtest/gtest.h>

#include "iotd/config/config.hpp"

namespace iotd::config {
namespace {

Config parse_env(std::vector<std::string> env) { return parse_invocation({}, env).config; }

std::string error_of(std::vector<std::string> env) {
  try {
    parse_env(std::move(env));
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(LimitsConfig, DefaultsAreTheDocumentedOnes) {
  auto c = parse_env({});
  EXPECT_EQ(c.http_header_limit, 16u * 1024);
  EXPECT_EQ(c.http_read_timeout.count(), 30'000);
  EXPECT_EQ(c.http_idle_timeout.count(), 60'000);
  EXPECT_EQ(c.http_max_connections, 10'000);
  EXPECT_EQ(c.rate_limit_writes, 0) << "off by default";
  EXPECT_EQ(c.rate_limit_burst, 0);
  EXPECT_TRUE(c.http_trusted_proxies.empty());
}

TEST(LimitsConfig, RatesPerSecondMinuteAndHour) {
  EXPECT_DOUBLE_EQ(parse_env({"IOTD_RATE_LIMIT_WRITES=100/s"}).rate_limit_writes, 100);
  EXPECT_DOUBLE_EQ(parse_env({"IOTD_RATE_LIMIT_WRITES=600/min"}).rate_limit_writes, 10);
  EXPECT_DOUBLE_EQ(parse_env({"IOTD_RATE_LIMIT_WRITES=1.5/s"}).rate_limit_writes, 1.5);
  EXPECT_DOUBLE_EQ(parse_env({"IOTD_RATE_LIMIT_WRITES=3600/h"}).rate_limit_writes, 1);
  EXPECT_EQ(parse_env({"IOTD_RATE_LIMIT_WRITES=off"}).rate_limit_writes, 0);
  auto c = parse_env({"IOTD_RATE_LIMIT_BURST=50", "IOTD_HTTP_TRUSTED_PROXIES= 10.0.0.1 ,::1,"});
  EXPECT_EQ(c.rate_limit_burst, 50);
  EXPECT_EQ(c.http_trusted_proxies, (std::vector<std::string>{"10.0.0.1", "::1"}));
}

TEST(LimitsConfig, MalformedValuesNameTheSetting) {
  for (const char* bad : {"100", "100/day", "-1/s", "0/s", "x/s", "/s"})
    EXPECT_NE(error_of({std::string("IOTD_RATE_LIMIT_WRITES=") + bad}).find("IOTD_RATE_LIMIT_WRITES"),
              std::string::npos)
        << bad;
  EXPECT_NE(error_of({"IOTD_HTTP_READ_TIMEOUT=10ms"}).find("IOTD_HTTP_READ_TIMEOUT"), std::string::npos);
  EXPECT_NE(error_of({"IOTD_HTTP_IDLE_TIMEOUT=soon"}).find("IOTD_HTTP_IDLE_TIMEOUT"), std::string::npos);
  EXPECT_NE(error_of({"IOTD_HTTP_MAX_CONNECTIONS=0"}).find("IOTD_HTTP_MAX_CONNECTIONS"), std::string::npos);
  EXPECT_NE(error_of({"IOTD_HTTP_HEADER_LIMIT=100"}).find("IOTD_HTTP_HEADER_LIMIT"), std::string::npos);
}

}  // namespace
}  // namespace iotd::config
