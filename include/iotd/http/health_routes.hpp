// The health routes: /api/v1/health (the health policy's verdict, the facts behind it and
// every registered metric), /api/v1/health/live, and the compatibility /api/health and
// /health. All answer from memory on the io thread.
#pragma once

#include "iotd/http/api.hpp"
#include "iotd/http/router.hpp"

namespace iotd::http {

// Uses ctx.counters (may be null: no counters), ctx.health (may be empty: all defaults) and
// ctx.version.
void register_health_routes(Router& router, const ApiContext& ctx);

}  // namespace iotd::http
