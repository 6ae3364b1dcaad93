// Alerts (list, one, acknowledge, manual) and the alert rules (list, put, delete).
#include "handlers.hpp"

#include <nlohmann/json.hpp>

#include "api_json.hpp"
#include "iotd/core/time.hpp"
#include "rule_params.hpp"

namespace iotd::http::api {
namespace {

void write_rule(JsonWriter& w, const storage::Rule& r) {
  w.begin_object();
  w.key("metric").str(r.metric);
  w.key("scope").str(r.scope);
  w.key("scope_value").str_or_null(r.scope_value);
  w.key("min").opt_num(r.min);
  w.key("max").opt_num(r.max);
  w.key("severity").str(r.severity);
  w.key("hysteresis").num(r.hysteresis);
  w.end_object();
}

// The writer reloads its rules before its next batch.
void notify_rules_changed(const ApiContext& ctx) {
  if (ctx.rules_changed) ctx.rules_changed();
}

}  // namespace

Response alerts(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto q = parse_alerts_query(req, pp, time::now_ms());
  if (!q) return q.error().to_response();
  auto list = ctx.repo->alerts(*q);
  JsonWriter w(128 + list.size() * 512);
  begin_page(w, list.size(), q->limit, q->offset);
  for (const auto& a : list) write_alert(w, a, false);
  w.end_array().end_object();
  return ok_json(w);
}

Response alert_by_id(const ApiContext& ctx, const Request&, const PathParams& pp) {
  auto id = parse_id(pp.at("id"));
  if (!id) return bad_param("alert id must be a positive integer").to_response();
  auto a = ctx.repo->alert(*id);
  if (!a) return not_found("no alert with id " + std::to_string(*id)).to_response();
  JsonWriter w(512);
  write_alert(w, *a, false);
  return ok_json(w);
}

// Shared by POST /api/v1/alerts/{id}/ack and seed 003's /api/alerts/{id}/acknowledge.
Response acknowledge(const ApiContext& ctx, const Request& req, const PathParams& pp, Flavor f) {
  auto id = parse_id(pp.at("id"));
  if (!id) {
    if (f != Flavor::v1) return render(f, not_found("Alert not found"));
    return bad_param("alert id must be a positive integer").to_response();
  }
  std::string by = "admin";
  std::string_view body = req.body;
  while (!body.empty() && (body.front() == ' ' || body.front() == '\n' || body.front() == '\r' ||
                           body.front() == '\t'))
    body.remove_prefix(1);
  if (!body.empty()) {
    auto j = nlohmann::json::parse(body, nullptr, false);
    if (!j.is_object())
      return render(f, bad_param("the body must be a JSON object such as {\"by\": \"alice\"}, or empty"));
    if (auto it = j.find("by"); it != j.end() && !it->is_null()) {
      if (!it->is_string() || it->get_ref<const std::string&>().empty() ||
          it->get_ref<const std::string&>().size() > 128)
        return render(f, bad_param("by must be a string of 1-128 characters"));
      by = it->get<std::string>();
    }
  }
  if (!ctx.repo->acknowledge_alert(*id, by, time::now_ms()))
    return render(f, not_found(f == Flavor::v1 ? "no alert with id " + std::to_string(*id)
                                               : std::string("Alert not found")));
  auto a = ctx.repo->alert(*id);
  if (!a)
    return render(f, not_found(f == Flavor::v1 ? "no alert with id " + std::to_string(*id)
                                               : std::string("Alert not found")));
  if (ctx.alert_acknowledged) ctx.alert_acknowledged(*a);  // the live stream's frame
  JsonWriter w(512);
  write_alert(w, *a, f != Flavor::v1);
  return ok_json(w);
}

Response acknowledge_v1(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  return acknowledge(ctx, req, pp, Flavor::v1);
}

Response rules(const ApiContext& ctx, const Request&, const PathParams&) {
  auto list = ctx.repo->rules();
  JsonWriter w(64 + list.size() * 160);
  w.begin_object().key("data").begin_array();
  for (const auto& r : list) write_rule(w, r);
  w.end_array().end_object();
  return ok_json(w);
}

// 201 with the rule when it was created, 200 when it replaced the rule of that scope.
Response put_rule(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto target = parse_rule_target(req, pp);
  if (!target) return target.error().to_response();
  auto rule = parse_rule_body(req.body, std::move(*target));
  if (!rule) return rule.error().to_response();
  const bool created = ctx.repo->put_rule(*rule);
  notify_rules_changed(ctx);
  JsonWriter w(192);
  write_rule(w, *rule);
  Response r = ok_json(w);
  if (created) r.status = 201;
  return r;
}

Response delete_rule(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto target = parse_rule_target(req, pp);
  if (!target) return target.error().to_response();
  if (!ctx.repo->delete_rule(target->metric, target->scope, target->scope_value)) {
    std::string where = target->scope == "global" ? std::string("global")
                                                  : target->scope + " " + target->scope_value;
    return not_found("no " + where + " rule for " + target->metric).to_response();
  }
  notify_rules_changed(ctx);
  Response r;
  r.status = 204;
  r.content_type.clear();
  return r;
}

// A manual alert: stored as kind "manual", which the writer's alarm book never loads, so it
// neither blocks nor clears a rule's alert on the same device and metric.
Response create_alert(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto a = parse_manual_alert(req.body, time::now_ms());
  if (!a) return a.error().to_response();
  const std::int64_t id = ctx.repo->insert_alert(*a);
  auto stored = ctx.repo->alert(id);
  if (!stored) return render(Flavor::v1, db_error());
  JsonWriter w(512);
  write_alert(w, *stored, false);
  Response r = ok_json(w);
  r.status = 201;
  return r;
}

}  // namespace iotd::http::api
