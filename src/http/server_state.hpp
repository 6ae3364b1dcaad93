// State shared by the listener and every session of one Server; outlives them all.
// Immutable after start() except the atomics and the mutex-guarded session set.
#pragma once

#include <boost/asio/thread_pool.hpp>

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_set>

#include "iotd/http/router.hpp"
#include "iotd/http/server.hpp"
#include "response_head.hpp"
#include "tls_context.hpp"

namespace iotd::http::detail {

class Session;

struct ServerState {
  ServerState(ServerOptions o, const Router& r)
      : opts(std::move(o)), router(r), cors(opts.cors_origins),
        tls(make_tls_context(opts.tls_cert_file, opts.tls_key_file)) {}

  ServerOptions opts;
  const Router& router;
  CorsPolicy cors;
  boost::asio::thread_pool* pool = nullptr;  // the blocking pool; set by start()
  // Open connections, upgraded ones included (for max_connections).
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};
  // Requests read and not yet fully answered (Server::stop drains them, issue 12).
  std::atomic<std::size_t> busy{0};

  std::mutex mu;
  std::unordered_set<Session*> sessions;  // guarded by mu; for stop()

  // TLS (docs/architecture.md §19): set = every connection is HTTPS/WSS; null = plain HTTP.
  std::unique_ptr<boost::asio::ssl::context> tls;
};

}  // namespace iotd::http::detail
