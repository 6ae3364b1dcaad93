#include "session.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>

#include "iotd/http/upgrade.hpp"
#include "iotd/core/log.hpp"

namespace iotd::http::detail {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// An idle connection's buffer: a request head usually fits; larger ones are read on by
// the parser. Small, since 10,000 idle keep-alive connections hold one each (§20).
constexpr std::size_t kIdleReadSize = 1024;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

bool iequals_ascii(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

bool is_http_error(const beast::error_code& ec) {
  return &ec.category() == &bhttp::make_error_code(bhttp::error::end_of_stream).category();
}

// Calls the session with a 500 if the handler dropped its Respond without calling it.
struct Responder {
  explicit Responder(std::shared_ptr<Session> s) : session(std::move(s)) {}
  ~Responder() {
    if (done.load()) return;
    try {
      session->deliver(error_response(500, "internal", "the handler finished without a response"));
    } catch (...) {
    }
  }
  std::shared_ptr<Session> session;
  std::atomic<bool> done{false};
};

void invoke(const Route& route, const Request& req, const PathParams& params, Respond respond) {
  try {
    route.handler(req, params, respond);
  } catch (const std::exception& e) {
    spdlog::error("http: {} {} failed: {}", req.method, req.path, e.what());
    respond(error_response(500, "internal", "internal error; see the server log"));
  } catch (...) {
    spdlog::error("http: {} {} failed with a non-standard exception", req.method, req.path);
    respond(error_response(500, "internal", "internal error; see the server log"));
  }
}

}  // namespace

Session::Session(tcp::socket&& socket, ServerState& state)
    : stream_(state.tls ? ConnectionStream(std::move(socket), *state.tls) : ConnectionStream(std::move(socket))),
      state_(state),
      exec_(stream_.get_executor()) {
  state_.connections.fetch_add(1);
  beast::error_code ec;
  auto ep = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ = ep.address().to_string();
  stream_.socket().set_option(tcp::no_delay(true), ec);
  std::lock_guard lock(state_.mu);
  state_.sessions.insert(this);
}

Session::~Session() {
  {
    std::lock_guard lock(state_.mu);
    state_.sessions.erase(this);
  }
  if (!upgraded_) state_.connections.fetch_sub(1);
  if (busy_) state_.busy.fetch_sub(1);
}

void Session::run() {
  net::dispatch(exec_, beast::bind_front_handler(
                           stream_.is_tls() ? &Session::do_handshake : &Session::do_read, shared_from_this()));
}

void Session::close_socket() {
  beast::error_code ec;
  stream_.socket().close(ec);
}

void Session::deliver(Response res) {
  net::dispatch(exec_, [self = shared_from_this(), res = std::move(res)]() mutable {
    self->send(std::move(res));
  });
}

// ---- reading ----------------------------------------------------------------------

void Session::do_read() {
  if (busy_) {  // the previous response is written
    busy_ = false;
    state_.busy.fetch_sub(1);
  }
  if (state_.stopping.load(std::memory_order_relaxed)) return do_close();
  route_ = nullptr;
  parser_.emplace();
  parser_->body_limit(state_.opts.body_limit);
  parser_->header_limit(static_cast<std::uint32_t>(
      std::min<std::size_t>(state_.opts.header_limit, UINT32_MAX)));
  // Waiting for the next request on a keep-alive connection uses the idle timeout;
  // once bytes arrive, the request must complete within the read timeout.
  if (buffer_.size() == 0 && state_.opts.idle_timeout != state_.opts.read_timeout) {
    buffer_.shrink_to_fit();  // what the last request grew it to goes back while idle
    stream_.expires_after(state_.opts.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kIdleReadSize),
                            beast::bind_front_handler(&Session::on_idle_read, shared_from_this()));
    return;
  }
  read_header();
}

void Session::on_idle_read(beast::error_code ec, std::size_t n) {
  if (ec) return on_read_error(ec);
  buffer_.commit(n);
  read_header();
}

void Session::read_header() {
  stream_.expires_after(state_.opts.read_timeout);
  bhttp::async_read_header(stream_, buffer_, *parser_,
                           beast::bind_front_handler(&Session::on_header, shared_from_this()));
}

void Session::on_header(beast::error_code ec, std::size_t) {
  if (ec) return on_read_error(ec);
  if (parser_->is_done()) return handle_request();
  if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
    stream_.expires_after(state_.opts.read_timeout);
    net::async_write(stream_, net::buffer(kContinue, sizeof kContinue - 1),
                     [self = shared_from_this()](beast::error_code ec, std::size_t) {
                       if (ec) return self->stream_.close();
                       self->read_body();
                     });
    return;
  }
  read_body();
}

void Session::read_body() {
  stream_.expires_after(state_.opts.read_timeout);
  bhttp::async_read(stream_, buffer_, *parser_,
                    beast::bind_front_handler(&Session::on_body, shared_from_this()));
}

void Session::on_body(beast::error_code ec, std::size_t) {
  if (ec) return on_read_error(ec);
  handle_request();
}

void Session::on_read_error(beast::error_code ec) {
  if (ec == bhttp::error::end_of_stream || ec == net::error::eof) return do_close();
  if (ec == net::error::operation_aborted) return;
  if (ec == beast::error::timeout) {
    spdlog::debug("http: {} read timeout", remote_);
    return stream_.close();
  }
  version_ = 11;
  keep_alive_ = false;
  head_ = false;
  origin_.clear();
  if (ec == bhttp::error::body_limit) {
    linger_ = true;
    return send(error_response(413, "payload_too_large",
                               "request body exceeds the limit of " +
                                   std::to_string(state_.opts.body_limit) + " bytes"));
  }
  if (ec == bhttp::error::header_limit) {
    linger_ = true;
    return send(error_response(431, "request_header_fields_too_large",
                               "request line and headers exceed the limit of " +
                                   std::to_string(state_.opts.header_limit) + " bytes"));
  }
  if (is_http_error(ec) && ec != bhttp::error::partial_message) {
    linger_ = true;
    return send(error_response(400, "bad_request", "malformed HTTP request: " + ec.message()));
  }
  spdlog::debug("http: {} read failed: {}", remote_, ec.message());
  stream_.close();
}

