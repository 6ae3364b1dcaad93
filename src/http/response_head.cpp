#include "response_head.hpp"

#include <boost/beast/http/status.hpp>

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <ctime>

namespace iotd::http::detail {

CorsPolicy::CorsPolicy(std::string_view list) {
  while (!list.empty()) {
    auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view{} : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item == "*")
      any = true;
    else if (!item.empty())
      origins.emplace_back(item);
  }
}

std::string_view CorsPolicy::allow_origin(std::string_view origin) const {
  if (any) return "*";
  if (!origin.empty() && std::find(origins.begin(), origins.end(), origin) != origins.end())
    return origin;
  return {};
}

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

void format_head(std::string& h, const Response& r, std::size_t content_length,
                 const HeadContext& ctx) {
  namespace bhttp = boost::beast::http;
  h.clear();
  h += ctx.version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ";
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
  auto allow = ctx.cors->allow_origin(ctx.origin);
  if (!allow.empty()) {
    field("Access-Control-Allow-Origin", allow);
    if (!ctx.cors->any) field("Vary", "Origin");
  }
  for (const auto& [name, value] : r.headers) field(name, value);
  if (r.status != 204 && r.status != 304) {
    h += "Content-Length: ";
    put_number(content_length);
    h += "\r\n";
  }
  if (ctx.version == 10 && ctx.keep_alive)
    field("Connection", "keep-alive");
  else if (ctx.version != 10 && !ctx.keep_alive)
    field("Connection", "close");
  h += "\r\n";
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

}  // namespace iotd::http::detail
