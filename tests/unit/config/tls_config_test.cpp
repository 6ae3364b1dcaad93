// TLS settings (issue 12 item 4): IOTD_HTTP_TLS_CERT and IOTD_HTTP_TLS_KEY go together; the
// files themselves are checked at start-up (tests/integration/tls_test.cpp).
#include <gtest/gtest.h>

#include "iotd/config/config.hpp"

namespace iotd::config {
namespace {

std::string error_of(std::vector<std::string> env) {
  try {
    parse_invocation({}, env);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(TlsConfig, HttpsIsOffByDefault) {
  auto inv = parse_invocation({}, {});
  EXPECT_TRUE(inv.config.http_tls_cert.empty());
  EXPECT_TRUE(inv.config.http_tls_key.empty());
}

TEST(TlsConfig, CertificateAndKeyTogetherAreTaken) {
  auto inv = parse_invocation({"--http-tls-cert", "/etc/iotd/cert.pem"}, {"IOTD_HTTP_TLS_KEY=/etc/iotd/key.pem"});
  EXPECT_EQ(inv.config.http_tls_cert, "/etc/iotd/cert.pem");
  EXPECT_EQ(inv.config.http_tls_key, "/etc/iotd/key.pem");
}

TEST(TlsConfig, OneWithoutTheOtherIsAnErrorNamingTheMissingOne) {
  auto no_key = error_of({"IOTD_HTTP_TLS_CERT=/etc/iotd/cert.pem"});
  EXPECT_NE(no_key.find("IOTD_HTTP_TLS_KEY"), std::string::npos) << no_key;
  auto no_cert = error_of({"IOTD_HTTP_TLS_KEY=/etc/iotd/key.pem"});
  EXPECT_NE(no_cert.find("IOTD_HTTP_TLS_CERT"), std::string::npos) << no_cert;
}

TEST(TlsConfig, MqttsUrlIsAccepted) {
  EXPECT_EQ(parse_invocation({}, {"IOTD_MQTT_URL=mqtts://broker:8883"}).config.mqtt_url, "mqtts://broker:8883");
  EXPECT_EQ(parse_invocation({}, {"IOTD_MQTT_URL=ssl://broker:8883"}).config.mqtt_url, "ssl://broker:8883");
}

}  // namespace
}  // namespace iotd::config
