// The HTTP/1.1 server. The only translation unit that includes Beast/Asio (compile time):
// the session shape follows Beast's advanced server example (tcp_stream + flat_buffer, a
// connection owned by one io thread, limits and timeouts set before every read). Requests
// on one connection are answered one at a time, in order (pipelined ones wait in the
// buffer). Each io thread runs its own io_context and a connection lives on one of them
// (round robin at accept), so a connection's handlers never need a strand and the io
// threads share no queue: that contention cost more than the requests on 2 cores.
#include "iotd/http/server.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

namespace iotd::http {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

constexpr std::size_t kIdleReadSize = 8192;
// After an error response with unread input (413, 431, 400): how long and how much we
// keep reading and discarding before closing, so the client sees the response instead
// of a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerMaxBytes = 8 << 20;
constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";

class Session;

// State shared by the listener and every session. Outlives both.
struct Shared {
  Shared(ServerOptions o, const Router& r) : opts(std::move(o)), router(r) {
    std::string_view list = opts.cors_origins;
    while (!list.empty()) {
      auto comma = list.find(',');
      std::string_view item = list.substr(0, comma);
      list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
      while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
      while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
      if (item == "*")
        cors_any = true;
      else if (!item.empty())
        cors_list.emplace_back(item);
    }
  }

  ServerOptions opts;
  const Router& router;
  net::thread_pool* pool = nullptr;  // set by start()
  std::atomic<std::size_t> connections{0};
  std::atomic<bool> stopping{false};
  bool cors_any = false;
  std::vector<std::string> cors_list;

