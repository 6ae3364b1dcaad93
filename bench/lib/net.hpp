// Socket plumbing shared by the bench clients: resolve once, non-blocking connects
// (sockets are iotd::Fd, closed on destruction). Plain POSIX; errors as errno values or exceptions at set-up.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <utility>

#include "iotd/core/fd.hpp"

namespace iotd::bench {

struct Endpoint {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

// First TCP address for host:port. Throws std::runtime_error naming the host.
Endpoint resolve(const std::string& host, std::uint16_t port);

// A non-blocking TCP socket (TCP_NODELAY) with connect() started. On an immediate failure
// returns an empty Fd and sets `error` to the errno; otherwise the connect completes (or
// fails: read SO_ERROR via socket_error()) when the socket becomes writable.
Fd start_connect(const Endpoint& ep, int& error);
// Pending SO_ERROR of a socket (0 when connected).
int socket_error(int fd);
std::string errno_text(int error);

}  // namespace iotd::bench
