#include "iotd/http/router.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>

namespace iotd::http {
namespace {

constexpr std::size_t kMaxSegments = 32;

// Splits "/a/b/c/" into {"a","b","c"}; returns false when there are more than
// kMaxSegments segments. "/" yields no segments. Empty inner segments are kept (they match
// nothing), one trailing '/' is ignored.
bool split_path(std::string_view path, std::array<std::string_view, kMaxSegments>& out,
                std::size_t& n) {
  n = 0;
  if (!path.empty() && path.front() == '/') path.remove_prefix(1);
  if (!path.empty() && path.back() == '/') path.remove_suffix(1);
  if (path.empty()) return true;
  while (true) {
    if (n == kMaxSegments) return false;
    auto slash = path.find('/');
    out[n++] = path.substr(0, slash);
    if (slash == std::string_view::npos) return true;
    path.remove_prefix(slash + 1);
  }
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<std::string> Request::param(const std::string& name) const {
  auto it = query.find(name);
  if (it == query.end()) return std::nullopt;
  return it->second;
}

std::optional<std::string> Request::header(const std::string& lower_name) const {
  auto it = headers.find(lower_name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

void Router::add(std::string method, std::string pattern, Exec exec, Handler handler,
                 Access access) {
  if (pattern.empty() || pattern.front() != '/')
    throw std::invalid_argument("route pattern must start with '/': " + pattern);
  std::array<std::string_view, kMaxSegments> parts;
  std::size_t n = 0;
  if (!split_path(pattern, parts, n))
    throw std::invalid_argument("route pattern has too many segments: " + pattern);
  std::vector<Segment> segs;
  segs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) {
    std::string_view p = parts[i];
    if (p.empty()) throw std::invalid_argument("route pattern has an empty segment: " + pattern);
    bool open = p.front() == '{', close = p.back() == '}';
    if (open != close || (open && p.size() < 3) ||
        (p.find_first_of("{}", 1) < p.size() - (close ? 1 : 0)))
      throw std::invalid_argument("route pattern has a malformed parameter: " + pattern);
    if (open)
      segs.push_back({std::string(p.substr(1, p.size() - 2)), true});
    else
      segs.push_back({std::string(p), false});
  }
  routes_.push_back(Route{std::move(method), std::move(pattern), exec, std::move(handler), access});
  compiled_.push_back(std::move(segs));
}

void Router::add_upgrade(std::string pattern, Access access, UpgradeHandler upgrade) {
  if (!upgrade) throw std::invalid_argument("upgrade route without a handler: " + pattern);
  add("GET", std::move(pattern), Exec::io, Handler{}, access);
  routes_.back().upgrade = std::move(upgrade);
}

Match Router::match(std::string_view method, std::string_view path) const {
  Match m;
  std::array<std::string_view, kMaxSegments> parts;
  std::size_t n = 0;
  if (!split_path(path, parts, n)) {
    m.status = 404;
    return m;
  }
  // Specificity: bit (31 - i) set when segment i is a literal; higher wins.
  auto path_matches = [&](std::size_t r, std::uint32_t& score) {
    const auto& segs = compiled_[r];
    if (segs.size() != n) return false;
    score = 0;
    for (std::size_t i = 0; i < n; ++i) {
      if (segs[i].param) {
        if (parts[i].empty()) return false;
      } else {
        if (segs[i].text != parts[i]) return false;
        score |= 1u << (31 - i);
      }
    }
    return true;
  };
  std::uint32_t best_score = 0, best_get_score = 0;
  const Route* best = nullptr;
  const Route* best_get = nullptr;  // fallback for HEAD
  std::size_t best_index = 0, best_get_index = 0;
  bool any_path_match = false;
  for (std::size_t r = 0; r < routes_.size(); ++r) {
    std::uint32_t score = 0;
    if (!path_matches(r, score)) continue;
    any_path_match = true;
    const Route& route = routes_[r];
    if (route.method == method) {
      if (!best || score > best_score) { best = &route; best_score = score; best_index = r; }
    } else if (method == "HEAD" && route.method == "GET") {
      if (!best_get || score > best_get_score) {
        best_get = &route; best_get_score = score; best_get_index = r;
      }
    }
  }
  if (!best && best_get) { best = best_get; best_index = best_get_index; }
  if (best) {
    m.route = best;
    const auto& segs = compiled_[best_index];
    for (std::size_t i = 0; i < n; ++i)
      if (segs[i].param) m.params.emplace(segs[i].text, std::string(parts[i]));
    return m;
  }
  if (!any_path_match) {
    m.status = 404;
    return m;
  }
  // 405: list each method registered for this path once, in registration order.
  m.status = 405;
  std::vector<std::string_view> allowed;
  for (std::size_t r = 0; r < routes_.size(); ++r) {
    std::uint32_t score = 0;
    if (!path_matches(r, score)) continue;
    if (std::find(allowed.begin(), allowed.end(), routes_[r].method) == allowed.end())
      allowed.push_back(routes_[r].method);
  }
  for (std::size_t i = 0; i < allowed.size(); ++i) {
    if (i) m.allow += ", ";
    m.allow += allowed[i];
  }
  return m;
}

const char* to_string(Access a) {
  switch (a) {
    case Access::open: return "open";
    case Access::admin: return "admin";
    case Access::device: return "device";
    case Access::device_or_admin: return "device_or_admin";
  }
  return "?";
}

Response error_response(int status, std::string_view code, std::string_view message) {
  std::string body;
  body.reserve(40 + code.size() + message.size());
  body.append("{\"error\":{\"code\":");
  append_json_string(body, code);
  body.append(",\"message\":");
  append_json_string(body, message);
  body.append("}}");
  return json_response(status, std::move(body));
}

Response json_response(int status, std::string body) {
  Response r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi * 16 + lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::multimap<std::string, std::string>> parse_query_string(std::string_view qs) {
  std::multimap<std::string, std::string> out;
  while (!qs.empty()) {
    auto amp = qs.find('&');
    std::string_view pair = qs.substr(0, amp);
    qs = amp == std::string_view::npos ? std::string_view{} : qs.substr(amp + 1);
    if (pair.empty()) continue;
    auto eq = pair.find('=');
    auto key = percent_decode(pair.substr(0, eq), true);
    if (!key) return std::nullopt;
    std::optional<std::string> value =
        eq == std::string_view::npos ? std::string() : percent_decode(pair.substr(eq + 1), true);
    if (!value) return std::nullopt;
    if (key->empty()) continue;
    out.emplace(std::move(*key), std::move(*value));
  }
  return out;
}

}  // namespace iotd::http
