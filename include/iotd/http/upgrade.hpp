// A connection handed over by the HTTP server after an Upgrade request (a route's
// UpgradeHandler): the socket (under TLS on an HTTPS server), the parsed request and any
// bytes read past it. With connection_stream.hpp, the only public header that includes
// Beast; include it where an upgrade is served.
//
// Threading: the handler runs on the connection's io thread, and `stream` is bound to
// that thread's io_context. That io_context is run by one thread, so the new owner may do
// its I/O from handlers on the stream's executor without a strand; work started from any
// other thread must be posted to that executor (or a strand on it) first.
//
// Lifetime: the connection stays counted against ServerOptions::max_connections until
// this object is destroyed, so keep it for as long as the connection lives (moving
// `stream` out into a websocket::stream is fine). Server::stop() stops the io_contexts
// without waiting for upgraded connections; their pending handlers, and the sockets they
// own, are destroyed with the server. Nothing here may outlive the Server.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <cstddef>
#include <functional>
#include <string>
#include <utility>

#include "iotd/http/connection_stream.hpp"
#include "iotd/http/router.hpp"

namespace iotd::http {

class UpgradedConnection {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  // Made by the HTTP session; `connections` is the server's count, decremented on destruction.
  UpgradedConnection(ConnectionStream stream, Request request,
                     boost::beast::flat_buffer buffer, std::string remote,
                     std::atomic<std::size_t>* connections)
      : stream(std::move(stream)),
        request(std::move(request)),
        buffer(std::move(buffer)),
        remote(std::move(remote)),
        connections_(connections) {}

  ~UpgradedConnection() {
    if (connections_) connections_->fetch_sub(1);
  }

  // The new owner calls this with the status of the answer it wrote to the Upgrade request
  // (101 when the handshake succeeded, 400 for a refused one), so that the route's
  // `iotd_http_responses_total` counts what the client got. Counted once; later calls do
  // nothing. An upgrade that never gets an answer (the peer left) is not counted.
  void answered(int status) {
    if (auto f = std::exchange(on_answered_, nullptr)) f(status);
  }
  // Set by the HTTP session before the handover.
  void on_answered(std::function<void(int)> f) { on_answered_ = std::move(f); }

  UpgradedConnection(const UpgradedConnection&) = delete;
  UpgradedConnection& operator=(const UpgradedConnection&) = delete;

  // Plain TCP or TLS (handshake done), no timeout armed; the new owner sets its own.
  ConnectionStream stream;
  Request request;                  // the Upgrade request as received (body empty)
  // Bytes received after the request; normally none (a WebSocket client waits for the 101).
  boost::beast::flat_buffer buffer;
  std::string remote;               // peer address

 private:
  std::atomic<std::size_t>* connections_;
  std::function<void(int)> on_answered_;
};

}  // namespace iotd::http
