#include "tls_context.hpp"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <fstream>
#include <stdexcept>

namespace iotd::http::detail {
namespace {

namespace ssl = boost::asio::ssl;

// OpenSSL's queued reasons, oldest first, and the queue cleared.
std::string openssl_errors() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += (out.empty() ? "" : "; ") + std::string(buf);
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

[[noreturn]] void fail(const char* setting, const std::string& path, const std::string& why) {
  throw std::runtime_error(std::string(setting) + "=\"" + path + "\": " + why);
}

void require_readable(const char* setting, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char c;
  if (!in || !in.get(c)) fail(setting, path, "cannot read the file");
}

}  // namespace

std::unique_ptr<ssl::context> make_tls_context(const std::string& cert_file, const std::string& key_file) {
  if (cert_file.empty() && key_file.empty()) return nullptr;
  if (cert_file.empty() || key_file.empty())
    throw std::runtime_error("IOTD_HTTP_TLS_CERT and IOTD_HTTP_TLS_KEY go together: set both or neither");
  require_readable("IOTD_HTTP_TLS_CERT", cert_file);
  require_readable("IOTD_HTTP_TLS_KEY", key_file);
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  ERR_clear_error();
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1)
    throw std::runtime_error("TLS: cannot require TLS 1.2: " + openssl_errors());
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // An encrypted key would make OpenSSL prompt on the terminal: fail instead.
  SSL_CTX_set_default_passwd_cb(native, [](char*, int, int, void*) { return 0; });
  if (SSL_CTX_use_certificate_chain_file(native, cert_file.c_str()) != 1)
    fail("IOTD_HTTP_TLS_CERT", cert_file, "not a PEM certificate chain: " + openssl_errors());
  std::unique_ptr<EVP_PKEY, decltype(&::EVP_PKEY_free)> key(nullptr, &::EVP_PKEY_free);
  {
    std::unique_ptr<BIO, decltype(&::BIO_free)> in(BIO_new_file(key_file.c_str(), "r"), &::BIO_free);
    if (in) key.reset(PEM_read_bio_PrivateKey(in.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  }
  if (!key) fail("IOTD_HTTP_TLS_KEY", key_file, "not a PEM private key (unencrypted): " + openssl_errors());
  if (SSL_CTX_use_PrivateKey(native, key.get()) != 1 || SSL_CTX_check_private_key(native) != 1)
    fail("IOTD_HTTP_TLS_KEY", key_file, "does not match the certificate in IOTD_HTTP_TLS_CERT: " + openssl_errors());
  return ctx;
}

}  // namespace iotd::http::detail
