// The HTTP/1.1 server (Boost.Beast, kept out of this header): N io threads, each running
// its own io_context with its share of the connections, body/header limits and read timeouts, handlers
// dispatched by the Router, blocking handlers run on a separate pool, WebSocket upgrades
// handed to the route's UpgradeHandler (iotd/http/upgrade.hpp).
// start()/stop() from the owning thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "iotd/core/counters.hpp"
#include "iotd/http/router.hpp"

namespace iotd::http {

struct ServerOptions {
  std::string listen = "0.0.0.0:8080";  // host:port; port 0 picks a free one
  int io_threads = 2;
  int blocking_threads = 4;
  std::size_t body_limit = 1 << 20;
  std::size_t header_limit = 16 * 1024;
  std::chrono::milliseconds read_timeout{30'000};  // per request, from its first byte: header, then body
  std::chrono::milliseconds idle_timeout{60'000};  // wait for a request's first byte (new or keep-alive); writes
  std::size_t max_connections = 10000;     // beyond: refused with a 503 and closed (connection_cap.hpp)
  std::string cors_origins = "*";          // "*", or a comma list of origins; "" = no CORS
  // stop(): how long requests already being answered (a streamed export, an HTTP ingest
  // waiting for its commit) may take to finish before connections are closed (issue 12).
  std::chrono::milliseconds drain_timeout{10000};
  Counters* counters = nullptr;            // optional: responses counted by route and status
  // Enforces each route's Access before its handler runs. Without a guard only
  // Access::open routes are served; the others answer 403.
  RouteGuard guard;
  // TLS (docs/architecture.md §19): both set = every connection is HTTPS (and WSS), TLS 1.2
  // or later; neither = plain HTTP. The Server constructor throws naming IOTD_HTTP_TLS_CERT
  // or IOTD_HTTP_TLS_KEY when a file cannot be read or is not a matching PEM pair.
  std::string tls_cert_file, tls_key_file;
};

class Server {
 public:
  // Binds and listens; throws std::runtime_error naming the address on failure.
  Server(ServerOptions opts, const Router& router);
  ~Server();  // stops if running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  void start();   // starts the io and blocking threads
  // Drains, then stops: connections close after the response they are answering (new
  // requests are refused by closing), for up to drain_timeout; then it closes every HTTP
  // connection and joins the threads. Does not wait for upgraded connections (they close
  // when the server is destroyed).
  void stop();
  std::uint16_t port() const;  // the bound port
  std::string address() const; // "host:port" as bound
  std::size_t connections() const;  // open connections, upgraded ones included; any thread

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iotd::http
