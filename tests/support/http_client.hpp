// A small blocking HTTP/1.1 client over POSIX sockets for tests (no Beast: keeps test
// builds fast). Keep-alive reuse, Content-Length and chunked bodies, a per-call timeout.
// Errors (refused, timeout, malformed response, closed early) throw std::runtime_error.
// Not thread-safe: one client per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iotd::test {

struct HttpResponse {
  int status = 0;
  std::string reason;
  std::map<std::string, std::string> headers;  // lower-case names; repeats joined with ", "
  std::string body;                             // de-chunked

  // nullopt when absent; name in any case.
  std::optional<std::string> header(std::string_view name) const;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

class HttpClient {
 public:
  HttpClient(std::string host, std::uint16_t port,
             std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Sends one request (Host, Content-Length added) and reads its response. Reuses the
  // connection unless the server closed it; reconnects once if a reused connection turns
  // out to be closed before any response byte arrived.
  HttpResponse request(std::string_view method, std::string_view target,
                       std::string_view body = {}, const HttpHeaders& headers = {});
  HttpResponse get(std::string_view target, const HttpHeaders& headers = {}) {
    return request("GET", target, {}, headers);
  }
  HttpResponse post(std::string_view target, std::string_view body,
                    const HttpHeaders& headers = {}) {
    return request("POST", target, body, headers);
  }

  // Low level, for protocol tests: raw bytes out, one response in.
  void connect();
  void send_raw(std::string_view bytes);
  HttpResponse read_response(bool head_request = false);
  // True when the server closed the connection (EOF or reset) within `wait`.
  bool wait_closed(std::chrono::milliseconds wait);
  void close();
  bool is_open() const { return fd_ >= 0; }

  void set_timeout(std::chrono::milliseconds t) { timeout_ = t; }

 private:
  // Reads more bytes into buf_; false on EOF.
  bool fill();
  std::string read_line();
  std::string read_exact(std::size_t n);

  std::string host_;
  std::uint16_t port_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  std::string buf_;  // received, not yet consumed
  bool reused_ = false;
};

}  // namespace iotd::test
