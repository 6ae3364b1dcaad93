// The byte stream of one HTTP connection: plain TCP, or TLS over TCP when the server has a
// certificate (IOTD_HTTP_TLS_CERT, docs/architecture.md §11). One type for both, so the HTTP
// session and the live stream session keep one code path: each operation picks its layer
// with one branch, and a plain connection never touches OpenSSL. The TCP layer is a Beast
// tcp_stream in both cases, so timeouts (expires_after) work the same.
// Use only from the connection's io thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/role.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/teardown.hpp>

#include <optional>
#include <utility>

namespace iotd::http {

class ConnectionStream {
 public:
  using executor_type = boost::asio::any_io_executor;
  using tcp_stream = boost::beast::tcp_stream;
  using tls_stream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

  // Plain TCP.
  explicit ConnectionStream(boost::asio::ip::tcp::socket&& socket) : tcp_(std::in_place, std::move(socket)) {}
  // TLS with `ctx` (which must outlive the stream); the handshake is the owner's to run.
  ConnectionStream(boost::asio::ip::tcp::socket&& socket, boost::asio::ssl::context& ctx)
      : tls_(std::in_place, std::move(socket), ctx) {}
  ConnectionStream(ConnectionStream&&) = default;
  ConnectionStream& operator=(ConnectionStream&&) = default;

  bool is_tls() const { return tls_.has_value(); }
  tls_stream& tls() { return *tls_; }  // only when is_tls()
  // The TCP layer (timeouts, the socket), under TLS or not.
  tcp_stream& tcp() { return tls_ ? tls_->next_layer() : *tcp_; }
  boost::asio::ip::tcp::socket& socket() { return tcp().socket(); }
  executor_type get_executor() { return tcp().get_executor(); }

  template <class Duration>
  void expires_after(Duration d) { tcp().expires_after(d); }
  void expires_never() { tcp().expires_never(); }
  void close() { tcp().close(); }
  void close(boost::beast::error_code& ec) {
    ec = {};
    tcp().close();
  }
  // The TCP layer's half close (under TLS too: no close_notify).
  void shutdown(boost::asio::ip::tcp::socket::shutdown_type what, boost::beast::error_code& ec) {
    socket().shutdown(what, ec);
  }

  // Hands the connection (TLS state included) to a new owner; this one is left closed, on
  // the same executor, so close() and socket() stay safe to call on it.
  ConnectionStream release() {
    if (tcp_) return ConnectionStream(tcp_->release_socket());
    ConnectionStream out(std::move(*tls_));
    tls_.reset();
    tcp_.emplace(out.get_executor());
    return out;
  }

  // AsyncReadStream / AsyncWriteStream, for callback handlers (what Beast's and Asio's
  // composed operations pass).
  template <class MutableBuffers, class Handler>
  void async_read_some(const MutableBuffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_read_some(buffers, std::forward<Handler>(handler));
    else
      tcp_->async_read_some(buffers, std::forward<Handler>(handler));
  }
  template <class ConstBuffers, class Handler>
  void async_write_some(const ConstBuffers& buffers, Handler&& handler) {
    if (tls_)
      tls_->async_write_some(buffers, std::forward<Handler>(handler));
    else
      tcp_->async_write_some(buffers, std::forward<Handler>(handler));
  }

  // What Beast calls to close the lowest layer (websocket timeouts).
  friend void beast_close_socket(ConnectionStream& s) { s.close(); }

  // WebSocket teardown (websocket::stream over this stream): the layer's own.
  friend void teardown(boost::beast::role_type role, ConnectionStream& s, boost::beast::error_code& ec) {
    using boost::beast::websocket::teardown;
    if (s.tls_)
      teardown(role, *s.tls_, ec);
    else
      teardown(role, *s.tcp_, ec);
  }
  template <class Handler>
  friend void async_teardown(boost::beast::role_type role, ConnectionStream& s, Handler&& handler) {
    using boost::beast::websocket::async_teardown;
    if (s.tls_)
      async_teardown(role, *s.tls_, std::forward<Handler>(handler));
    else
      async_teardown(role, *s.tcp_, std::forward<Handler>(handler));
  }

 private:
  explicit ConnectionStream(tls_stream&& tls) : tls_(std::in_place, std::move(tls)) {}

  std::optional<tcp_stream> tcp_;  // exactly one of the two is set
  std::optional<tls_stream> tls_;
};

}  // namespace iotd::http
