#include "lib/load_client.hpp"

#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cmath>
#include <deque>
#include <stdexcept>

#include "lib/clock.hpp"
#include "lib/http_get.hpp"
#include "lib/net.hpp"
#include "lib/response_parser.hpp"

namespace iotd::bench {
namespace {

constexpr std::uint64_t kTimerTag = ~std::uint64_t{0};

struct Request {
  Clock::time_point due;
  std::uint32_t target = 0;
  bool recorded = false;
};

struct Conn {
  Fd fd;
  std::uint32_t generation = 0;  // bumped on close: events for an old fd are ignored
  bool connected = false;
  bool busy = false;             // a request is attached
  Request request;
  Clock::time_point deadline;
  const std::string* out = nullptr;  // request bytes still to send, from out_offset
  std::size_t out_offset = 0;
  std::string in;                // received bytes the parser has not consumed yet
  ResponseParser parser;
};

class LoadClient {
 public:
  explicit LoadClient(const LoadOptions& o);
  LoadResult run();

 private:
  Clock::time_point due(std::uint64_t k) const {
    return t0_ + std::chrono::nanoseconds(std::llround(static_cast<double>(k) * 1e9 / opts_.rate));
  }
  bool open(std::size_t i, int& error);
  void close(std::size_t i);
  void release(std::size_t i);
  void dispatch(Request r);
  void flush(std::size_t i);
  void on_event(std::uint64_t tag, std::uint32_t events);
  void on_writable(std::size_t i);
  void on_readable(std::size_t i);
  void complete(std::size_t i);
  void fail(std::size_t i, const std::string& what);
  void time_out(std::size_t i);
  void note_error(const std::string& what) {
    if (result_.first_error.empty()) result_.first_error = what;
  }
  // Waits for socket events until `wake` (a timerfd gives sub-millisecond precision).
  void wait_events(Clock::time_point wake);

  LoadOptions opts_;
  Endpoint endpoint_;
  std::vector<std::string> requests_;  // bytes per target
  std::vector<Conn> conns_;
  std::deque<std::size_t> free_;       // connections without a request, oldest first
  std::deque<Request> waiting_;        // due requests that found every connection busy
  Fd epoll_, timer_;
  Clock::time_point armed_ = Clock::time_point::max();
  Clock::time_point t0_, window_start_, window_end_, last_response_;
  std::vector<std::int64_t> latencies_;
  std::uint64_t body_bytes_ = 0;
  LoadResult result_;
};

LoadClient::LoadClient(const LoadOptions& o) : opts_(o), conns_(static_cast<std::size_t>(o.connections)) {
  if (opts_.targets.empty()) throw std::runtime_error("no request targets");
  if (opts_.connections < 1) throw std::runtime_error("need at least one connection");
  endpoint_ = resolve(opts_.server.host, opts_.server.port);
  for (const auto& t : opts_.targets) requests_.push_back(get_request(opts_.server, t));
  epoll_ = Fd(::epoll_create1(EPOLL_CLOEXEC));
  timer_ = Fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
  if (!epoll_ || !timer_) throw std::runtime_error("epoll/timerfd: " + errno_text(errno));
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kTimerTag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, timer_.get(), &ev);
  if (opts_.rate > 0) latencies_.reserve(static_cast<std::size_t>(opts_.rate * opts_.duration_s * 1.05) + 16);
}

bool LoadClient::open(std::size_t i, int& error) {
  Conn& c = conns_[i];
  c.fd = start_connect(endpoint_, error);
  if (!c.fd) return false;
  ++result_.connects;
  c.connected = false;
  epoll_event ev{};
  // Edge-triggered: reads drain to EAGAIN, writes continue on the next EPOLLOUT edge.
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.u64 = (std::uint64_t{c.generation} << 32) | i;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev) != 0) {
    error = errno;
    close(i);
    return false;
  }
  return true;
}

void LoadClient::close(std::size_t i) {
  Conn& c = conns_[i];
  c.fd.reset();  // closing also removes it from the epoll set
  ++c.generation;
  c.connected = false;
  c.in.clear();
}

void LoadClient::release(std::size_t i) {
  Conn& c = conns_[i];
  c.busy = false;
  c.out = nullptr;
  c.in.clear();
  c.parser.reset();
  free_.push_back(i);
}

