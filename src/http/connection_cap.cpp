#include "connection_cap.hpp"

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace iotd::http::detail {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

constexpr std::string_view kBody =
    R"({"error":{"code":"too_many_connections","message":"the server is at IOTD_HTTP_MAX_CONNECTIONS; retry in a moment"}})";

const std::string& refusal() {
  static const std::string r = "HTTP/1.1 503 Service Unavailable\r\n"
                               "Content-Type: application/json\r\n"
                               "Retry-After: 1\r\n"
                               "Connection: close\r\n"
                               "Content-Length: " +
                               std::to_string(kBody.size()) + "\r\n\r\n" + std::string(kBody);
  return r;
}

constexpr auto kLinger = std::chrono::seconds(1);

std::atomic<std::size_t> g_refusing{0};

class Refusal : public std::enable_shared_from_this<Refusal> {
 public:
  explicit Refusal(tcp::socket s) : socket_(std::move(s)), timer_(socket_.get_executor()) {
    g_refusing.fetch_add(1, std::memory_order_relaxed);
  }
  ~Refusal() { g_refusing.fetch_sub(1, std::memory_order_relaxed); }

  net::any_io_executor executor() { return socket_.get_executor(); }

  void start() {
    timer_.expires_after(kLinger);
    timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->close();
    });
    net::async_write(socket_, net::buffer(refusal()),
                     [self = shared_from_this()](error_code ec, std::size_t) {
                       if (ec) return self->close();
                       error_code ignored;
                       self->socket_.shutdown(tcp::socket::shutdown_send, ignored);
                       self->drain();
                     });
  }

 private:
  void drain() {
    socket_.async_read_some(net::buffer(sink_), [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) return self->close();  // EOF: the client read the answer and closed
      self->drain();
    });
  }
  void close() {
    error_code ignored;
    timer_.cancel();
    socket_.close(ignored);
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  std::array<char, 512> sink_{};
};

}  // namespace

void refuse_connection(tcp::socket socket, Counters* counters, bool answer) {
  if (counters) ++counters->http_connections_refused;
  if (answer && g_refusing.load(std::memory_order_relaxed) < kMaxRefusing) {
    // The socket lives on another io thread's context: start there, like a Session does.
    auto refusal = std::make_shared<Refusal>(std::move(socket));
    net::post(refusal->executor(), [refusal] { refusal->start(); });
    return;
  }
  error_code ignored;
  socket.close(ignored);
}

}  // namespace iotd::http::detail