  std::mutex mu;
  std::unordered_set<Session*> sessions;  // guarded by mu; for stop()
};

// RFC 7231 IMF-fixdate, formatted once per second per thread.
std::string_view http_date() {
  thread_local std::time_t last = -1;
  thread_local char buf[40];
  thread_local std::size_t len = 0;
  std::time_t now = std::time(nullptr);
  if (now != last) {
    static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                              "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::tm tm{};
    gmtime_r(&now, &tm);
    int n = std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT",
                          kDays[tm.tm_wday % 7], tm.tm_mday, kMonths[tm.tm_mon % 12],
                          tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
    len = n > 0 ? static_cast<std::size_t>(n) : 0;
    last = now;
  }
  return {buf, len};
}

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

Response preflight_response(const std::string& allow) {
  Response r;
  r.status = 204;
  r.content_type.clear();
  std::string methods = allow + ", OPTIONS";
  r.headers.emplace_back("Access-Control-Allow-Methods", methods);
  r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type, X-API-Key, Authorization");
  r.headers.emplace_back("Access-Control-Max-Age", "86400");
  r.headers.emplace_back("Allow", methods);
  return r;
}

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, Shared& shared)
      : stream_(std::move(socket)), shared_(shared), exec_(stream_.get_executor()) {
    shared_.connections.fetch_add(1);
    beast::error_code ec;
    auto ep = stream_.socket().remote_endpoint(ec);
    if (!ec) remote_ = ep.address().to_string();
    stream_.socket().set_option(tcp::no_delay(true), ec);
    std::lock_guard lock(shared_.mu);
    shared_.sessions.insert(this);
  }

  ~Session() {
    {
      std::lock_guard lock(shared_.mu);
      shared_.sessions.erase(this);
    }
    shared_.connections.fetch_sub(1);
  }

  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  void run() {
    net::dispatch(exec_, beast::bind_front_handler(&Session::do_read, shared_from_this()));
  }

  // Only while no io thread runs (Server::stop).
  void close_socket() {
    beast::error_code ec;
    stream_.socket().close(ec);
  }

  // Any thread: hands a handler's response to the connection's io thread.
  void deliver(Response res) {
    net::dispatch(exec_, [self = shared_from_this(), res = std::move(res)]() mutable {
      self->send(std::move(res));
    });
  }

 private:
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

  // ---- reading ----------------------------------------------------------------------

  void do_read() {
    if (shared_.stopping.load(std::memory_order_relaxed)) return do_close();
    parser_.emplace();
    parser_->body_limit(shared_.opts.body_limit);
    parser_->header_limit(static_cast<std::uint32_t>(
        std::min<std::size_t>(shared_.opts.header_limit, UINT32_MAX)));
    // Waiting for the next request on a keep-alive connection uses the idle timeout;
    // once bytes arrive, the request must complete within the read timeout.
    if (buffer_.size() == 0 && shared_.opts.idle_timeout != shared_.opts.read_timeout) {
      stream_.expires_after(shared_.opts.idle_timeout);
      stream_.async_read_some(buffer_.prepare(kIdleReadSize),
                              beast::bind_front_handler(&Session::on_idle_read, shared_from_this()));
      return;
    }
    read_header();
  }

  void on_idle_read(beast::error_code ec, std::size_t n) {
    if (ec) return on_read_error(ec);
    buffer_.commit(n);
    read_header();
  }

  void read_header() {
    stream_.expires_after(shared_.opts.read_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    if (parser_->is_done()) return handle_request();
    if (beast::iequals(parser_->get()[bhttp::field::expect], "100-continue")) {
      stream_.expires_after(shared_.opts.read_timeout);
      net::async_write(stream_, net::buffer(kContinue, sizeof kContinue - 1),
                       [self = shared_from_this()](beast::error_code ec, std::size_t) {
                         if (ec) return self->stream_.close();
                         self->read_body();
                       });
      return;
    }
    read_body();
  }

  void read_body() {
    stream_.expires_after(shared_.opts.read_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      beast::bind_front_handler(&Session::on_body, shared_from_this()));
  }

  void on_body(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    handle_request();
  }

  void on_read_error(beast::error_code ec) {
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
                                     std::to_string(shared_.opts.body_limit) + " bytes"));
    }
    if (ec == bhttp::error::header_limit) {
      linger_ = true;
      return send(error_response(431, "request_header_fields_too_large",
                                 "request line and headers exceed the limit of " +
                                     std::to_string(shared_.opts.header_limit) + " bytes"));
    }
    if (is_http_error(ec) && ec != bhttp::error::partial_message) {
      linger_ = true;
      return send(error_response(400, "bad_request", "malformed HTTP request: " + ec.message()));
    }
    spdlog::debug("http: {} read failed: {}", remote_, ec.message());
    stream_.close();
  }

  // ---- dispatch ---------------------------------------------------------------------

  void handle_request() {
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

  void dispatch_request(Request req) {
    Match m = shared_.router.match(req.method, req.path);
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
    route_ = static_cast<std::size_t>(route - shared_.router.routes().data());
    if (shared_.opts.guard) {
      if (auto denied = shared_.opts.guard(*route, req)) return send(std::move(*denied));
    } else if (route->access != Access::open) {
      return send(error_response(403, "forbidden", "this server has no authenticator configured"));
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
    net::post(*shared_.pool, [route, req = std::move(req), params = std::move(m.params),
                              respond = std::move(respond)]() mutable {
      invoke(*route, req, params, std::move(respond));
    });
  }

  static void invoke(const Route& route, const Request& req, const PathParams& params,
                     Respond respond) {
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

  // ---- writing ----------------------------------------------------------------------

  template <class Message>
  void fill_headers(Message& msg, Response& r) {
    msg.version(version_);
    msg.result(static_cast<unsigned>(r.status));
    msg.set(bhttp::field::server, "iotd");
    auto date = http_date();
    msg.set(bhttp::field::date, beast::string_view(date.data(), date.size()));
    if (!r.content_type.empty() && r.status != 204 && r.status != 304)
      msg.set(bhttp::field::content_type, r.content_type);
    if (shared_.cors_any) {
      msg.set(bhttp::field::access_control_allow_origin, "*");
    } else if (!origin_.empty() && std::find(shared_.cors_list.begin(), shared_.cors_list.end(),
                                             origin_) != shared_.cors_list.end()) {
      msg.set(bhttp::field::access_control_allow_origin, origin_);
      msg.set(bhttp::field::vary, "Origin");
    }
    for (auto& [name, value] : r.headers) msg.insert(name, value);
  }

  void send(Response r) {
    try {
      if (r.status < 200 || r.status > 599) r = error_response(500, "internal", "invalid status");
      if (shared_.opts.counters)
        shared_.opts.counters->record_http_response(std::exchange(route_, metrics::RouteStatusCounter::kUnmatched), r.status);
      if (r.status == 204 || r.status == 304) {
        r.body.clear();
        r.stream = nullptr;
      }
      if (r.stream && !head_) return start_stream(std::move(r));
      stream_.expires_after(shared_.opts.idle_timeout);
      if (head_) {
        header_msg_.emplace();
        fill_headers(*header_msg_, r);
        if (r.stream)
          header_msg_->chunked(true);
        else if (r.status != 204 && r.status != 304)
          header_msg_->content_length(r.body.size());
        header_msg_->keep_alive(keep_alive_);
        header_sr_.emplace(*header_msg_);
        bhttp::async_write_header(stream_, *header_sr_,
                                  beast::bind_front_handler(&Session::on_write, shared_from_this()));
        return;
      }
      // The common case, serialised by hand into one header string and written with the
      // body in one gather write: Beast's serializer cost more than the handler did.
      body_ = std::move(r.body);
      format_head(r, body_.size());
      std::array<net::const_buffer, 2> buffers{net::buffer(out_head_), net::buffer(body_)};
      net::async_write(stream_, buffers,
                       beast::bind_front_handler(&Session::on_write, shared_from_this()));
    } catch (const std::exception& e) {
      spdlog::error("http: {} cannot send a response: {}", remote_, e.what());
      stream_.close();
    }
  }

  // Status line and headers of a response with a Content-Length body, into out_head_. Same
  // fields as fill_headers(); Connection as Beast's keep_alive() would set it.
  void format_head(const Response& r, std::size_t content_length) {
    auto& h = out_head_;
    h.clear();
    h += version_ == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
    char num[24];
    auto put_number = [&](std::uint64_t v) {
      auto [end, _] = std::to_chars(num, num + sizeof num, v);
      h.append(num, end);
    };
    put_number(static_cast<std::uint64_t>(r.status));
    h += ' ';
    auto reason = bhttp::obsolete_reason(static_cast<bhttp::status>(r.status));
    h.append(reason.data(), reason.size());
    auto field = [&](std::string_view name, std::string_view value) {
      h.append(name);
      h += ": ";
      h.append(value);
      h += "\r\n";
    };
    h += "\r\n";
    field("Server", "iotd");
    field("Date", http_date());
    if (!r.content_type.empty() && r.status != 204 && r.status != 304)
      field("Content-Type", r.content_type);
    if (shared_.cors_any) {
      field("Access-Control-Allow-Origin", "*");
    } else if (!origin_.empty() && std::find(shared_.cors_list.begin(), shared_.cors_list.end(),
                                             origin_) != shared_.cors_list.end()) {
      field("Access-Control-Allow-Origin", origin_);
      field("Vary", "Origin");
    }
    for (const auto& [name, value] : r.headers) field(name, value);
    if (r.status != 204 && r.status != 304) {
      h += "Content-Length: ";
      put_number(content_length);
      h += "\r\n";
    }
    if (version_ == 10 && keep_alive_)
      field("Connection", "keep-alive");
    else if (version_ != 10 && !keep_alive_)
      field("Connection", "close");
    h += "\r\n";
  }

  void on_write(beast::error_code ec, std::size_t) {
    body_ = std::string();  // release the body
    header_sr_.reset();
    header_msg_.reset();
    if (ec) return stream_.close();
    if (linger_) return linger_close();
    if (!keep_alive_) return do_close();
    do_read();
  }

  // Streamed body: header now, then each chunk produced on the blocking pool and written
  // on the connection's io thread; the next chunk is produced only after the previous one was written.
  void start_stream(Response r) {
    producer_ = std::move(r.stream);
    raw_stream_ = version_ < 11;  // HTTP/1.0: no chunked encoding; the end is the close
    if (raw_stream_) keep_alive_ = false;
    header_msg_.emplace();
    fill_headers(*header_msg_, r);
    if (!raw_stream_) header_msg_->chunked(true);
    header_msg_->keep_alive(keep_alive_);
    header_sr_.emplace(*header_msg_);
    stream_.expires_after(shared_.opts.idle_timeout);
    bhttp::async_write_header(stream_, *header_sr_,
                              [self = shared_from_this()](beast::error_code ec, std::size_t) {
                                if (ec) return self->stream_.close();
                                self->produce_next();
                              });
  }

  void produce_next() {
    net::post(*shared_.pool, [self = shared_from_this()]() {
      std::string chunk;
      bool more = false, failed = false;
      try {
        more = self->producer_(chunk);
      } catch (const std::exception& e) {
        failed = true;
        spdlog::warn("http: streamed response to {} aborted: {}", self->remote_, e.what());
      } catch (...) {
        failed = true;
        spdlog::warn("http: streamed response to {} aborted", self->remote_);
      }
      net::post(self->exec_, [self, chunk = std::move(chunk), more, failed]() mutable {
        self->on_chunk(std::move(chunk), more, failed);
      });
    });
  }

  void on_chunk(std::string chunk, bool more, bool failed) {
    if (failed) {
      producer_ = nullptr;
      return stream_.close();  // the client sees a truncated body, never a false end
    }
    chunk_ = std::move(chunk);
    more_ = more;
    if (chunk_.empty()) return after_chunk();
    stream_.expires_after(shared_.opts.idle_timeout);
    auto on_written = [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) {
        self->producer_ = nullptr;
        return self->stream_.close();
      }
      self->after_chunk();
    };
    if (raw_stream_)
      net::async_write(stream_, net::buffer(chunk_), std::move(on_written));
    else
      net::async_write(stream_, bhttp::make_chunk(net::buffer(chunk_)), std::move(on_written));
  }

  void after_chunk() {
    if (more_) return produce_next();
    producer_ = nullptr;
    chunk_ = std::string();
    if (raw_stream_) {
      header_sr_.reset();
      header_msg_.reset();
      return do_close();
    }
    stream_.expires_after(shared_.opts.idle_timeout);
    net::async_write(stream_, bhttp::make_chunk_last(),
                     beast::bind_front_handler(&Session::on_write, shared_from_this()));
  }

  // ---- closing ----------------------------------------------------------------------

  void do_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    // The socket closes when the last reference to the session goes.
  }

  void linger_close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    if (ec) return stream_.close();
    buffer_.consume(buffer_.size());
    stream_.expires_after(kLingerTime);
    drain();
  }

  void drain() {
    stream_.async_read_some(buffer_.prepare(16384),
                            [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                              self->drained_ += n;
                              if (ec || self->drained_ > kLingerMaxBytes)
                                return self->stream_.close();
                              self->drain();
                            });
  }

  beast::tcp_stream stream_;
  Shared& shared_;
  const net::any_io_executor exec_;  // the connection's io_context (one thread runs it)
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::string out_head_;  // status line and headers of the response being written
  std::string body_;  // its body
  std::optional<bhttp::response<bhttp::empty_body>> header_msg_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> header_sr_;
  std::function<bool(std::string&)> producer_;  // called on the pool, one call at a time
  std::string chunk_;
  std::string remote_;
  std::string origin_;
  std::size_t route_ = metrics::RouteStatusCounter::kUnmatched;  // router index of the request being answered
  std::size_t drained_ = 0;
  unsigned version_ = 11;
  bool keep_alive_ = false;
  bool head_ = false;
  bool linger_ = false;
  bool more_ = false;
  bool raw_stream_ = false;
};

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

}  // namespace

