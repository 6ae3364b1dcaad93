// The REST route table: every route's method, path, where it runs, who may call it and its
// handler, in one list read top to bottom. The server's RouteGuard enforces the access
// before the handler runs; the health routes are registered by register_health_routes.
#include <spdlog/spdlog.h>

#include <exception>
#include <memory>
#include <utility>

#include "deadline_timer.hpp"
#include "handlers.hpp"
#include "iotd/http/api.hpp"
#include "iotd/http/health_routes.hpp"

namespace iotd::http {
namespace {

using api::Flavor;

// A handler that answers in the call (api::Fn) or later through Respond (api::AsyncFn).
struct HandlerRef {
  constexpr HandlerRef(api::Fn f) : fn(f) {}            // NOLINT(google-explicit-constructor)
  constexpr HandlerRef(api::AsyncFn f) : async(f) {}    // NOLINT(google-explicit-constructor)
  api::Fn fn = nullptr;
  api::AsyncFn async = nullptr;
};

struct RouteSpec {
  const char* method;
  const char* path;
  Exec exec;       // io: answers from memory; blocking: reads the database
  Access access;
  Flavor flavor;   // the error shape when the database fails
  HandlerRef handler;
};

// clang-format off
constexpr RouteSpec kRoutes[] = {
// method  path                                  exec             access          error shape       handler
  {"GET",  "/api/v1/readings/latest",            Exec::io,        Access::open,   Flavor::v1,       api::latest},
  {"GET",  "/api/v1/readings",                   Exec::blocking,  Access::open,   Flavor::v1,       api::readings},
  {"GET",  "/api/v1/stats",                      Exec::blocking,  Access::open,   Flavor::v1,       api::stats},
  {"GET",  "/api/v1/aggregate",                  Exec::blocking,  Access::open,   Flavor::v1,       api::aggregate},
  {"GET",  "/api/v1/export",                     Exec::blocking,  Access::open,   Flavor::v1,       api::export_data},
  {"GET",  "/api/v1/alerts",                     Exec::blocking,  Access::open,   Flavor::v1,       api::alerts},
  {"POST", "/api/v1/alerts",                     Exec::blocking,  Access::admin,  Flavor::v1,       api::create_alert},
  {"GET",  "/api/v1/alerts/{id}",                Exec::blocking,  Access::open,   Flavor::v1,       api::alert_by_id},
  {"POST", "/api/v1/alerts/{id}/ack",            Exec::blocking,  Access::admin,  Flavor::v1,       api::acknowledge_v1},
  {"GET",  "/api/v1/rejects",                    Exec::blocking,  Access::admin,  Flavor::v1,       api::rejects},
  {"GET",  "/api/v1/rules",                      Exec::blocking,  Access::open,   Flavor::v1,       api::rules},
  {"PUT",  "/api/v1/rules/{metric}",             Exec::blocking,  Access::admin,  Flavor::v1,       api::put_rule},
  {"DELETE", "/api/v1/rules/{metric}",           Exec::blocking,  Access::admin,  Flavor::v1,       api::delete_rule},
  // Devices (issue 9): the registry and its keys; the key is shown by create and rotate only.
  {"GET",  "/api/v1/devices",                    Exec::blocking,  Access::open,   Flavor::v1,       api::devices},
  {"POST", "/api/v1/devices",                    Exec::blocking,  Access::admin,  Flavor::v1,       api::create_device},
  {"GET",  "/api/v1/devices/{id}",               Exec::blocking,  Access::open,   Flavor::v1,       api::device},
  {"PUT",  "/api/v1/devices/{id}",               Exec::blocking,  Access::admin,  Flavor::v1,       api::put_device},
  {"PATCH", "/api/v1/devices/{id}",              Exec::blocking,  Access::admin,  Flavor::v1,       api::patch_device},
  {"DELETE", "/api/v1/devices/{id}",             Exec::blocking,  Access::admin,  Flavor::v1,       api::delete_device},
  {"POST", "/api/v1/devices/{id}/heartbeat",     Exec::blocking,  Access::device_or_admin, Flavor::v1, api::device_heartbeat},
  {"POST", "/api/v1/devices/{id}/key",           Exec::blocking,  Access::admin,  Flavor::v1,       api::rotate_device_key},
  // Commands (issue 9): admin for reading too, since parameters may carry secrets.
  {"POST", "/api/v1/devices/{id}/commands",      Exec::blocking,  Access::admin,  Flavor::v1,       api::issue_command},
  {"GET",  "/api/v1/devices/{id}/commands",      Exec::blocking,  Access::admin,  Flavor::v1,       api::device_commands},
  {"GET",  "/api/v1/devices/{id}/commands/{command_id}", Exec::blocking, Access::admin, Flavor::v1, api::device_command},
  // HTTP ingest (issue 9): answered after the commit; batch bodies are split on the pool.
  {"POST", "/api/v1/ingest",                     Exec::io,        Access::device_or_admin, Flavor::v1, api::ingest},
  {"POST", "/api/v1/ingest/batch",               Exec::blocking,  Access::device_or_admin, Flavor::v1, api::ingest_batch},
  // Seed 001 per-device paths: the same handlers, the device from the path.
  {"GET",  "/api/v1/devices/{id}/history",       Exec::blocking,  Access::open,   Flavor::v1,       api::readings},
  {"GET",  "/api/v1/devices/{id}/aggregate",     Exec::blocking,  Access::open,   Flavor::v1,       api::aggregate},
  // Seed 002 (its /api/health is a health route).
  {"GET",  "/api/sensors/latest",                Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_latest},
  {"GET",  "/api/sensors/history",               Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_history},
  {"GET",  "/api/sensors/stats",                 Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_stats},
  {"GET",  "/api/sensors/ml-data",               Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_ml_data},
  {"POST", "/api/control",                       Exec::blocking,  Access::admin,  Flavor::seed002,  api::seed002_control},
  // Seed 000 (its /health is a health route).
  {"GET",  "/sensors/latest",                    Exec::io,        Access::open,   Flavor::seed000,  api::seed000_latest},
  {"GET",  "/sensors/history",                   Exec::blocking,  Access::open,   Flavor::seed000,  api::seed000_history},
  {"GET",  "/alerts",                            Exec::blocking,  Access::open,   Flavor::seed000,  api::seed000_alerts},
  {"GET",  "/stats",                             Exec::blocking,  Access::open,   Flavor::seed000,  api::seed000_stats},
  // Seed 003.
  {"GET",  "/api/devices/{id}/metrics",          Exec::blocking,  Access::open,   Flavor::seed003,  api::seed003_metrics},
  {"GET",  "/api/devices/{id}/alerts",           Exec::blocking,  Access::open,   Flavor::seed003,  api::seed003_alerts},
  {"POST", "/api/alerts/{id}/acknowledge",       Exec::blocking,  Access::admin,  Flavor::seed003,  api::seed003_acknowledge},
  {"GET",  "/api/stats",                         Exec::blocking,  Access::open,   Flavor::seed003,  api::seed003_stats},
  // Seed 003's device registry (issue 9); writes need the admin key (the seed had no auth).
  {"GET",  "/api/devices",                       Exec::blocking,  Access::open,   Flavor::seed003,  api::seed003_devices},
  {"POST", "/api/devices",                       Exec::blocking,  Access::admin,  Flavor::seed003,  api::seed003_create_device},
  {"GET",  "/api/devices/{id}",                  Exec::blocking,  Access::open,   Flavor::seed003,  api::seed003_device},
  {"PUT",  "/api/devices/{id}",                  Exec::blocking,  Access::admin,  Flavor::seed003,  api::seed003_update_device},
  {"DELETE", "/api/devices/{id}",                Exec::blocking,  Access::admin,  Flavor::seed003,  api::seed003_delete_device},
  {"POST", "/api/devices/{id}/heartbeat",        Exec::blocking,  Access::device_or_admin, Flavor::seed003, api::seed003_heartbeat},
  {"POST", "/api/devices/{id}/alerts",           Exec::blocking,  Access::admin,  Flavor::seed003,  api::seed003_create_alert},
  {"GET",  "/api/devices/{id}/raw-data",         Exec::blocking,  Access::open,   Flavor::seed003,  api::seed003_raw_data},
  // Operations (issue 11): Prometheus metrics, the OpenAPI document and its Redoc page.
  {"GET",  "/metrics",                           Exec::io,        Access::open,   Flavor::v1,       api::prometheus_metrics},
  {"GET",  "/openapi.json",                      Exec::io,        Access::open,   Flavor::v1,       api::embedded_asset},
  {"GET",  "/docs",                              Exec::io,        Access::open,   Flavor::v1,       api::embedded_asset},
  {"GET",  "/docs/redoc.standalone.js",          Exec::io,        Access::open,   Flavor::v1,       api::embedded_asset},
  // Dashboard (issue 10): the page and its assets, compiled into the binary.
  {"GET",  "/",                                  Exec::io,        Access::open,   Flavor::v1,       api::dashboard_asset},
  {"GET",  "/dashboard/{file}",                  Exec::io,        Access::open,   Flavor::v1,       api::dashboard_asset},
};
// clang-format on

// io routes answer from memory on the io thread: the handler and nothing else (the
// latest-values hot path). Database routes run on the blocking pool; a missing database
// or a failed query is a 503 in the route's error shape. Asynchronous routes (HTTP ingest)
// get the Respond itself and answer when their work completes.
Handler bind(std::shared_ptr<const ApiContext> ctx, const RouteSpec& spec) {
  if (const api::AsyncFn async = spec.handler.async)
    return [ctx = std::move(ctx), async](const Request& req, const PathParams& pp, Respond respond) {
      async(*ctx, req, pp, std::move(respond));
    };
  const api::Fn fn = spec.handler.fn;
  if (spec.exec == Exec::io)
    return [ctx = std::move(ctx), fn](const Request& req, const PathParams& pp, Respond respond) {
      respond(fn(*ctx, req, pp));
    };
  const Flavor f = spec.flavor;
  const char* path = spec.path;
  return [ctx = std::move(ctx), fn, f, path](const Request& req, const PathParams& pp,
                                             Respond respond) {
    if (!ctx->repo) {
      respond(api::render(f, api::ApiError{503, "database_unavailable", "no database is configured"}));
      return;
    }
    Response r;
    try {
      r = fn(*ctx, req, pp);
    } catch (const std::exception& e) {
      spdlog::warn("http: {} failed: {}", path, e.what());
      r = api::render(f, api::db_error());
    }
    respond(std::move(r));
  };
}

}  // namespace

void register_api_routes(Router& router, ApiContext ctx_in) {
  if (ctx_in.ingest && !ctx_in.ingest_timer) ctx_in.ingest_timer = std::make_shared<DeadlineTimer>();
  auto ctx = std::make_shared<const ApiContext>(std::move(ctx_in));
  register_health_routes(router, *ctx);
  for (const auto& spec : kRoutes)
    router.add(spec.method, spec.path, spec.exec, bind(ctx, spec), spec.access);
}

}  // namespace iotd::http
