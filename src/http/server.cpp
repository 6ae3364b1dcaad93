// The Server facade: Beast and Asio stay in src/http (listener.cpp accepts and runs the
// io threads, session.cpp serves one connection).
#include "iotd/http/server.hpp"

#include "listener.hpp"

namespace iotd::http {

struct Server::Impl {
  Impl(ServerOptions opts, const Router& router) : listener(std::move(opts), router) {}
  detail::Listener listener;
};

Server::Server(ServerOptions opts, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(opts), router)) {}

Server::~Server() { stop(); }

void Server::start() { impl_->listener.start(); }
void Server::stop() { impl_->listener.stop(); }
std::uint16_t Server::port() const { return impl_->listener.port(); }
std::string Server::address() const { return impl_->listener.address(); }
std::size_t Server::connections() const { return impl_->listener.connections(); }

}  // namespace iotd::http