struct Server::Impl {
  Impl(ServerOptions o, const Router& router)
      : shared(std::move(o), router),
        iocs(make_contexts(shared.opts.io_threads)),
        acceptor(*iocs.front()),
        retry_timer(*iocs.front()) {
    const std::string& listen = shared.opts.listen;
    auto [host, port_str] = split_host_port(listen);
    unsigned long port_num = 0;
    try {
      std::size_t used = 0;
      port_num = std::stoul(port_str, &used);
      if (used != port_str.size() || port_num > 65535) throw std::out_of_range("port");
    } catch (const std::exception&) {
      throw std::runtime_error("cannot listen on '" + listen + "': bad port '" + port_str + "'");
    }
    beast::error_code ec;
    tcp::endpoint ep;
    auto addr = net::ip::make_address(host, ec);
    if (!ec) {
      ep = tcp::endpoint(addr, static_cast<unsigned short>(port_num));
    } else {
      tcp::resolver resolver(*iocs.front());
      auto results = resolver.resolve(host, port_str, ec);
      if (ec || results.empty())
        throw std::runtime_error("cannot listen on '" + listen + "': cannot resolve '" + host +
                                 "': " + ec.message());
      ep = results.begin()->endpoint();
    }
    auto fail = [&](const char* what) {
      throw std::runtime_error("cannot listen on '" + listen + "': " + what + ": " +
                               ec.message());
    };
    acceptor.open(ep.protocol(), ec);
    if (ec) fail("open");
    acceptor.set_option(net::socket_base::reuse_address(true), ec);
    if (ec) fail("set_option");
    acceptor.bind(ep, ec);
    if (ec) fail("bind");
    acceptor.listen(net::socket_base::max_listen_connections, ec);
    if (ec) fail("listen");
    auto local = acceptor.local_endpoint(ec);
    port = local.port();
    address = local.address().is_v6() ? "[" + local.address().to_string() + "]:" + std::to_string(port)
                                       : local.address().to_string() + ":" + std::to_string(port);
  }

