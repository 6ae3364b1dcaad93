// The REST API (docs/architecture.md §11): registers every /api/v1 route and the seed
// compatibility routes on a Router, each with its Access for the server's RouteGuard
// (auth.hpp). Handlers validate every parameter (400 with a JSON error), run database
// reads on the blocking pool, and serve latest values from memory.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "iotd/core/counters.hpp"
#include "iotd/core/health.hpp"
#include "iotd/http/device_keys.hpp"
#include "iotd/core/ingest_submitter.hpp"
#include "iotd/http/router.hpp"
#include "iotd/storage/latest_cache.hpp"
#include "iotd/storage/repository.hpp"

namespace iotd::commands {
class CommandService;
}  // namespace iotd::commands

namespace iotd::http {

class DeadlineTimer;  // src/http/deadline_timer.hpp

struct ApiContext {
  storage::Repository* repo = nullptr;
  storage::LatestCache* latest = nullptr;
  Counters* counters = nullptr;
  std::function<HealthSnapshot()> health;
  std::string version;
  // Called after a rule was stored or deleted (app wires it to the writer's rule reload,
  // picked up before its next batch). May be empty.
  std::function<void()> rules_changed;
  // Devices (issue 9): the key map the route guard resolves device keys from, updated on
  // create, rotate and delete (null: keys are issued but not resolvable until a restart);
  // and the writer's device-cache hook, called after a device was created, changed or
  // deleted (app wires Writer::device_changed). May be empty.
  DeviceKeys* device_keys = nullptr;
  std::function<void(const std::string& device_id)> device_changed;
  // Commands to devices (issue 9): issues, lists and shows commands. Null: the command
  // routes answer 503.
  commands::CommandService* commands = nullptr;
  // HTTP ingest (issue 9): the writer's submission queue (null: the ingest routes answer
  // 503) and IOTD_INGEST_TIMEOUT, the longest a request waits for its commit. The timer
  // that enforces it is made by register_api_routes when `ingest` is set.
  IngestSubmitter* ingest = nullptr;
  std::chrono::milliseconds ingest_timeout{10000};
  std::shared_ptr<DeadlineTimer> ingest_timer;
  // Called by GET /metrics before it renders: copies component state (atomics only) into the
  // counters' sampled gauges. May be empty.
  std::function<void()> sample_metrics;
  // Live stream (issue 10): called after an alert's acknowledgement committed, with the
  // alert as stored (app wires it to the live hub). May be empty.
  std::function<void(const storage::Alert&)> alert_acknowledged;
};

void register_api_routes(Router& router, ApiContext ctx);

}  // namespace iotd::http
