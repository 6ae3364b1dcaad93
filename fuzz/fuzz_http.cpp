// Fuzz target: one HTTP request through the REST router, the route guard and the handler
// (docs/architecture.md §11), as the server dispatches it but without sockets (like
// tests/unit/http/route_call.hpp), against a migrated SQLite database holding one device
// and a few readings. Input: "METHOD TARGET\n", then "name: value\n" header lines, then an
// empty line and the body. Keys: admin "fuzz-admin-key", device dev-1 "fuzz-device-key".
// Checks, beyond "no crash, no leak, no UB": every request is answered exactly once and at
// once (HTTP ingest and commands are not wired: 503); never with a 500; a JSON answer is
// valid JSON (streamed bodies read to the end).
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "iotd/core/counters.hpp"
#include "iotd/core/reading.hpp"
#include "iotd/http/api.hpp"
#include "iotd/http/auth.hpp"
#include "iotd/http/device_keys.hpp"
#include "iotd/storage/database.hpp"
#include "iotd/storage/latest_cache.hpp"
#include "iotd/storage/repository.hpp"
#include "iotd/storage/store.hpp"

namespace {

namespace fs = std::filesystem;
using namespace iotd;
using namespace iotd::http;

[[noreturn]] void fail(const char* what, const Request& req, const Response& r) {
  std::fprintf(stderr, "fuzz_http: %s: %s %s -> %d %s\n", what, req.method.c_str(), req.target.c_str(), r.status,
               r.body.substr(0, 300).c_str());
  std::abort();
}

constexpr std::int64_t kT0 = 1'769'644'800'000;  // 2026-01-29T00:00:00Z

struct Fixture {
  fs::path dir;
  storage::ConnectionSpec spec;
  std::unique_ptr<storage::Repository> repo;
  storage::LatestCache latest;
  Counters counters;
  DeviceKeys keys;
  Router router;
  RouteGuard guard;

  Fixture() {
    spdlog::set_level(spdlog::level::off);
    const fs::path base = fs::exists("/dev/shm") ? fs::path("/dev/shm") : fs::temp_directory_path();
    dir = base / ("iotd-fuzz-http-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    spec = storage::parse_database_url("sqlite:///" + (dir / "iotd.db").string());
    storage::migrate(spec);
    auto ws = storage::make_write_store(spec);
    repo = storage::make_repository(spec, 2);
    ApiContext ctx;
    ctx.repo = repo.get();
    ctx.latest = &latest;
    ctx.counters = &counters;
    ctx.health = [] { return HealthSnapshot{}; };
    ctx.version = "fuzz";
    ctx.device_keys = &keys;
    register_api_routes(router, ctx);
    guard = make_route_guard("fuzz-admin-key", keys.resolver());

    Request create;
    create.method = "POST";
    create.target = create.path = "/api/v1/devices";
    create.headers["x-api-key"] = "fuzz-admin-key";
    create.body = R"({"device_id": "dev-1", "name": "fuzz", "type": "esp32"})";
    if (call(create).status != 201) fail("fixture: device not created", create, {});
    keys.set("dev-1", to_hex(sha256("fuzz-device-key")));

    std::vector<Reading> rs;
    for (int i = 0; i < 20; ++i) {
      Reading r;
      r.device_id = i % 2 ? "dev-1" : "dev-2";
      r.ts_ms = kT0 + i * 60'000;
      r.received_at_ms = r.ts_ms + 5;
      r.has_device_time = true;
      r.dedup_key = i + 1;
      r.metrics = {{"humidity", 40.0 + i}, {"temperature", 20.0 + i}};
      rs.push_back(r);
    }
    ws->begin();
    ws->insert_messages(rs);
    ws->commit();
    latest.load(ws->load_latest());
  }
  ~Fixture() {
    repo.reset();
    std::error_code ec;
    fs::remove_all(dir, ec);
  }

  // The server's dispatch without sockets: route, guard, handler; the handler must answer
  // exactly once before it returns (nothing here is asynchronous).
  Response call(Request& req) {
    auto m = router.match(req.method, req.path);
    if (!m.route) return error_response(m.status, "routing", m.allow);
    if (auto denied = guard(*m.route, req)) return std::move(*denied);
    if (!m.route->handler) return error_response(426, "upgrade_required", "WebSocket only");
    int answers = 0;
    Response out;
    m.route->handler(req, m.params, [&](Response r) {
      if (answers++ == 0) out = std::move(r);
    });
    if (answers != 1) fail(answers == 0 ? "no answer" : "answered more than once", req, out);
    return out;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Fixture fx;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto line = [&in] {
    const auto nl = in.find('\n');
    const std::string_view l = in.substr(0, nl);
    in = nl == std::string_view::npos ? std::string_view{} : in.substr(nl + 1);
    return l;
  };

  Request req;
  const std::string_view first = line();
  const auto sp = first.find(' ');
  if (sp == std::string_view::npos) return 0;
  req.method = std::string(first.substr(0, sp));
  req.target = std::string(first.substr(sp + 1));
  const auto q = req.target.find('?');
  auto path = percent_decode(std::string_view(req.target).substr(0, q), false);
  if (!path) return 0;  // the server answers 400 before routing
  req.path = std::move(*path);
  if (q != std::string::npos) {
    auto query = parse_query_string(std::string_view(req.target).substr(q + 1));
    if (!query) return 0;  // 400 before routing
    req.query = std::move(*query);
  }
  while (!in.empty()) {
    const std::string_view h = line();
    if (h.empty()) break;
    const auto colon = h.find(':');
    if (colon == std::string_view::npos) return 0;
    std::string name(h.substr(0, colon));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view value = h.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    req.headers[name] = std::string(value);
  }
  req.body = std::string(in);
  req.remote = "127.0.0.1";

  Response r = fx.call(req);
  if (r.status < 200 || r.status > 599) fail("status out of range", req, r);
  if (r.status == 500) fail("500 for a client's request", req, r);
  std::string body = r.body;
  for (int i = 0; r.stream && i < 100'000; ++i) {
    std::string chunk;
    const bool more = r.stream(chunk);
    body += chunk;
    if (!more) break;
  }
  if (r.content_type.rfind("application/json", 0) == 0 && !body.empty() &&
      nlohmann::json::parse(body, nullptr, false).is_discarded()) {
    fail("a JSON answer that is not JSON", req, r);
  }
  return 0;
}
