#include "lib/response_parser.hpp"

#include <algorithm>
#include <charconv>

#include "iotd/core/text.hpp"

namespace iotd::bench {
namespace {

using text::trim;

constexpr std::string_view kCrlf = "\r\n";

char ascii_lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return ascii_lower(x) == ascii_lower(y); });
}

// True if the comma-separated header value lists `token` (any case).
bool has_token(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    auto comma = value.find(',');
    std::string_view item = value.substr(0, comma);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (iequals(item, token)) return true;
    if (comma == std::string_view::npos) break;
    value.remove_prefix(comma + 1);
  }
  return false;
}

}  // namespace

void ResponseParser::reset() {
  no_body_ = false;
  phase_ = Phase::head;
  state_ = State::need_more;
  status_ = 0;
  keep_alive_ = true;
  remaining_ = 0;
  body_bytes_ = 0;
  head_bytes_ = 0;
  body_.clear();
  error_.clear();
}

ResponseParser::Step ResponseParser::fail(std::string message, std::size_t consumed) {
  state_ = State::error;
  phase_ = Phase::finished;
  error_ = std::move(message);
  keep_alive_ = false;
  return {state_, consumed};
}

void ResponseParser::take_body(std::string_view bytes) {
  body_bytes_ += bytes.size();
  if (keep_body_) body_.append(bytes);
}

bool ResponseParser::parse_head(std::string_view head) {
  // Status line: HTTP/1.x SP 3DIGIT [SP reason]
  auto eol = head.find(kCrlf);
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 7) != "HTTP/1." || line[8] != ' ') {
    error_ = "malformed status line";
    return false;
  }
  const bool http10 = line[7] == '0';
  auto code = line.substr(9, 3);
  auto [end, ec] = std::from_chars(code.data(), code.data() + 3, status_);
  if (ec != std::errc() || end != code.data() + 3 || status_ < 100 || status_ > 999 ||
      (line.size() > 12 && line[12] != ' ')) {
    error_ = "malformed status code";
    return false;
  }

  bool chunked = false;
  bool have_length = false;
  std::uint64_t length = 0;
  bool conn_close = false, conn_keep_alive = false;
  std::string_view rest = eol == std::string_view::npos ? std::string_view() : head.substr(eol + 2);
  while (!rest.empty()) {
    auto next = rest.find(kCrlf);
    std::string_view field = rest.substr(0, next);
    rest = next == std::string_view::npos ? std::string_view() : rest.substr(next + 2);
    if (field.empty()) break;
    auto colon = field.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      error_ = "malformed header line";
      return false;
    }
    std::string_view name = field.substr(0, colon);
    std::string_view value = trim(field.substr(colon + 1));
    if (iequals(name, "content-length")) {
      std::uint64_t n = 0;
      auto [p, e] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (e != std::errc() || p != value.data() + value.size() || value.empty() || (have_length && n != length)) {
        error_ = "bad Content-Length";
        return false;
      }
      have_length = true;
      length = n;
    } else if (iequals(name, "transfer-encoding")) {
      chunked = has_token(value, "chunked");
    } else if (iequals(name, "connection")) {
      if (has_token(value, "close")) conn_close = true;
      if (has_token(value, "keep-alive")) conn_keep_alive = true;
    }
  }
  keep_alive_ = http10 ? conn_keep_alive && !conn_close : !conn_close;

  if (no_body_ || status_ == 204 || status_ == 304 || status_ < 200) {
    phase_ = Phase::finished;
  } else if (chunked) {
    phase_ = Phase::chunk_size;
  } else if (have_length) {
    remaining_ = length;
    phase_ = length == 0 ? Phase::finished : Phase::fixed_body;
  } else {
    phase_ = Phase::until_close;
    keep_alive_ = false;
  }
  return true;
}

ResponseParser::Step ResponseParser::feed(std::string_view data) {
  if (state_ != State::need_more) return {state_, 0};
  std::size_t used = 0;
  auto left = [&] { return data.substr(used); };
  while (true) {
    switch (phase_) {
      case Phase::head: {
        auto end = left().find("\r\n\r\n");
        if (end == std::string_view::npos) {
          if (left().size() > kMaxHeadBytes) return fail("response head too large", used);
          return {state_, used};
        }
        head_bytes_ = end + 4;
        if (!parse_head(left().substr(0, end + 2))) return fail(error_, used);
        used += end + 4;
        // 1xx interim responses (100 Continue) precede the real one.
        if (status_ >= 100 && status_ < 200) {
          phase_ = Phase::head;
          status_ = 0;
        }
        break;
      }
      case Phase::fixed_body:
      case Phase::chunk_data: {
        auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, left().size()));
        take_body(left().substr(0, n));
        used += n;
        remaining_ -= n;
        if (remaining_ > 0) return {state_, used};
        phase_ = phase_ == Phase::fixed_body ? Phase::finished : Phase::chunk_crlf;
        break;
      }
      case Phase::chunk_size: {
        auto eol = left().find(kCrlf);
        if (eol == std::string_view::npos) {
          if (left().size() > 1024) return fail("chunk size line too long", used);
          return {state_, used};
        }
        std::string_view line = left().substr(0, eol);
        line = trim(line.substr(0, line.find(';')));  // chunk extensions are ignored
        std::uint64_t size = 0;
        auto [p, e] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (line.empty() || e != std::errc() || p != line.data() + line.size())
          return fail("bad chunk size", used);
        used += eol + 2;
        remaining_ = size;
        phase_ = size == 0 ? Phase::trailers : Phase::chunk_data;
        break;
      }
      case Phase::chunk_crlf:
        if (left().size() < 2) return {state_, used};
        if (left().substr(0, 2) != kCrlf) return fail("chunk not followed by CRLF", used);
        used += 2;
        phase_ = Phase::chunk_size;
        break;
      case Phase::trailers: {
        auto eol = left().find(kCrlf);
        if (eol == std::string_view::npos) {
          if (left().size() > kMaxHeadBytes) return fail("trailers too large", used);
          return {state_, used};
        }
        used += eol + 2;
        if (eol == 0) phase_ = Phase::finished;
        break;
      }
      case Phase::until_close:
        take_body(left());
        return {state_, data.size()};
      case Phase::finished:
        state_ = State::done;
        return {state_, used};
    }
  }
}

ResponseParser::State ResponseParser::finish_at_eof() {
  if (state_ != State::need_more) return state_;
  if (phase_ == Phase::until_close) {
    phase_ = Phase::finished;
    state_ = State::done;
  } else {
    fail(phase_ == Phase::head && head_bytes_ == 0 ? "connection closed before a response"
                                                   : "connection closed mid-response",
         0);
  }
  return state_;
}

}  // namespace iotd::bench
