// The REST handlers, by resource; routes.cpp binds them to paths with their Exec and
// Access. Each validates its parameters (400 with a JSON error) and answers in one call;
// none checks a key (the route guard has). Database handlers run on the blocking pool and
// may throw on a failed query (the route table turns that into a 503).
#pragma once

#include <memory>
#include <optional>
#include <string>

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

// device_handlers.cpp: the device registry and keys (issue 9).
Response devices(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response create_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response put_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response patch_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response delete_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response device_heartbeat(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response rotate_device_key(const ApiContext& ctx, const Request& req, const PathParams& pp);
// Shared with seed 003's device routes: a new device with its key (nullopt and `err` when
// refused), a delete that also drops the key, latest values and writer cache entry, the
// writer's cache hook and the list's query parameters.
struct DeviceFields;
std::optional<storage::Device> store_new_device(const ApiContext& ctx, const DeviceFields& f,
                                                std::string& key, ApiError& err);
bool remove_device(const ApiContext& ctx, const std::string& id, bool purge);
void device_changed(const ApiContext& ctx, const std::string& device_id);
Parsed<storage::DeviceQuery> parse_devices_query(const Request& req);

// seed003_device_handlers.cpp (seed 003's device registry: /api/devices..., device_by_status).
Response seed003_devices(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_create_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_update_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_delete_device(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_heartbeat(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_create_alert(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed003_raw_data(const ApiContext& ctx, const Request& req, const PathParams& pp);
// command_handlers.cpp: commands to devices (issue 9), and seed 002's POST /api/control.
Response issue_command(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response device_commands(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response device_command(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response seed002_control(const ApiContext& ctx, const Request& req, const PathParams& pp);
// ingest_handlers.cpp (issue 9): HTTP ingest. Asynchronous: they answer through `respond`
// from the submission's completion, after the commit (or 503 at IOTD_INGEST_TIMEOUT).
using AsyncFn = void (*)(const ApiContext&, const Request&, const PathParams&, Respond);
void ingest(const ApiContext& ctx, const Request& req, const PathParams& pp, Respond respond);
void ingest_batch(const ApiContext& ctx, const Request& req, const PathParams& pp, Respond respond);
// operations_handlers.cpp (issue 11): the Prometheus metrics and the embedded documents
// (/openapi.json, /docs and its script), served by request path.
Response prometheus_metrics(const ApiContext& ctx, const Request& req, const PathParams& pp);
Response embedded_asset(const ApiContext& ctx, const Request& req, const PathParams& pp);
// dashboard_handlers.cpp (issue 10): the dashboard page (/) and its assets (/dashboard/{file}).
Response dashboard_asset(const ApiContext& ctx, const Request& req, const PathParams& pp);

}  // namespace iotd::http::api
