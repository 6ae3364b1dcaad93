// The dashboard (issue 10, docs/architecture.md §16): GET / is the page, GET
// /dashboard/{file} its script, style sheet and uPlot, all compiled into the binary from
// web/ (CMakeLists.txt, "Dashboard"). Answered from memory on the io thread.
#include <string>

#include "handlers.hpp"
#include "iotd/core/assets.hpp"

namespace iotd::http::api {

Response dashboard_asset(const ApiContext&, const Request& req, const PathParams&) {
  const auto* a = assets::find(assets::dashboard(), req.path);
  if (!a) return error_response(404, "not_found", "no such dashboard file");
  Response r;
  r.content_type = std::string(a->content_type);
  r.body.assign(a->bytes);
  // The page is small and names its assets: always revalidate it so an upgraded iotd serves
  // its own script; the assets may be cached briefly.
  r.headers.emplace_back("Cache-Control", req.path == "/" ? "no-cache" : "public, max-age=300");
  return r;
}

}  // namespace iotd::http::api
