// The accepting side of the Server: binds, accepts on the first io_context and hands each
// connection round robin to one of N io_contexts, each run by its own thread (a
// connection's handlers never need a strand, and the io threads share no queue: that
// contention cost more than the requests on 2 cores). Owns the blocking pool.
// start()/stop() from the owning thread only.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "server_state.hpp"

namespace iotd::http::detail {

class Listener {
 public:
  // Binds and listens; throws std::runtime_error naming the address on failure.
  Listener(ServerOptions opts, const Router& router);
  ~Listener();
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;

  void start();
  void stop();
  std::uint16_t port() const { return port_; }
  const std::string& address() const { return address_; }
  std::size_t connections() const { return state_.connections.load(std::memory_order_relaxed); }

 private:
  using error_code = boost::system::error_code;

  void do_accept();
  void on_accept(error_code ec, boost::asio::ip::tcp::socket socket);
  static void run_io(boost::asio::io_context& ioc);

  // Declaration order is destruction order reversed: the pool (whose queued jobs hold
  // sessions) goes before the io_contexts (whose handlers hold sessions and upgraded
  // connections), and `state_` outlives every session.
  ServerState state_;
  std::vector<std::unique_ptr<boost::asio::io_context>> iocs_;  // one per io thread
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_timer_;
  std::size_t next_context_ = 0;  // round robin; used on the acceptor's thread only
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::optional<boost::asio::thread_pool> pool_;
  std::vector<std::thread> threads_;
  std::uint16_t port_ = 0;
  std::string address_;
  bool running_ = false;
};

}  // namespace iotd::http::detail
