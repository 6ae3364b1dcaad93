// HTTP routing and request/response values, free of any socket code so it can be unit
// tested. Handlers are asynchronous: they call `respond` exactly once, from any thread.
// Immutable after start-up; thread-safe for concurrent match().
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace iotd::http {

struct Request {
  std::string method;   // "GET", "POST", ...
  std::string target;   // raw request target, e.g. "/api/v1/readings?limit=5"
  std::string path;     // percent-decoded path, no query
  std::multimap<std::string, std::string> query;   // percent-decoded
  std::map<std::string, std::string> headers;      // lower-case names
  std::string body;
  std::string remote;   // peer address
  std::string auth_device;  // set by the route guard when a device key authenticated the request

  std::optional<std::string> param(const std::string& name) const;
  std::optional<std::string> header(const std::string& lower_name) const;
};

struct Response {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // When set, the body is streamed with chunked encoding: called repeatedly (on the
  // blocking pool) to fill `chunk`; returns false after the last chunk. `chunk` arrives
  // empty; whatever it holds on return is sent (an empty chunk is skipped), also on the
  // last call. Called again only after the previous chunk was written (backpressure).
  // An exception aborts the connection (the status line has already gone out).
  std::function<bool(std::string& chunk)> stream;
};

using PathParams = std::map<std::string, std::string>;
using Respond = std::function<void(Response)>;
using Handler = std::function<void(const Request&, const PathParams&, Respond)>;

// A connection taken over after an HTTP Upgrade (iotd/http/upgrade.hpp, which includes
// Beast). The handler runs on the connection's io thread and owns the connection from then on.
class UpgradedConnection;
using UpgradeHandler =
    std::function<void(const Request&, const PathParams&, std::unique_ptr<UpgradedConnection>)>;

// Where a handler runs: on the io thread (must not block), or on the blocking pool
// (database reads).
enum class Exec { io, blocking };

// Who may call a route. Declared with the route and enforced by the server's RouteGuard
// before the handler runs, so no handler checks a key itself.
enum class Access {
  open,             // anyone
  admin,            // the admin key
  device,           // a device key; the guard sets Request::auth_device
  device_or_admin,  // a device key (auth_device set) or the admin key (auth_device empty)
};

// "open", "admin", "device", "device_or_admin" (tests and messages).
const char* to_string(Access a);

struct Route {
  std::string method;
  std::string pattern;  // "/api/v1/alerts/{id}/ack"
  Exec exec = Exec::io;
  Handler handler;       // empty on an upgrade-only route: a plain request gets 426
  Access access = Access::open;
  // Set: a GET with "Upgrade: websocket" is handed over here, after the route guard,
  // instead of being answered. Without it such a request is an ordinary request.
  UpgradeHandler upgrade = {};
};

// Runs on the io thread after routing and before the handler: returns the response to send
// instead (401/403 with the JSON error body), or nullopt to go on. It may annotate the
// request (Request::auth_device). Must not block.
using RouteGuard = std::function<std::optional<Response>(const Route&, Request&)>;

struct Match {
  const Route* route = nullptr;  // null: see status
  PathParams params;
  int status = 200;              // 404 unknown path, 405 known path with another method
  std::string allow;             // for 405: "GET, POST"
};

// Patterns are '/'-separated segments, each a literal or a `{name}` parameter matching
// one non-empty segment. A trailing '/' on the path is ignored ("/a/b/" matches "/a/b").
// When several patterns match, the one with a literal earliest wins. HEAD falls back to
// the GET route when no HEAD route exists.
class Router {
 public:
  // Throws std::invalid_argument for a pattern not starting with '/' or a malformed {name}.
  void add(std::string method, std::string pattern, Exec exec, Handler handler,
           Access access = Access::open);
  // A GET route that only accepts a WebSocket upgrade; a plain GET to it answers 426.
  void add_upgrade(std::string pattern, Access access, UpgradeHandler upgrade);
  Match match(std::string_view method, std::string_view path) const;
  const std::vector<Route>& routes() const { return routes_; }

 private:
  struct Segment {
    std::string text;  // literal text, or the parameter name
    bool param = false;
  };
  std::vector<Route> routes_;
  std::vector<std::vector<Segment>> compiled_;  // parallel to routes_
};

// {"error": {"code": code, "message": message}} with the given status.
Response error_response(int status, std::string_view code, std::string_view message);
Response json_response(int status, std::string body);

// Appends `s` as a JSON string literal (quotes included): escapes '"', '\\' and control
// characters; invalid UTF-8 sequences become U+FFFD.
void append_json_string(std::string& out, std::string_view s);

// Splits "a=1&b=x%20y" into decoded pairs; '+' means space. Malformed escapes -> nullopt.
std::optional<std::multimap<std::string, std::string>> parse_query_string(std::string_view qs);
std::optional<std::string> percent_decode(std::string_view s, bool plus_is_space);

}  // namespace iotd::http
