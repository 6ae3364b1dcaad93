#include "mqtt_tls.hpp"

#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <stdexcept>
#include <vector>

namespace iotd::mqtt {
namespace {

void require_readable(const char* setting, const std::string& path) {
  if (path.empty()) return;
  std::ifstream in(path, std::ios::binary);
  char c;
  if (!in || !in.get(c))
    throw std::runtime_error(std::string(setting) + "=\"" + path + "\": cannot read the file");
}

}  // namespace

bool is_tls_url(const std::string& url) { return url.rfind("ssl://", 0) == 0 || url.rfind("mqtts://", 0) == 0; }

void check_tls_files(const MqttOptions& o) {
  const bool any = !o.ca_file.empty() || !o.cert_file.empty() || !o.key_file.empty();
  if (any && !is_tls_url(o.url))
    throw std::runtime_error("IOTD_MQTT_CA_FILE, IOTD_MQTT_CERT_FILE and IOTD_MQTT_KEY_FILE apply to ssl:// "
                             "(or mqtts://) brokers only; IOTD_MQTT_URL=\"" + o.url + "\" is not TLS");
  if (!o.key_file.empty() && o.cert_file.empty())
    throw std::runtime_error("IOTD_MQTT_KEY_FILE is set without IOTD_MQTT_CERT_FILE (the client certificate)");
  require_readable("IOTD_MQTT_CA_FILE", o.ca_file);
  require_readable("IOTD_MQTT_CERT_FILE", o.cert_file);
  require_readable("IOTD_MQTT_KEY_FILE", o.key_file);
}

::mqtt::ssl_options make_ssl_options(const MqttOptions& o, ::mqtt::ssl_options::error_handler on_error) {
  auto b = ::mqtt::ssl_options_builder();
  b.enable_server_cert_auth(true).verify(true).ssl_version(MQTT_SSL_VERSION_TLS_1_2);
  if (!o.ca_file.empty()) b.trust_store(o.ca_file);
  if (!o.cert_file.empty()) b.key_store(o.cert_file);
  if (!o.key_file.empty()) b.private_key(o.key_file);
  if (on_error) b.error_handler(std::move(on_error));
  return b.finalize();
}

}  // namespace iotd::mqtt

namespace iotd::mqtt {
namespace {

struct HostPort {
  std::string host, port;
};

// "ssl://host:port" (after normalisation), "[v6]:port" too; the port defaults to 8883.
HostPort split_url(const std::string& url) {
  std::string rest = url.substr(url.find("://") == std::string::npos ? 0 : url.find("://") + 3);
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  HostPort hp{rest, "8883"};
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    hp.host = rest.substr(1, close == std::string::npos ? std::string::npos : close - 1);
    if (close != std::string::npos && close + 1 < rest.size() && rest[close + 1] == ':') hp.port = rest.substr(close + 2);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    hp.host = rest.substr(0, colon);
    hp.port = rest.substr(colon + 1);
  }
  return hp;
}

}  // namespace

std::string openssl_reason(const std::string& line) {
  std::vector<std::string> fields;
  std::size_t start = 0;
  while (true) {
    auto colon = line.find(':', start);
    fields.push_back(line.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  if (fields.size() >= 6 && fields[1] == "error" && !fields[5].empty()) return fields[5];
  auto end = line.find_last_not_of(" \n");
  return end == std::string::npos ? std::string() : line.substr(0, end + 1);
}

std::string diagnose_server_certificate(const MqttOptions& o, std::chrono::seconds limit) {
  const HostPort hp = split_url(o.url);
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (::getaddrinfo(hp.host.c_str(), hp.port.c_str(), &hints, &res) != 0 || !res) return {};
  std::unique_ptr<addrinfo, decltype(&::freeaddrinfo)> addrs(res, &::freeaddrinfo);
  int fd = ::socket(res->ai_family, res->ai_socktype | SOCK_CLOEXEC, res->ai_protocol);
  if (fd < 0) return {};
  std::unique_ptr<int, void (*)(int*)> close_fd(&fd, [](int* f) { ::close(*f); });
  timeval tv{static_cast<time_t>(limit.count()), 0};  // connect, reads and writes
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (::connect(fd, res->ai_addr, res->ai_addrlen) != 0) return {};

  std::unique_ptr<SSL_CTX, decltype(&::SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), &::SSL_CTX_free);
  if (!ctx) return {};
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_NONE, nullptr);  // finish the handshake, then ask
  if (o.ca_file.empty() ? SSL_CTX_set_default_verify_paths(ctx.get()) != 1
                        : SSL_CTX_load_verify_locations(ctx.get(), o.ca_file.c_str(), nullptr) != 1)
    return {};
  if (!o.cert_file.empty()) {
    SSL_CTX_use_certificate_chain_file(ctx.get(), o.cert_file.c_str());
    SSL_CTX_use_PrivateKey_file(ctx.get(), (o.key_file.empty() ? o.cert_file : o.key_file).c_str(), SSL_FILETYPE_PEM);
  }
  std::unique_ptr<SSL, decltype(&::SSL_free)> ssl(SSL_new(ctx.get()), &::SSL_free);
  if (!ssl) return {};
  SSL_set_fd(ssl.get(), fd);
  SSL_set_tlsext_host_name(ssl.get(), hp.host.c_str());
  // The same name check as Paho's (verify on): a DNS name or an IP address.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  if (X509_VERIFY_PARAM_set1_ip_asc(param, hp.host.c_str()) != 1) SSL_set1_host(ssl.get(), hp.host.c_str());
  const int rc = SSL_connect(ssl.get());
  std::string out;
  if (X509* peer = SSL_get1_peer_certificate(ssl.get())) {
    X509_free(peer);
    const long verdict = SSL_get_verify_result(ssl.get());
    if (verdict != X509_V_OK) out = X509_verify_cert_error_string(verdict);
  }
  if (rc == 1) SSL_shutdown(ssl.get());
  ERR_clear_error();
  return out;
}

}  // namespace iotd::mqtt