  static std::vector<std::unique_ptr<net::io_context>> make_contexts(int threads) {
    std::vector<std::unique_ptr<net::io_context>> v;
    for (int n = 0; n < std::max(1, threads); ++n) v.push_back(std::make_unique<net::io_context>(1));
    return v;
  }

  void do_accept() {
    // The new connection goes to the next io_context; the acceptor stays on the first.
    auto& target = *iocs[next_context++ % iocs.size()];
    acceptor.async_accept(target,
                          [this](beast::error_code ec, tcp::socket socket) {
                            on_accept(ec, std::move(socket));
                          });
  }

  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted || !acceptor.is_open()) return;
    if (ec) {
      // e.g. EMFILE: back off instead of spinning on a failing accept
      spdlog::warn("http: accept failed: {}", ec.message());
      retry_timer.expires_after(std::chrono::milliseconds(50));
      retry_timer.async_wait([this](beast::error_code e) {
        if (!e) do_accept();
      });
      return;
    }
    if (shared.connections.load() >= shared.opts.max_connections) {
      spdlog::debug("http: connection limit {} reached; closing a new connection",
                    shared.opts.max_connections);
      beast::error_code ignored;
      socket.close(ignored);
    } else {
      try {
        std::make_shared<Session>(std::move(socket), shared)->run();
      } catch (const std::exception& e) {
        spdlog::error("http: cannot start a session: {}", e.what());
      }
    }
    do_accept();
  }

  void run_io(net::io_context& ioc) {
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

  // Declaration order is destruction order reversed: the pool (whose queued jobs hold
  // sessions) goes before the io_context, and `shared` outlives every session.
  Shared shared;
  std::vector<std::unique_ptr<net::io_context>> iocs;  // one per io thread
  tcp::acceptor acceptor;
  net::steady_timer retry_timer;
  std::size_t next_context = 0;  // round robin; used on the acceptor's thread only
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::optional<net::thread_pool> pool;
  std::vector<std::thread> threads;
  std::uint16_t port = 0;
  std::string address;
  bool running = false;
};

