// `iotd check-config`: validates the configuration as start-up would, without sockets or the
// database, and prints it with each value's source (docs/architecture.md §12).
#include <unistd.h>

#include <cstdio>
#include <iostream>

#include "iotd/app/app.hpp"

namespace iotd::app {
namespace {

// TLS material start-up would hand to OpenSSL: a path that cannot be read fails there, at
// the first connect, with a less direct message.
void check_readable(std::string_view env, const std::string& path) {
  if (!path.empty() && ::access(path.c_str(), R_OK) != 0)
    throw config::ConfigError(std::string(env) + "=\"" + path + "\": cannot read the file");
}

}  // namespace

int run_check_config(const config::Invocation& inv) {
  const auto& cfg = inv.config;
  for (const auto& w : inv.warnings) std::fprintf(stderr, "iotd: warning: %s\n", w.c_str());
  try {
    check_startup_config(cfg);
    check_readable("IOTD_MQTT_CA_FILE", cfg.mqtt_ca_file);
    check_readable("IOTD_MQTT_CERT_FILE", cfg.mqtt_cert_file);
    check_readable("IOTD_MQTT_KEY_FILE", cfg.mqtt_key_file);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "iotd: configuration error: %s\n", e.what());
    return 2;
  }
  std::cout << "# iotd configuration: valid. Each setting with its source (default, file, env, flag);\n"
               "# secrets masked.\n"
            << config::effective_config_text(cfg);
  return 0;
}

}  // namespace iotd::app
