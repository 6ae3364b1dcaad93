// How a response head is written: the hand-formatted status line and headers of the
// common (Content-Length) response, the same fields through Beast's message for the rest,
// CORS, the Date header. Pure functions; http_date() caches per thread.
#pragma once

#include <boost/beast/http/field.hpp>
#include <boost/beast/http/message.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "iotd/http/router.hpp"

namespace iotd::http::detail {

// The configured CORS origins: "*", a comma list of origins, or "" (no CORS headers).
struct CorsPolicy {
  explicit CorsPolicy(std::string_view origins);

  bool any = false;
  std::vector<std::string> origins;

  // The Access-Control-Allow-Origin value for a request from `origin`; empty: none.
  // A listed origin is echoed (and needs "Vary: Origin"); "*" is sent as is.
  std::string_view allow_origin(std::string_view origin) const;
};

// What a response head depends on besides the response itself.
struct HeadContext {
  unsigned version = 11;  // 10 or 11
  bool keep_alive = false;
  std::string_view origin;  // the request's Origin header
  const CorsPolicy* cors = nullptr;
};

// RFC 7231 IMF-fixdate, formatted once per second per thread.
std::string_view http_date();

// Status line and headers of a response with a Content-Length body into `out` (cleared
// first). Same fields as fill_headers(); Connection as Beast's keep_alive() would set it.
void format_head(std::string& out, const Response& r, std::size_t content_length,
                 const HeadContext& ctx);

// 204 answer to an OPTIONS preflight on a path whose routes allow `allow`.
Response preflight_response(const std::string& allow);

// The fields format_head() writes except Content-Length and Connection (Beast's
// serializer adds those), for the responses Beast serialises (HEAD, streamed bodies).
template <class Message>
void fill_headers(Message& msg, const Response& r, const HeadContext& ctx) {
  namespace bhttp = boost::beast::http;
  msg.version(ctx.version);
  msg.result(static_cast<unsigned>(r.status));
  msg.set(bhttp::field::server, "iotd");
  auto date = http_date();
  msg.set(bhttp::field::date, boost::beast::string_view(date.data(), date.size()));
  if (!r.content_type.empty() && r.status != 204 && r.status != 304)
    msg.set(bhttp::field::content_type, r.content_type);
  auto allow = ctx.cors->allow_origin(ctx.origin);
  if (!allow.empty()) {
    msg.set(bhttp::field::access_control_allow_origin,
            boost::beast::string_view(allow.data(), allow.size()));
    if (!ctx.cors->any) msg.set(bhttp::field::vary, "Origin");
  }
  for (auto& [name, value] : r.headers) msg.insert(name, value);
}

}  // namespace iotd::http::detail