Server::Server(ServerOptions opts, const Router& router)
    : impl_(std::make_unique<Impl>(std::move(opts), router)) {}

Server::~Server() { stop(); }

void Server::start() {
  if (impl_->running) return;
  auto& i = *impl_;
  i.pool.emplace(static_cast<std::size_t>(std::max(1, i.shared.opts.blocking_threads)));
  i.shared.pool = &*i.pool;
  for (auto& ioc : i.iocs) i.work.push_back(net::make_work_guard(*ioc));
  i.do_accept();
  for (auto& ioc : i.iocs) i.threads.emplace_back([&i, c = ioc.get()] { i.run_io(*c); });
  i.running = true;
}

void Server::stop() {
  auto& i = *impl_;
  if (!i.running) return;
  i.running = false;
  i.shared.stopping = true;
  i.work.clear();
  for (auto& ioc : i.iocs) ioc->stop();
  for (auto& t : i.threads) t.join();
  i.threads.clear();
  i.pool->stop();
  i.pool->join();
  // No thread runs now: close the listener and every connection. Their pending handlers
  // are destroyed with the pool and the io_context.
  beast::error_code ec;
  i.acceptor.close(ec);
  i.retry_timer.cancel();
  std::lock_guard lock(i.shared.mu);
  for (Session* s : i.shared.sessions) s->close_socket();
}

std::uint16_t Server::port() const { return impl_->port; }
std::string Server::address() const { return impl_->address; }

}  // namespace iotd::http
