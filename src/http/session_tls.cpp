// The TLS half of Session (docs/architecture.md §19): the server handshake before the first
// request, a plain-HTTP request on the TLS port answered in plain text, and the TLS close.
#include <openssl/err.h>
#include <openssl/ssl.h>

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <spdlog/spdlog.h>

#include "session.hpp"

namespace iotd::http::detail {
namespace {

namespace beast = boost::beast;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// The answer to a plain-HTTP request on the TLS port (plain text, then the close).
const std::string& https_required_response() {
  static const std::string response = [] {
    const std::string body =
        R"({"error":{"code":"https_required","message":"this port speaks HTTPS: use https:// or wss://"}})";
    return "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: " +
           std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
  }();
  return response;
}

constexpr auto kTlsCloseTime = std::chrono::seconds(5);

// OpenSSL saw an HTTP request line where a ClientHello belongs.
bool is_plain_http(const beast::error_code& ec) {
  return ec.category() == net::error::get_ssl_category() &&
         ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == SSL_R_HTTP_REQUEST;
}

}  // namespace

void Session::do_handshake() {
  stream_.expires_after(state_.opts.read_timeout);
  stream_.tls().async_handshake(net::ssl::stream_base::server,
                                beast::bind_front_handler(&Session::on_handshake, shared_from_this()));
}

void Session::on_handshake(beast::error_code ec) {
  if (!ec) return do_read();
  if (ec == net::error::operation_aborted) return;
  if (is_plain_http(ec)) return refuse_plain_http();
  // Expected from scanners and from clients that do not trust the certificate: debug only,
  // and counted, so a client fleet that stopped trusting the certificate shows in /metrics.
  if (state_.opts.counters) state_.opts.counters->http_tls_handshake_failures.fetch_add(1);
  spdlog::debug("http: {} TLS handshake failed: {}", remote_, ec.message());
  stream_.close();
}

// A plain-HTTP client gets an answer it can read, on the TCP layer under TLS; then the
// connection closes after a short drain so the answer is not lost to a reset.
void Session::refuse_plain_http() {
  if (state_.opts.counters)
    state_.opts.counters->record_http_response(metrics::RouteStatusCounter::kUnmatched, 400);
  stream_.expires_after(kTlsCloseTime);
  net::async_write(stream_.tcp(), net::buffer(https_required_response()),
                   [self = shared_from_this()](beast::error_code ec, std::size_t) {
                     if (ec) return self->stream_.close();
                     beast::error_code ignored;
                     self->stream_.socket().shutdown(tcp::socket::shutdown_send, ignored);
                     self->buffer_.consume(self->buffer_.size());
                     self->drain_tcp();
                   });
}

void Session::drain_tcp() {
  stream_.tcp().async_read_some(buffer_.prepare(16384), [self = shared_from_this()](beast::error_code ec,
                                                                                    std::size_t) {
    if (ec) return self->stream_.close();
    self->drain_tcp();
  });
}

// close_notify, then the socket closes once the peer answers, gives up or the time runs out.
void Session::tls_close() {
  stream_.expires_after(kTlsCloseTime);
  stream_.tls().async_shutdown([self = shared_from_this()](beast::error_code) { self->stream_.close(); });
}

}  // namespace iotd::http::detail