// ---- dispatch ---------------------------------------------------------------------

void Session::handle_request() {
  if (!busy_) {
    busy_ = true;
    state_.busy.fetch_add(1);
  }
  request_read_ = std::chrono::steady_clock::now();
  auto& msg = parser_->get();
  version_ = msg.version();
  keep_alive_ = msg.keep_alive();
  head_ = msg.method() == bhttp::verb::head;
  {
    auto o = msg[bhttp::field::origin];
    origin_.assign(o.data(), o.size());
  }
  Request req;
  auto ms = msg.method_string();
  req.method.assign(ms.data(), ms.size());
  auto t = msg.target();
  req.target.assign(t.data(), t.size());
  std::string_view target = req.target, path = target, qs;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    qs = target.substr(q + 1);
  }
  // absolute-form ("http://host/path") as sent to proxies
  for (std::string_view scheme : {"http://", "https://"}) {
    if (path.size() >= scheme.size() && iequals_ascii(path.substr(0, scheme.size()), scheme)) {
      auto slash = path.find('/', scheme.size());
      path = slash == std::string_view::npos ? std::string_view("/") : path.substr(slash);
    }
  }
  auto decoded = percent_decode(path, false);
  if (!decoded) {
    keep_alive_ = false;
    return send(error_response(400, "bad_request", "malformed percent-encoding in the path"));
  }
  req.path = std::move(*decoded);
  auto query = parse_query_string(qs);
  if (!query) {
    keep_alive_ = false;
    return send(
        error_response(400, "bad_request", "malformed percent-encoding in the query string"));
  }
  req.query = std::move(*query);
  for (const auto& f : msg) {
    auto n = f.name_string();
    std::string name(n.data(), n.size());
    for (auto& c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    auto v = f.value();
    auto [it, inserted] = req.headers.try_emplace(std::move(name), v.data(), v.size());
    if (!inserted) {
      it->second += ", ";
      it->second.append(v.data(), v.size());
    }
  }
  req.body = std::move(msg.body());
  req.remote = remote_;
  dispatch_request(std::move(req));
}

void Session::dispatch_request(Request req) {
  Match m = state_.router.match(req.method, req.path);
  if (!m.route) {
    if (m.status == 405 && req.method == "OPTIONS") return send(preflight_response(m.allow));
    if (m.status == 405) {
      auto r = error_response(405, "method_not_allowed",
                              req.method + " is not allowed here; allowed: " + m.allow);
      r.headers.emplace_back("Allow", m.allow);
      return send(std::move(r));
    }
    return send(error_response(404, "not_found", "no such endpoint: " + req.path));
  }
  const Route* route = m.route;
  route_ = route;
  if (state_.opts.guard) {
    if (auto denied = state_.opts.guard(*route, req)) return send(std::move(*denied));
  } else if (route->access != Access::open) {
    return send(error_response(403, "forbidden", "this server has no authenticator configured"));
  }
  if (route->upgrade && boost::beast::websocket::is_upgrade(parser_->get()))
    return upgrade(*route, req, m.params);
  if (!route->handler) {
    auto r = error_response(426, "upgrade_required",
                            "this endpoint only accepts a WebSocket upgrade");
    r.headers.emplace_back("Upgrade", "websocket");
    return send(std::move(r));
  }
  auto responder = std::make_shared<Responder>(shared_from_this());
  Respond respond = [responder](Response res) {
    if (responder->done.exchange(true)) return;
    responder->session->deliver(std::move(res));
  };
  if (route->exec == Exec::io) {
    invoke(*route, req, m.params, std::move(respond));
    return;
  }
  net::post(*state_.pool, [route, req = std::move(req), params = std::move(m.params),
                           respond = std::move(respond)]() mutable {
    log::ModuleScope module("http");  // the blocking pool's threads are Asio's
    invoke(*route, req, params, std::move(respond));
  });
}

// The socket, the request and the buffered bytes go to the route's handler; this session
// ends when the last handler holding it returns (nothing of it is pending after this).
void Session::upgrade(const Route& route, const Request& req, const PathParams& params) {
  std::unique_ptr<UpgradedConnection> conn;
  try {
    stream_.expires_never();
    conn = std::make_unique<UpgradedConnection>(stream_.release(), parser_->release(),
                                                std::move(buffer_), remote_,
                                                &state_.connections);
  } catch (const std::exception& e) {
    spdlog::error("http: {} cannot upgrade the connection: {}", remote_, e.what());
    return stream_.close();
  }
  upgraded_ = true;  // the connection's count now goes with `conn`
  parser_.reset();
  if (auto* counters = state_.opts.counters) {  // the answer is the new owner's to write
    const auto index = static_cast<std::size_t>(&route - state_.router.routes().data());
    conn->on_answered(
        [counters, index](int status) { counters->record_http_response(index, status); });
  }
  try {
    route.upgrade(req, params, std::move(conn));
  } catch (const std::exception& e) {
    spdlog::error("http: upgrade {} {} failed: {}", req.method, req.path, e.what());
  } catch (...) {
    spdlog::error("http: upgrade {} {} failed with a non-standard exception", req.method,
                  req.path);
  }
}

}  // namespace iotd::http::detail
