// A blocking WebSocket client for tests and benchmarks (Beast inside, none in this header):
// connects to 127.0.0.1:port, each call waits at most its limit. Not thread-safe; one
// per thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

namespace iotd::test {

class WsClient {
 public:
  // `rcvbuf` > 0: the socket's receive buffer (SO_RCVBUF) before connecting, so a client
  // that stops reading makes the server's queue fill quickly.
  explicit WsClient(std::uint16_t port, int rcvbuf = 0);
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // The opening handshake to `target` (path and query); true when upgraded. Otherwise
  // status() and body() tell the HTTP answer and error() why.
  bool connect(const std::string& target, std::chrono::milliseconds limit = std::chrono::seconds(10));
  int status() const;                           // the handshake's HTTP status
  std::string header(const std::string& name) const;  // of the handshake's response
  std::string body() const;                     // of a declined handshake

  // The next message; nullopt on close, error or timeout (see error(), close_code()).
  std::optional<std::string> receive(std::chrono::milliseconds limit = std::chrono::seconds(5));
  std::string error() const;     // the last error's message; "" when none
  bool timed_out() const;        // the last receive ran out of time
  bool closed() const;           // the server sent a close frame
  int close_code() const;        // its code (1008: policy violation), 0 without one
  void close();                  // a normal close handshake (waits at most 2 s)
  bool send(const std::string& text);  // one text message; false on error (see error())

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace iotd::test
