#include "support/ws_client.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

namespace iotd::test {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
using tcp = net::ip::tcp;

struct WsClient::Impl {
  net::io_context ioc;
  websocket::stream<beast::tcp_stream> ws{ioc};
  websocket::response_type response;
  beast::error_code error;
  std::uint16_t port = 0;

  // Starts an operation and runs the io_context until it completes or `limit` passes (then
  // the socket is closed, which completes it with an error).
  template <class Start>
  beast::error_code run(Start start, std::chrono::milliseconds limit) {
    std::optional<beast::error_code> result;
    start([&result](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    auto deadline = std::chrono::steady_clock::now() + limit;
    while (!result && ioc.run_one_until(deadline) > 0) {
    }
    if (!result) {
      beast::error_code ignored;
      beast::get_lowest_layer(ws).socket().close(ignored);
      ioc.restart();
      while (!result && ioc.run_one() > 0) {
      }
      return beast::error::timeout;
    }
    return *result;
  }
};

WsClient::WsClient(std::uint16_t port, int rcvbuf) : impl_(std::make_unique<Impl>()) {
  impl_->port = port;
  auto& sock = beast::get_lowest_layer(impl_->ws).socket();
  sock.open(tcp::v4());
  if (rcvbuf > 0) sock.set_option(net::socket_base::receive_buffer_size(rcvbuf));
}

WsClient::~WsClient() = default;

bool WsClient::connect(const std::string& target, std::chrono::milliseconds limit) {
  auto& i = *impl_;
  beast::get_lowest_layer(i.ws).socket().connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), i.port), i.error);
  if (i.error) return false;
  i.error = i.run([&](auto done) { i.ws.async_handshake(i.response, "127.0.0.1", target, done); },
                  limit);
  return !i.error;
}

int WsClient::status() const { return impl_->response.result_int(); }

std::string WsClient::header(const std::string& name) const {
  auto it = impl_->response.find(name);
  return it == impl_->response.end() ? std::string() : std::string(it->value());
}

std::string WsClient::body() const { return impl_->response.body(); }

std::optional<std::string> WsClient::receive(std::chrono::milliseconds limit) {
  auto& i = *impl_;
  beast::flat_buffer buf;
  i.error = i.run([&](auto done) { i.ws.async_read(buf, done); }, limit);
  if (i.error) return std::nullopt;
  return beast::buffers_to_string(buf.data());
}

std::string WsClient::error() const { return impl_->error ? impl_->error.message() : std::string(); }
bool WsClient::timed_out() const { return impl_->error == beast::error::timeout; }
bool WsClient::closed() const { return impl_->error == websocket::error::closed; }
int WsClient::close_code() const { return static_cast<int>(impl_->ws.reason().code); }

bool WsClient::send(const std::string& text) {
  auto& i = *impl_;
  i.error = i.run([&](auto done) { i.ws.async_write(net::buffer(text), done); }, std::chrono::seconds(5));
  return !i.error;
}

void WsClient::close() {
  auto& i = *impl_;
  if (!i.ws.is_open()) return;
  i.run([&](auto done) { i.ws.async_close(websocket::close_code::normal, done); },
        std::chrono::seconds(2));
}

}  // namespace iotd::test
