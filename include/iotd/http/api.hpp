// The REST API (docs/architecture.md §11): registers every /api/v1 route and the seed
// compatibility routes on a Router, each with its Access for the server's RouteGuard
// (auth.hpp). Handlers validate every parameter (400 with a JSON error), run database
// reads on the blocking pool, and serve latest values from memory.
#pragma once

#include <functional>
#include <string>

#include "iotd/core/counters.hpp"
#include "iotd/core/health.hpp"
#include "iotd/http/router.hpp"
#include "iotd/storage/latest_cache.hpp"
#include "iotd/storage/repository.hpp"

namespace iotd::http {

struct ApiContext {
  storage::Repository* repo = nullptr;
  storage::LatestCache* latest = nullptr;
  Counters* counters = nullptr;
  std::function<HealthSnapshot()> health;
  std::string version;
  // Called after a rule was stored or deleted (app wires it to the writer's rule reload,
  // picked up before its next batch). May be empty.
  std::function<void()> rules_changed;
  // Live stream (issue 10): called after an alert's acknowledgement committed, with the
  // alert as stored (app wires it to the live hub). May be empty.
  std::function<void(const storage::Alert&)> alert_acknowledged;
};

void register_api_routes(Router& router, ApiContext ctx);

}  // namespace iotd::http