void LoadClient::dispatch(Request r) {
  const std::size_t i = free_.front();
  free_.pop_front();
  Conn& c = conns_[i];
  c.busy = true;
  c.request = r;
  c.deadline = r.due + opts_.timeout;
  c.out = &requests_[r.target];
  c.out_offset = 0;
  if (!c.fd) {
    int error = 0;
    if (!open(i, error)) return fail(i, "connect: " + errno_text(error));
  }
  if (c.connected) flush(i);
}

void LoadClient::flush(std::size_t i) {
  Conn& c = conns_[i];
  while (c.out && c.out_offset < c.out->size()) {
    ssize_t n = ::send(c.fd.get(), c.out->data() + c.out_offset, c.out->size() - c.out_offset, MSG_NOSIGNAL);
    if (n > 0) {
      c.out_offset += static_cast<std::size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && errno == EAGAIN) {
      return;
    } else {
      return fail(i, "send: " + errno_text(errno));
    }
  }
  c.out = nullptr;
}

void LoadClient::on_event(std::uint64_t tag, std::uint32_t events) {
  const auto i = static_cast<std::size_t>(tag & 0xffffffffu);
  const auto generation = static_cast<std::uint32_t>(tag >> 32);
  auto current = [&] { return conns_[i].fd && conns_[i].generation == generation; };
  if (!current()) return;
  if (events & (EPOLLOUT | EPOLLERR)) on_writable(i);
  if (current() && (events & (EPOLLIN | EPOLLHUP | EPOLLERR | EPOLLRDHUP))) on_readable(i);
}

void LoadClient::on_writable(std::size_t i) {
  Conn& c = conns_[i];
  if (!c.connected) {
    if (int err = socket_error(c.fd.get()); err != 0) {
      const std::string what = "connect: " + errno_text(err);
      if (c.busy) return fail(i, what);
      note_error(what);
      return close(i);
    }
    c.connected = true;
  }
  if (c.busy) flush(i);
}

void LoadClient::on_readable(std::size_t i) {
  Conn& c = conns_[i];
  if (!c.connected) return;  // a failed connect shows up as writable first
  std::array<char, 65536> buf;
  while (c.fd) {
    ssize_t n = ::recv(c.fd.get(), buf.data(), buf.size(), 0);
    if (n > 0) {
      if (!c.busy) return close(i);  // bytes nobody asked for: the connection is unusable
      std::string_view data(buf.data(), static_cast<std::size_t>(n));
      ResponseParser::Step step;
      if (c.in.empty()) {
        step = c.parser.feed(data);
        if (step.state == ResponseParser::State::need_more) c.in.assign(data.substr(step.consumed));
      } else {
        c.in.append(data);
        step = c.parser.feed(c.in);
        c.in.erase(0, step.consumed);
      }
      if (step.state == ResponseParser::State::error) return fail(i, "bad response: " + c.parser.error());
      if (step.state == ResponseParser::State::done) complete(i);
    } else if (n == 0) {
      if (!c.busy) return close(i);
      if (c.parser.finish_at_eof() == ResponseParser::State::done) {
        complete(i);
        return close(i);
      }
      return fail(i, c.parser.error());
    } else if (errno == EINTR) {
      continue;
    } else if (errno == EAGAIN) {
      return;
    } else {
      if (!c.busy) return close(i);
      return fail(i, "recv: " + errno_text(errno));
    }
  }
}

void LoadClient::complete(std::size_t i) {
  Conn& c = conns_[i];
  const auto now = Clock::now();
  if (c.request.recorded) {
    ++result_.completed;
    const int status = c.parser.status();
    ++result_.statuses[status];
    if (status < 200 || status > 299) ++result_.non_2xx;
    body_bytes_ += c.parser.body_bytes();
    latencies_.push_back(to_ns(now - c.request.due));
    last_response_ = std::max(last_response_, now);
  }
  if (!c.parser.keep_alive()) close(i);
  release(i);
}

void LoadClient::fail(std::size_t i, const std::string& what) {
  if (conns_[i].request.recorded) {
    ++result_.socket_errors;
    note_error(what);
  }
  close(i);
  release(i);
}

void LoadClient::time_out(std::size_t i) {
  if (conns_[i].request.recorded) ++result_.timeouts;
  close(i);
  release(i);
}

