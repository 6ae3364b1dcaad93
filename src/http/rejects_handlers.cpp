// GET /api/v1/rejects: rejected messages with their reasons; binary payloads in base64.
#include "handlers.hpp"

#include "api_json.hpp"

namespace iotd::http::api {

Response rejects(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto q = parse_rejects_query(req);
  if (!q) return q.error().to_response();
  auto list = ctx.repo->rejects(*q);
  JsonWriter w(128 + list.size() * 512);
  begin_page(w, list.size(), q->limit, q->offset);
  for (const auto& r : list) {
    w.begin_object();
    w.key("id").integer(r.id);
    w.key("source").str(r.source);
    w.key("topic").str_or_null(r.topic);
    w.key("reason").str(r.reason);
    w.key("detail").str_or_null(r.detail);
    w.key("received_at").iso(r.received_at_ms);
    w.key("payload_size").integer(r.payload_size);
    if (valid_utf8(r.payload))
      w.key("payload").str(r.payload);
    else
      w.key("payload_base64").str(base64_encode(r.payload));
    w.end_object();
  }
  w.end_array().end_object();
  return ok_json(w);
}

}  // namespace iotd::http::api
