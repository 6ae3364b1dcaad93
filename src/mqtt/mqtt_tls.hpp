// MQTT over TLS (ssl:// and mqtts:// broker URLs, docs/architecture.md §19): Paho's SSL
// options from MqttOptions, and the start-up check of the files they name. Pure set-up
// code; the handshake itself is Paho's.
#pragma once

#include <mqtt/ssl_options.h>

#include <chrono>
#include <string>

#include "iotd/mqtt/mqtt_source.hpp"

namespace iotd::mqtt {

// True for the URL forms Paho connects to over TLS (after normalisation: ssl://).
bool is_tls_url(const std::string& url);

// Throws std::runtime_error naming the setting (IOTD_MQTT_CA_FILE, ..._CERT_FILE,
// ..._KEY_FILE) when a file is set but cannot be read, when a key comes without its
// certificate, or when TLS files are set for a plain tcp:// URL (they would be ignored and
// the connection would go out in the clear).
void check_tls_files(const MqttOptions& o);

// Server certificate verified against ca_file (or the system's CAs when empty), host name
// checked, TLS 1.2 at least; the client certificate and key when set. `on_error` receives
// OpenSSL's reasons for a failed handshake (Paho's thread).
::mqtt::ssl_options make_ssl_options(const MqttOptions& o, ::mqtt::ssl_options::error_handler on_error);

// The reason of one line Paho's error handler passes on (OpenSSL's
// "<thread>:error:<code>:<library>:<function>:<reason>:<file>:<line>:<data>"), e.g.
// "certificate verify failed"; the line itself when it has another shape.
std::string openssl_reason(const std::string& line);

// Why the broker's certificate fails verification ("certificate has expired",
// "unable to get local issuer certificate", ...), from a handshake of our own with the same
// CA and host name (Paho does not say): called after a failed TLS connect. "" when that
// handshake verifies, or cannot get as far. Blocks for at most about 2 x `limit`.
std::string diagnose_server_certificate(const MqttOptions& o, std::chrono::seconds limit);

}  // namespace iotd::mqtt
