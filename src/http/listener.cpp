#include "listener.hpp"

#include <boost/beast/core/error.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

#include "connection_cap.hpp"
#include "session.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"

namespace iotd::http::detail {
namespace {

namespace net = boost::asio;
using tcp = net::ip::tcp;

std::pair<std::string, std::string> split_host_port(const std::string& listen) {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos)
    throw std::runtime_error("cannot listen on '" + listen + "': expected host:port");
  std::string host = listen.substr(0, colon), port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  if (host.empty()) host = "0.0.0.0";
  return {host, port};
}

std::vector<std::unique_ptr<net::io_context>> make_contexts(int threads) {
  std::vector<std::unique_ptr<net::io_context>> v;
  for (int n = 0; n < std::max(1, threads); ++n) v.push_back(std::make_unique<net::io_context>(1));
  return v;
}

}  // namespace

Listener::Listener(ServerOptions o, const Router& router)
    : state_(std::move(o), router),
      iocs_(make_contexts(state_.opts.io_threads)),
      acceptor_(*iocs_.front()),
      retry_timer_(*iocs_.front()) {
  const std::string& listen = state_.opts.listen;
  auto [host, port_str] = split_host_port(listen);
  unsigned long port_num = 0;
  try {
    std::size_t used = 0;
    port_num = std::stoul(port_str, &used);
    if (used != port_str.size() || port_num > 65535) throw std::out_of_range("port");
  } catch (const std::exception&) {
    throw std::runtime_error("cannot listen on '" + listen + "': bad port '" + port_str + "'");
  }
  error_code ec;
  tcp::endpoint ep;
  auto addr = net::ip::make_address(host, ec);
  if (!ec) {
    ep = tcp::endpoint(addr, static_cast<unsigned short>(port_num));
  } else {
    tcp::resolver resolver(*iocs_.front());
    auto results = resolver.resolve(host, port_str, ec);
    if (ec || results.empty())
      throw std::runtime_error("cannot listen on '" + listen + "': cannot resolve '" + host +
                               "': " + ec.message());
    ep = results.begin()->endpoint();
  }
  auto fail = [&](const char* what) {
    throw std::runtime_error("cannot listen on '" + listen + "': " + what + ": " + ec.message());
  };
  acceptor_.open(ep.protocol(), ec);
  if (ec) fail("open");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) fail("set_option");
  acceptor_.bind(ep, ec);
  if (ec) fail("bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) fail("listen");
  auto local = acceptor_.local_endpoint(ec);
  port_ = local.port();
  address_ = local.address().is_v6()
                 ? "[" + local.address().to_string() + "]:" + std::to_string(port_)
                 : local.address().to_string() + ":" + std::to_string(port_);
}

Listener::~Listener() { stop(); }

void Listener::do_accept() {
  // The new connection goes to the next io_context; the acceptor stays on the first.
  auto& target = *iocs_[next_context_++ % iocs_.size()];
  acceptor_.async_accept(target, [this](error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void Listener::on_accept(error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;
  if (ec) {
    // e.g. EMFILE: back off instead of spinning on a failing accept
    spdlog::warn("http: accept failed: {}", ec.message());
    retry_timer_.expires_after(std::chrono::milliseconds(50));
    retry_timer_.async_wait([this](error_code e) {
      if (!e) do_accept();
    });
    return;
  }
  if (state_.connections.load() >= state_.opts.max_connections) {
    spdlog::debug("http: connection limit {} reached; refusing a new connection",
                  state_.opts.max_connections);
    // A plain-text 503 means nothing to a TLS client: on an HTTPS port, just close.
    refuse_connection(std::move(socket), state_.opts.counters, /*answer=*/!state_.tls);
  } else {
    try {
      std::make_shared<Session>(std::move(socket), state_)->run();
    } catch (const std::exception& e) {
      spdlog::error("http: cannot start a session: {}", e.what());
    }
  }
  do_accept();
}

void Listener::run_io(net::io_context& ioc) {
  log::ModuleScope module("http");
  for (;;) {
    try {
      ioc.run();
      return;
    } catch (const std::exception& e) {
      spdlog::error("http: unhandled exception on an io thread: {}", e.what());
    } catch (...) {
      spdlog::error("http: unhandled non-standard exception on an io thread");
    }
  }
}

void Listener::start() {
  if (running_) return;
  pool_.emplace(static_cast<std::size_t>(std::max(1, state_.opts.blocking_threads)));
  state_.pool = &*pool_;
  for (auto& ioc : iocs_) work_.push_back(net::make_work_guard(*ioc));
  do_accept();
  for (auto& ioc : iocs_)
    threads_.emplace_back([c = ioc.get()] {
      set_thread_name("iotd-http");
      run_io(*c);
    });
  running_ = true;
}

void Listener::stop() {
  if (!running_) return;
  running_ = false;
  state_.stopping = true;
  // Drain: sessions close after the response in hand (do_read sees `stopping`).
  const auto deadline = std::chrono::steady_clock::now() + state_.opts.drain_timeout;
  while (state_.busy.load() > 0 && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (state_.busy.load() > 0)
    spdlog::warn("HTTP: {} request(s) still unanswered after the {} ms drain; closing their connections",
                 state_.busy.load(), state_.opts.drain_timeout.count());
  work_.clear();
  // Stopping the io_contexts does not wait for any connection, upgraded ones included.
  for (auto& ioc : iocs_) ioc->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
  pool_->stop();
  pool_->join();
  // No thread runs now: close the listener and every HTTP connection. Their pending
  // handlers, and those of upgraded connections, are destroyed with the pool and the
  // io_contexts.
  error_code ec;
  acceptor_.close(ec);
  retry_timer_.cancel();
  std::lock_guard lock(state_.mu);
  for (Session* s : state_.sessions) s->close_socket();
}

}  // namespace iotd::http::detail
