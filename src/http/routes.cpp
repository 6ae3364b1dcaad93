// The REST route table: every route's method, path, where it runs, who may call it and its
// handler, in one list read top to bottom. The server's RouteGuard enforces the access
// before the handler runs; the health routes are registered by register_health_routes.
#include <spdlog/spdlog.h>

#include <exception>
#include <memory>
#include <utility>

#include "handlers.hpp"
#include "iotd/http/api.hpp"
#include "iotd/http/health_routes.hpp"

namespace iotd::http {
namespace {

using api::Flavor;

struct RouteSpec {
  const char* method;
  const char* path;
  Exec exec;       // io: answers from memory; blocking: reads the database
  Access access;
  Flavor flavor;   // the error shape when the database fails
  api::Fn handler;
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
  // Seed 001 per-device paths: the same handlers, the device from the path.
  {"GET",  "/api/v1/devices/{id}/history",       Exec::blocking,  Access::open,   Flavor::v1,       api::readings},
  {"GET",  "/api/v1/devices/{id}/aggregate",     Exec::blocking,  Access::open,   Flavor::v1,       api::aggregate},
  // Seed 002 (its /api/health is a health route).
  {"GET",  "/api/sensors/latest",                Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_latest},
  {"GET",  "/api/sensors/history",               Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_history},
  {"GET",  "/api/sensors/stats",                 Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_stats},
  {"GET",  "/api/sensors/ml-data",               Exec::blocking,  Access::open,   Flavor::seed002,  api::seed002_ml_data},
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
  // Operations (issue 11): Prometheus metrics, the OpenAPI document and its Redoc page.
  {"GET",  "/metrics",                           Exec::io,        Access::open,   Flavor::v1,       api::prometheus_metrics},
  {"GET",  "/openapi.json",                      Exec::io,        Access::open,   Flavor::v1,       api::embedded_asset},
  {"GET",  "/docs",                              Exec::io,        Access::open,   Flavor::v1,       api::embedded_asset},
  {"GET",  "/docs/redoc.standalone.js",          Exec::io,        Access::open,   Flavor::v1,       api::embedded_asset},
};
// clang-format on

// io routes answer from memory on the io thread: the handler and nothing else (the
// latest-values hot path). Database routes run on the blocking pool; a missing database
// or a failed query is a 503 in the route's error shape.
Handler bind(std::shared_ptr<const ApiContext> ctx, const RouteSpec& spec) {
  const api::Fn fn = spec.handler;
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
  auto ctx = std::make_shared<const ApiContext>(std::move(ctx_in));
  register_health_routes(router, *ctx);
  for (const auto& spec : kRoutes)
    router.add(spec.method, spec.path, spec.exec, bind(ctx, spec), spec.access);
}

}  // namespace iotd::http
