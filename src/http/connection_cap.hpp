// The refusal of a connection over IOTD_HTTP_MAX_CONNECTIONS (docs/architecture.md §20):
// a fixed 503 with Retry-After and Connection: close, the write side shut, whatever the
// client sends read and dropped for at most a second (so its request does not turn our
// close into a reset that destroys the answer), then closed. At most kMaxRefusing such
// refusals are in flight; beyond that a connection is closed at once.
// Call on the socket's io_context thread or before it runs (the acceptor's handler).
#pragma once

#include <boost/asio/ip/tcp.hpp>

#include "iotd/core/counters.hpp"

namespace iotd::http::detail {

inline constexpr std::size_t kMaxRefusing = 256;

// Counts the refusal in counters->http_connections_refused (when set). `answer`: write the
// 503 first (plain HTTP); false closes at once (e.g. a TLS port, where plain text would be
// noise to the client).
void refuse_connection(boost::asio::ip::tcp::socket socket, Counters* counters, bool answer = true);

}  // namespace iotd::http::detail
