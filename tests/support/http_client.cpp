#include "support/http_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace iotd::test {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

struct ClosedEarly : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
  auto it = headers.find(lower(name));
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

HttpClient::HttpClient(std::string host, std::uint16_t port, std::chrono::milliseconds timeout)
    : host_(std::move(host)), port_(port), timeout_(timeout) {}

HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buf_.clear();
  reused_ = false;
}

void HttpClient::connect() {
  close();
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  std::string port = std::to_string(port_);
  if (int rc = ::getaddrinfo(host_.c_str(), port.c_str(), &hints, &res); rc != 0)
    throw std::runtime_error("http client: cannot resolve " + host_ + ": " + gai_strerror(rc));
  int err = 0;
  for (addrinfo* ai = res; ai; ai = ai->ai_next) {
    int fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      err = errno;
      continue;
    }
    if (::connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
      int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      fd_ = fd;
      break;
    }
    err = errno;
    ::close(fd);
  }
  ::freeaddrinfo(res);
  if (fd_ < 0)
    throw std::runtime_error("http client: cannot connect to " + host_ + ":" + port + ": " +
                             std::strerror(err));
}

void HttpClient::send_raw(std::string_view bytes) {
  if (fd_ < 0) connect();
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  while (!bytes.empty()) {
    ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      bytes.remove_prefix(static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) throw std::runtime_error("http client: send timed out");
      pollfd p{fd_, POLLOUT, 0};
      ::poll(&p, 1, static_cast<int>(left.count()));
      continue;
    }
    throw std::runtime_error(std::string("http client: send failed: ") + std::strerror(errno));
  }
}

bool HttpClient::fill() {
  auto deadline = std::chrono::steady_clock::now() + timeout_;
  char tmp[16384];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) throw std::runtime_error("http client: timed out waiting for the response");
    pollfd p{fd_, POLLIN, 0};
    int rc = ::poll(&p, 1, static_cast<int>(left.count()));
    if (rc < 0 && errno == EINTR) continue;
    if (rc == 0) continue;
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, 0);
    if (n > 0) {
      buf_.append(tmp, static_cast<std::size_t>(n));
      return true;
    }
    if (n == 0) return false;
    if (errno == EINTR || errno == EAGAIN) continue;
    if (errno == ECONNRESET) return false;
    throw std::runtime_error(std::string("http client: recv failed: ") + std::strerror(errno));
  }
}

std::string HttpClient::read_line() {
  for (;;) {
    auto pos = buf_.find("\r\n");
    if (pos != std::string::npos) {
      std::string line = buf_.substr(0, pos);
      buf_.erase(0, pos + 2);
      return line;
    }
    if (buf_.size() > (1u << 20)) throw std::runtime_error("http client: line too long");
    if (!fill()) throw ClosedEarly("http client: connection closed before the response ended");
  }
}

std::string HttpClient::read_exact(std::size_t n) {
  while (buf_.size() < n)
    if (!fill()) throw ClosedEarly("http client: connection closed before the body ended");
  std::string out = buf_.substr(0, n);
  buf_.erase(0, n);
  return out;
}

HttpResponse HttpClient::read_response(bool head_request) {
  if (fd_ < 0) throw std::runtime_error("http client: not connected");
  HttpResponse r;
  for (;;) {
    std::string status_line = read_line();
    // "HTTP/1.1 200 OK"
    if (status_line.size() < 12 || status_line.compare(0, 5, "HTTP/") != 0)
      throw std::runtime_error("http client: malformed status line: " + status_line);
    auto sp = status_line.find(' ');
    r.status = std::stoi(status_line.substr(sp + 1, 3));
    r.reason = status_line.size() > sp + 5 ? status_line.substr(sp + 5) : std::string();
    r.headers.clear();
    for (;;) {
      std::string line = read_line();
      if (line.empty()) break;
      auto colon = line.find(':');
      if (colon == std::string::npos) throw std::runtime_error("http client: malformed header: " + line);
      std::string name = lower(trim(std::string_view(line).substr(0, colon)));
      std::string value(trim(std::string_view(line).substr(colon + 1)));
      auto [it, inserted] = r.headers.emplace(name, value);
      if (!inserted) it->second += ", " + value;
    }
    if (r.status >= 100 && r.status < 200) continue;  // interim (100 Continue)
    break;
  }
  bool close_after = false;
  if (auto c = r.header("connection"); c && lower(*c).find("close") != std::string::npos)
    close_after = true;
  const bool no_body = head_request || r.status == 204 || r.status == 304;
  auto te = r.header("transfer-encoding");
  auto cl = r.header("content-length");
  if (no_body) {
  } else if (te && lower(*te).find("chunked") != std::string::npos) {
    for (;;) {
      std::string size_line = read_line();
      auto semi = size_line.find(';');
      std::size_t size = std::stoul(size_line.substr(0, semi), nullptr, 16);
      if (size == 0) {
        while (!read_line().empty()) {  // trailers
        }
        break;
      }
      r.body += read_exact(size);
      if (!read_line().empty()) throw std::runtime_error("http client: malformed chunk");
    }
  } else if (cl) {
    r.body = read_exact(std::stoul(*cl));
  } else {
    while (fill()) {
    }
    r.body = std::move(buf_);
    buf_.clear();
    close_after = true;
  }
  if (close_after) close();
  return r;
}

bool HttpClient::wait_closed(std::chrono::milliseconds wait) {
  if (fd_ < 0) return true;
  auto saved = timeout_;
  timeout_ = wait;
  bool closed = false;
  try {
    while (fill()) buf_.clear();
    closed = true;
  } catch (const std::exception&) {
    closed = false;
  }
  timeout_ = saved;
  if (closed) close();
  return closed;
}

HttpResponse HttpClient::request(std::string_view method, std::string_view target,
                                 std::string_view body, const HttpHeaders& headers) {
  std::string req;
  req.reserve(128 + body.size());
  req.append(method).append(" ").append(target).append(" HTTP/1.1\r\n");
  bool has_host = false, has_length = false;
  for (const auto& [k, v] : headers) {
    auto l = lower(k);
    has_host |= l == "host";
    has_length |= l == "content-length" || l == "transfer-encoding";
    req.append(k).append(": ").append(v).append("\r\n");
  }
  if (!has_host) req.append("Host: ").append(host_).append(":").append(std::to_string(port_)).append("\r\n");
  if (!has_length && (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH"))
    req.append("Content-Length: ").append(std::to_string(body.size())).append("\r\n");
  req.append("\r\n").append(body);

  for (int attempt = 0;; ++attempt) {
    const bool was_reused = fd_ >= 0 && reused_;
    try {
      if (fd_ < 0) connect();
      send_raw(req);
      auto r = read_response(method == "HEAD");
      if (fd_ >= 0) reused_ = true;
      return r;
    } catch (const ClosedEarly&) {
      // An idle keep-alive connection the server had already closed: retry once fresh.
      if (!was_reused || attempt > 0 || !buf_.empty()) throw;
      close();
    } catch (const std::runtime_error& e) {
      if (was_reused && attempt == 0 && std::string_view(e.what()).find("send failed") != std::string_view::npos) {
        close();
        continue;
      }
      throw;
    }
  }
}

}  // namespace iotd::test
