// The REST handlers, by resource; routes.cpp binds them to paths with their Exec and
// Access. Each validates its parameters (400 with a JSON error) and answers in one call;
// none checks a key (the route guard has). Database handlers run on the blocking pool and
// may throw on a failed query (the route table turns that into a 503).
#pragma once

#include <memory>

#include "api_common.hpp"

namespace iotd::http::api {

// readings_handlers.cpp: latest values from memory (io thread), history, stats, aggregate.
Response latest(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response readings(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response stats(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response aggregate(const ApiContext& ctx, const Request& req, const PathParams& pp);

// export_handlers.cpp: columnar in one body; csv and ndjson streamed in keyset pages.
Response export_data(const ApiContext& ctx, const Request& req, const PathParams& pp);

// alerts_handlers.cpp: alerts, their acknowledgement, manual alerts, and the alert rules.
Response alerts(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response create_alert(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response alert_by_id(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response acknowledge(const ApiContext& ctx, const Request& req, const PathParams& pp, Flavor f);
Response acknowledge_v1(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response rules(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response put_rule(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response delete_rule(const ApiContext& ctx, const Request& req, const PathParams& pp);

// rejects_handlers.cpp.
Response rejects(const ApiContext& ctx, const Request& req, const PathParams& pp);

// seed002_handlers.cpp (Flask, /api/sensors/*).
Response seed002_latest(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed002_history(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed002_stats(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed002_ml_data(const ApiContext& ctx, const Request& req, const PathParams& pp);

// seed000_handlers.cpp (FastAPI: /sensors/*, /alerts, /stats).
Response seed000_latest(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed000_history(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed000_alerts(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed000_stats(const ApiContext& ctx, const Request& req, const PathParams& pp);

// seed003_handlers.cpp (Flask device manager: /api/devices/{id}/..., /api/stats).
Response seed003_metrics(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_alerts(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_acknowledge(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_stats(const ApiContext& ctx, const Request& req, const PathParams& pp);

// operations_handlers.cpp (issue 11): the Prometheus metrics and the embedded documents
// (/openapi.json, /docs and its script), served by request path.
Response prometheus_metrics(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response embedded_asset(const ApiContext& ctx, const Request& req, const PathParams& pp);

}  // namespace iotd::http::api
