// The operations routes (docs/architecture.md §11, "Operations"): GET /metrics renders the
// counter registry and the process metrics in the Prometheus text format; GET /openapi.json,
// /docs and the Redoc script are files compiled into the binary. All answer from memory on
// the io thread and take no lock the writer or the MQTT callback takes.
#include <string>

#include "handlers.hpp"
#include "iotd/core/assets.hpp"
#include "iotd/core/process_metrics.hpp"
#include "iotd/core/prometheus_text.hpp"

namespace iotd::http::api {

Response prometheus_metrics(const ApiContext& ctx, const Request&, const PathParams&) {
  if (ctx.sample_metrics) ctx.sample_metrics();
  Response r;
  r.content_type = "text/plain; version=0.0.4; charset=utf-8";
  if (ctx.counters) r.body = metrics::prometheus_text(*ctx.counters);
  r.body += metrics::process_metrics_text();
  r.headers.emplace_back("Cache-Control", "no-store");
  return r;
}

Response embedded_asset(const ApiContext&, const Request& req, const PathParams&) {
  std::string_view path = req.path;
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);  // the router allows "/docs/"
  const auto* a = assets::find(assets::operations(), path);
  if (!a) return error_response(404, "not_found", "no such document");
  Response r;
  r.content_type = std::string(a->content_type);
  r.body.assign(a->bytes);
  r.headers.emplace_back("Cache-Control", "public, max-age=300");
  return r;
}

}  // namespace iotd::http::api
