// Unit-test helper: one request through the router and the route guard to its handler, as
// the server dispatches it, without sockets. Shared by the route tests of tests/unit/http.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <string>
#include <utility>

#include "iotd/http/router.hpp"

namespace iotd::http::test {

using Headers = std::map<std::string, std::string>;

// The router's 404/405, the guard's 401/403 (no guard: none), or the handler's answer. The
// handler may answer later from another thread (HTTP ingest); this waits up to 10 s for the
// first answer. `answers`, when given, counts every answer the handler gives, later ones
// included, so a test can check that a request was answered exactly once.
inline Response route_call(const Router& router, const RouteGuard& guard, const std::string& method,
                           const std::string& target, std::string body = {}, Headers headers = {},
                           std::shared_ptr<std::atomic<int>> answers = nullptr) {
  Request req;
  req.method = method;
  req.target = target;
  const auto q = target.find('?');
  req.path = target.substr(0, q);
  if (q != std::string::npos) req.query = *parse_query_string(target.substr(q + 1));
  req.body = std::move(body);
  req.headers = std::move(headers);
  auto m = router.match(method, req.path);
  if (!m.route) return error_response(m.status, "routing", m.allow);
  if (guard) {
    if (auto denied = guard(*m.route, req)) return std::move(*denied);
  }
  if (!answers) answers = std::make_shared<std::atomic<int>>(0);
  auto promise = std::make_shared<std::promise<Response>>();
  auto future = promise->get_future();
  m.route->handler(req, m.params, [answers, promise](Response r) {
    if (answers->fetch_add(1) == 0) promise->set_value(std::move(r));
  });
  if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
    ADD_FAILURE() << method << " " << target << ": no answer within 10 s";
    return Response{};
  }
  return future.get();
}

}  // namespace iotd::http::test
