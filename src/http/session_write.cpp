// The writing half of Session: responses, streamed bodies, closing.
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include <array>

#include "session.hpp"
#include "iotd/core/log.hpp"

namespace iotd::http::detail {
namespace {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;

// After an error response with unread input (413, 431, 400): how long and how much we
// keep reading and discarding before closing, so the client sees the response instead
// of a reset.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerMaxBytes = 8 << 20;

}  // namespace

HeadContext Session::head_context() const {
  return HeadContext{version_, keep_alive_, origin_, &state_.cors};
}

// Every response of this connection goes out here; route_ is the route it answers, if any.
void Session::send(Response r) {
  try {
    if (r.status < 200 || r.status > 599) r = error_response(500, "internal", "invalid status");
    if (state_.opts.counters) {
      // The route's index in the router names it in http_responses: an array slot, no lookup.
      const auto route = route_ ? static_cast<std::size_t>(route_ - state_.router.routes().data())
                                : metrics::RouteStatusCounter::kUnmatched;
      state_.opts.counters->record_http_response(route, r.status);
      if (request_read_ != std::chrono::steady_clock::time_point{}) {
        state_.opts.counters->record_http_duration(route, std::chrono::steady_clock::now() - request_read_);
        request_read_ = {};
      }
    }
    if (r.status == 204 || r.status == 304) {
      r.body.clear();
      r.stream = nullptr;
    }
    if (r.stream && !head_) return start_stream(std::move(r));
    stream_.expires_after(state_.opts.idle_timeout);
    if (head_) {
      header_msg_.emplace();
      fill_headers(*header_msg_, r, head_context());
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
    format_head(out_head_, r, body_.size(), head_context());
    std::array<net::const_buffer, 2> buffers{net::buffer(out_head_), net::buffer(body_)};
    net::async_write(stream_, buffers,
                     beast::bind_front_handler(&Session::on_write, shared_from_this()));
  } catch (const std::exception& e) {
    spdlog::error("http: {} cannot send a response: {}", remote_, e.what());
    stream_.close();
  }
}

void Session::on_write(beast::error_code ec, std::size_t) {
  body_ = std::string();  // release the body
  header_sr_.reset();
  header_msg_.reset();
  if (ec) return stream_.close();
  if (linger_) return linger_close();
  if (!keep_alive_) return do_close();
  do_read();
}

// Streamed body: header now, then each chunk produced on the blocking pool and written on
// the connection's io thread; the next chunk is produced only after the previous one was
// written.
void Session::start_stream(Response r) {
  producer_ = std::move(r.stream);
  raw_stream_ = version_ < 11;  // HTTP/1.0: no chunked encoding; the end is the close
  if (raw_stream_) keep_alive_ = false;
  header_msg_.emplace();
  fill_headers(*header_msg_, r, head_context());
  if (!raw_stream_) header_msg_->chunked(true);
  header_msg_->keep_alive(keep_alive_);
  header_sr_.emplace(*header_msg_);
  stream_.expires_after(state_.opts.idle_timeout);
  bhttp::async_write_header(stream_, *header_sr_,
                            [self = shared_from_this()](beast::error_code ec, std::size_t) {
                              if (ec) return self->stream_.close();
                              self->produce_next();
                            });
}

void Session::produce_next() {
  net::post(*state_.pool, [self = shared_from_this()]() {
    log::ModuleScope module("http");
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

void Session::on_chunk(std::string chunk, bool more, bool failed) {
  if (failed) {
    producer_ = nullptr;
    return stream_.close();  // the client sees a truncated body, never a false end
  }
  chunk_ = std::move(chunk);
  more_ = more;
  if (chunk_.empty()) return after_chunk();
  stream_.expires_after(state_.opts.idle_timeout);
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

void Session::after_chunk() {
  if (more_) return produce_next();
  producer_ = nullptr;
  chunk_ = std::string();
  if (raw_stream_) {
    header_sr_.reset();
    header_msg_.reset();
    return do_close();
  }
  stream_.expires_after(state_.opts.idle_timeout);
  net::async_write(stream_, bhttp::make_chunk_last(),
                   beast::bind_front_handler(&Session::on_write, shared_from_this()));
}

// ---- closing ----------------------------------------------------------------------

void Session::do_close() {
  if (stream_.is_tls()) return tls_close();
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  // The socket closes when the last reference to the session goes.
}

void Session::linger_close() {
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  if (ec) return stream_.close();
  buffer_.consume(buffer_.size());
  stream_.expires_after(kLingerTime);
  drain();
}

void Session::drain() {
  stream_.async_read_some(buffer_.prepare(16384),
                          [self = shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->drained_ += n;
                            if (ec || self->drained_ > kLingerMaxBytes)
                              return self->stream_.close();
                            self->drain();
                          });
}

}  // namespace iotd::http::detail
