// The server's TLS context (docs/architecture.md §19): made once at start-up from the
// certificate chain and key (IOTD_HTTP_TLS_CERT / IOTD_HTTP_TLS_KEY), shared read-only by
// every connection afterwards.
#pragma once

#include <boost/asio/ssl/context.hpp>

#include <memory>
#include <string>

namespace iotd::http::detail {

// Null when both paths are empty (plain HTTP). Otherwise TLS 1.2 or later with OpenSSL's
// default ciphers, no compression or renegotiation; throws std::runtime_error naming the
// setting when a file cannot be read, is not PEM, or the key does not match the certificate.
std::unique_ptr<boost::asio::ssl::context> make_tls_context(const std::string& cert_file,
                                                            const std::string& key_file);

}  // namespace iotd::http::detail
