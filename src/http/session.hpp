// One HTTP/1.1 connection, after Beast's advanced server example: a tcp_stream and a
// flat_buffer, limits and a timeout set before every read, requests answered one at a time
// and in order (pipelined ones wait in the buffer), a WebSocket upgrade handed to the route.
// Runs on its connection's io_context, which one thread runs: no strand. deliver() may be
// called from any thread.
#pragma once

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "iotd/http/connection_stream.hpp"
#include "iotd/http/router.hpp"
#include "server_state.hpp"

namespace iotd::http::detail {

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket&& socket, ServerState& state);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run();

  // Only while no io thread runs (Server::stop).
  void close_socket();

  // Any thread: hands a handler's response to the connection's io thread.
  void deliver(Response res);

 private:
  using error_code = boost::beast::error_code;

  // reading
  void do_read();
  void on_idle_read(error_code ec, std::size_t n);
  void read_header();
  void on_header(error_code ec, std::size_t);
  void read_body();
  void on_body(error_code ec, std::size_t);
  void on_read_error(error_code ec);

  // dispatch
  void handle_request();
  void dispatch_request(Request req);
  void upgrade(const Route& route, const Request& req, const PathParams& params);

  // writing
  void send(Response r);
  HeadContext head_context() const;
  void on_write(error_code ec, std::size_t);
  void start_stream(Response r);
  void produce_next();
  void on_chunk(std::string chunk, bool more, bool failed);
  void after_chunk();

  // TLS (session_tls.cpp, docs/architecture.md §19)
  void do_handshake();
  void on_handshake(error_code ec);
  void refuse_plain_http();
  void drain_tcp();
  void tls_close();

  // closing
  void do_close();
  void linger_close();
  void drain();

  ConnectionStream stream_;  // plain TCP, or TLS when the server has a certificate
  ServerState& state_;
  const boost::asio::any_io_executor exec_;  // the connection's io_context (one thread runs it)
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  // The route the current request matched (null: none, or not routed yet). send() knows
  // it together with the response status.
  const Route* route_ = nullptr;
  // When the current request was read (unset: none, e.g. a malformed one); send() records
  // the time since in http_request_duration.
  std::chrono::steady_clock::time_point request_read_{};
  std::string out_head_;  // status line and headers of the response being written
  std::string body_;      // its body
  std::optional<boost::beast::http::response<boost::beast::http::empty_body>> header_msg_;
  std::optional<boost::beast::http::response_serializer<boost::beast::http::empty_body>> header_sr_;
  std::function<bool(std::string&)> producer_;  // called on the pool, one call at a time
  std::string chunk_;
  std::string remote_;
  std::string origin_;
  std::size_t drained_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
  bool linger_ = false;
  bool more_ = false;
  bool raw_stream_ = false;
  bool busy_ = false;  // a request is being answered: counted in state_.busy (drain)
  bool upgraded_ = false;  // the socket went to an UpgradedConnection, with its count
};

}  // namespace iotd::http::detail
