#include "lib/http_get.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "lib/clock.hpp"
#include "lib/net.hpp"
#include "lib/response_parser.hpp"

namespace iotd::bench {
namespace {

// Waits for `events` on fd until the deadline; false on timeout.
bool wait_for(int fd, short events, Clock::time_point deadline) {
  while (true) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left < 0) return false;
    pollfd p{fd, events, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left) + 1);
    if (rc > 0) return true;
    if (rc < 0 && errno != EINTR) return true;  // the next call reports the error
    if (rc == 0 && Clock::now() >= deadline) return false;
  }
}

}  // namespace

std::string get_request(const Url& url, const std::string& target) {
  return "GET " + target + " HTTP/1.1\r\nHost: " + url.authority() + "\r\nUser-Agent: iotd-bench\r\n\r\n";
}

GetResult http_get(const Url& url, std::chrono::milliseconds timeout) {
  GetResult r;
  const auto deadline = Clock::now() + timeout;
  Endpoint ep;
  try {
    ep = resolve(url.host, url.port);
  } catch (const std::exception& e) {
    r.error = e.what();
    return r;
  }
  int err = 0;
  Fd fd = start_connect(ep, err);
  if (!fd) {
    r.error = "connect: " + errno_text(err);
    return r;
  }
  if (!wait_for(fd.get(), POLLOUT, deadline)) {
    r.error = "connect: timeout";
    return r;
  }
  if ((err = socket_error(fd.get())) != 0) {
    r.error = "connect: " + errno_text(err);
    return r;
  }

  const std::string request = get_request(url, url.target);
  std::size_t sent = 0;
  while (sent < request.size()) {
    ssize_t n = ::send(fd.get(), request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += static_cast<std::size_t>(n);
    } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
      if (!wait_for(fd.get(), POLLOUT, deadline)) {
        r.error = "send: timeout";
        return r;
      }
    } else {
      r.error = "send: " + errno_text(errno);
      return r;
    }
  }

  ResponseParser parser(/*keep_body=*/true);
  std::string pending;
  char buf[16384];
  while (parser.state() == ResponseParser::State::need_more) {
    ssize_t n = ::recv(fd.get(), buf, sizeof buf, 0);
    if (n > 0) {
      pending.append(buf, static_cast<std::size_t>(n));
      auto step = parser.feed(pending);
      pending.erase(0, step.consumed);
    } else if (n == 0) {
      parser.finish_at_eof();
    } else if (errno == EAGAIN || errno == EINTR) {
      if (!wait_for(fd.get(), POLLIN, deadline)) {
        r.error = "timeout waiting for the response";
        return r;
      }
    } else {
      r.error = "recv: " + errno_text(errno);
      return r;
    }
  }
  if (parser.state() == ResponseParser::State::error) {
    r.error = "bad response: " + parser.error();
    return r;
  }
  r.ok = true;
  r.status = parser.status();
  r.body = parser.body();
  return r;
}

}  // namespace iotd::bench