void LoadClient::wait_events(Clock::time_point wake) {
  int timeout_ms = -1;
  const auto now = Clock::now();
  if (wake <= now) {
    timeout_ms = 0;
  } else if (wake != armed_) {
    itimerspec spec{};
    const auto ns = to_ns(wake.time_since_epoch());
    spec.it_value.tv_sec = ns / 1'000'000'000;
    spec.it_value.tv_nsec = ns % 1'000'000'000;
    ::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &spec, nullptr);
    armed_ = wake;
  }
  std::array<epoll_event, 256> events;
  int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), timeout_ms);
  for (int k = 0; k < n; ++k) {
    if (events[k].data.u64 == kTimerTag) {
      std::uint64_t expirations = 0;
      [[maybe_unused]] auto r = ::read(timer_.get(), &expirations, sizeof expirations);
      armed_ = Clock::time_point::max();
    } else {
      on_event(events[k].data.u64, events[k].events);
    }
  }
}

LoadResult LoadClient::run() {
  // Connect everything first, so connection set-up is not in the first samples.
  for (std::size_t i = 0; i < conns_.size(); ++i) {
    int error = 0;
    if (!open(i, error)) note_error("connect: " + errno_text(error));
    free_.push_back(i);
  }
  const auto connect_deadline = Clock::now() + opts_.timeout;
  auto connecting = [&] {
    return std::any_of(conns_.begin(), conns_.end(), [](const Conn& c) { return c.fd && !c.connected; });
  };
  while (connecting() && Clock::now() < connect_deadline) wait_events(connect_deadline);
  for (std::size_t i = 0; i < conns_.size(); ++i)
    if (conns_[i].fd && !conns_[i].connected) close(i);

  const bool open_loop = opts_.rate > 0;
  t0_ = Clock::now();
  window_start_ = t0_ + from_seconds(opts_.warmup_s);
  window_end_ = window_start_ + from_seconds(opts_.duration_s);
  last_response_ = window_end_;
  const std::uint64_t total =
      open_loop ? static_cast<std::uint64_t>(std::llround((opts_.warmup_s + opts_.duration_s) * opts_.rate)) : 0;
  std::uint64_t next = 0;
  Clock::duration wait_total{};
  auto make_request = [&](Clock::time_point when) {
    Request r{when, static_cast<std::uint32_t>(next % requests_.size()), when >= window_start_ && when < window_end_};
    ++next;
    if (r.recorded) ++result_.scheduled;
    return r;
  };

  while (true) {
    const auto now = Clock::now();
    if (open_loop) {
      while (next < total && due(next) <= now) {
        Request r = make_request(due(next));
        if (waiting_.empty() && !free_.empty()) {
          dispatch(r);
        } else {
          if (r.recorded) ++result_.waited;
          waiting_.push_back(r);
        }
      }
    } else if (now < window_end_) {
      // At most one round per loop, so a server that refuses everything cannot spin us.
      for (std::size_t k = conns_.size(); k > 0 && !free_.empty(); --k) dispatch(make_request(now));
    }
    // Queued requests take connections as they free up, or time out waiting.
    while (!waiting_.empty() && (!free_.empty() || waiting_.front().due + opts_.timeout <= now)) {
      Request r = waiting_.front();
      waiting_.pop_front();
      const bool expired = r.due + opts_.timeout <= now;
      if (r.recorded) wait_total += expired ? opts_.timeout : now - r.due;
      if (expired) {
        if (r.recorded) ++result_.timeouts;
      } else {
        dispatch(r);
      }
    }
    auto wake = Clock::time_point::max();
    for (std::size_t i = 0; i < conns_.size(); ++i) {
      if (!conns_[i].busy) continue;
      if (conns_[i].deadline <= now)
        time_out(i);
      else
        wake = std::min(wake, conns_[i].deadline);
    }

    const bool idle = free_.size() == conns_.size() && waiting_.empty();
    if (idle && (open_loop ? next >= total : now >= window_end_)) break;
    if (open_loop && next < total) wake = std::min(wake, due(next));
    if (!waiting_.empty()) wake = std::min(wake, waiting_.front().due + opts_.timeout);
    if (!open_loop && now < window_end_) wake = std::min(wake, window_end_);
    wait_events(wake);
  }

  result_.wait_total_ms = to_ms(wait_total);
  result_.elapsed_s = std::chrono::duration<double>(last_response_ - window_start_).count();
  result_.achieved_rate = result_.elapsed_s > 0 ? static_cast<double>(result_.completed) / result_.elapsed_s : 0;
  result_.mean_body_bytes =
      result_.completed ? static_cast<double>(body_bytes_) / static_cast<double>(result_.completed) : 0;
  result_.latency_ns = summarize(latencies_);
  return std::move(result_);
}

}  // namespace

LoadResult run_load(const LoadOptions& options) { return LoadClient(options).run(); }

}  // namespace iotd::bench
