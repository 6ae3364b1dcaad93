// Commands to devices (issue 9; docs/architecture.md §14): POST /api/v1/devices/{id}/commands
// issues one through the CommandService (stored, then published at QoS 1); the GETs list a
// device's commands newest first, or show one. Seed 002's POST /api/control is the same
// issue with the seed's body and answer. Every route here is admin-only (routes.cpp):
// parameters may carry secrets (Wi-Fi credentials, set points), so reading them is too.
#include <nlohmann/json.hpp>

#include "api_json.hpp"
#include "handlers.hpp"
#include "iotd/commands/command_service.hpp"

namespace iotd::http::api {
namespace {

struct CommandBody {
  std::optional<std::string> device_id;  // seed 002 names the device in the body
  std::string command;
  std::string parameters = "{}";  // a JSON object's text
};

// {"command": "...", "parameters"?: {...}} (+ "device_id" for seed 002).
Parsed<CommandBody> parse_command_body(std::string_view body, bool with_device) {
  const auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return tl::unexpected(bad_param("the body must be a JSON object such as "
                                    "{\"command\": \"restart\", \"parameters\": {\"delay_seconds\": 5}}"));
  CommandBody out;
  if (with_device) {
    const auto d = j.find("device_id");
    if (d == j.end() || !d->is_string() || !valid_device_id(d->get_ref<const std::string&>()))
      return tl::unexpected(bad_param("device_id must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
    out.device_id = d->get<std::string>();
  }
  const auto c = j.find("command");
  if (c == j.end() || !c->is_string() || c->get_ref<const std::string&>().empty() ||
      c->get_ref<const std::string&>().size() > commands::kMaxCommandName)
    return tl::unexpected(bad_param("command must be a string of 1-" +
                                    std::to_string(commands::kMaxCommandName) + " characters"));
  out.command = c->get<std::string>();
  if (const auto p = j.find("parameters"); p != j.end() && !p->is_null()) {
    if (!p->is_object()) return tl::unexpected(bad_param("parameters must be a JSON object"));
    out.parameters = p->dump();
  }
  return out;
}

void write_command(JsonWriter& w, const storage::Command& c) {
  w.begin_object();
  w.key("command_id").str(c.command_id);
  w.key("device_id").str(c.device_id);
  w.key("command").str(c.command);
  w.key("parameters").raw(c.parameters);  // stored as serialised by nlohmann::json
  w.key("state").str(c.state);
  w.key("issued_at").iso(c.issued_at_ms);
  w.key("sent_at").opt_iso(c.sent_at_ms);
  w.key("completed_at").opt_iso(c.completed_at_ms);
  w.key("expires_at").iso(c.expires_at_ms);
  w.key("message").str_or_null(c.message);
  w.end_object();
}

ApiError no_service() {
  return ApiError{503, "commands_unavailable", "commands are not available in this process"};
}

Response issue_error(Flavor f, const commands::IssueError& e) {
  Response r = render(f, ApiError{e.status, e.code, e.message});
  if (e.retry_after_s > 0) r.headers.emplace_back("Retry-After", std::to_string(e.retry_after_s));
  return r;
}

Parsed<std::string> path_device(const PathParams& pp) {
  const auto& id = pp.at("id");
  if (!valid_device_id(id))
    return tl::unexpected(bad_param("device id must be 1-64 characters of A-Z a-z 0-9 _ . : -"));
  return id;
}

}  // namespace

Response issue_command(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto device = path_device(pp);
  if (!device) return device.error().to_response();
  auto body = parse_command_body(req.body, false);
  if (!body) return body.error().to_response();
  if (!ctx.commands) return no_service().to_response();
  auto c = ctx.commands->issue(*device, std::move(body->command), std::move(body->parameters));
  if (!c) return issue_error(Flavor::v1, c.error());
  JsonWriter w(512);
  write_command(w, *c);
  return json_response(202, w.take());
}

Response device_commands(const ApiContext& ctx, const Request& req, const PathParams& pp) {
  auto device = path_device(pp);
  if (!device) return device.error().to_response();
  storage::CommandQuery q;
  q.device_id = *device;
  if (auto s = req.param("state"); s && !s->empty()) {
    if (!storage::valid_command_state(*s))
      return bad_param("state must be pending, sent, acknowledged, failed or expired").to_response();
    q.state = *s;
  }
  auto limit = int_param(req, "limit", 1, 1'000, 100);
  if (!limit) return limit.error().to_response();
  auto offset = int_param(req, "offset", 0, 10'000'000, 0);
  if (!offset) return offset.error().to_response();
  q.limit = static_cast<int>(*limit);
  q.offset = static_cast<int>(*offset);
  if (!ctx.commands) return no_service().to_response();
  auto& repo = ctx.commands->repository();
  auto list = repo.list(q);
  if (list.empty() && !repo.device_exists(*device))
    return not_found("no device " + *device).to_response();
  JsonWriter w(128 + list.size() * 384);
  begin_page(w, list.size(), q.limit, q.offset);
  for (const auto& c : list) write_command(w, c);
  w.end_array().end_object();
  return ok_json(w);
}

Response device_command(const ApiContext& ctx, const Request&, const PathParams& pp) {
  auto device = path_device(pp);
  if (!device) return device.error().to_response();
  const auto& id = pp.at("command_id");
  if (!ctx.commands) return no_service().to_response();
  auto c = id.size() <= 128 ? ctx.commands->repository().get(*device, id) : std::nullopt;
  if (!c) return not_found("device " + *device + " has no command " + id.substr(0, 128)).to_response();
  JsonWriter w(512);
  write_command(w, *c);
  return ok_json(w);
}

// Seed 002's body {"device_id", "command", "parameters"} and its 202 answer
// {"status", "device_id", "command", "message"}, plus command_id and state. "status" stays
// the seed's "acknowledged" (the request was accepted); the command's own state is "state".
Response seed002_control(const ApiContext& ctx, const Request& req, const PathParams&) {
  auto body = parse_command_body(req.body, true);
  if (!body) return render(Flavor::seed002, body.error());
  if (!ctx.commands) return render(Flavor::seed002, no_service());
  auto c = ctx.commands->issue(*body->device_id, body->command, std::move(body->parameters));
  if (!c) return issue_error(Flavor::seed002, c.error());
  JsonWriter w(384);
  w.begin_object();
  w.key("status").str("acknowledged");
  w.key("device_id").str(c->device_id);
  w.key("command").str(c->command);
  w.key("message").str("Command queued for publishing to the device (command_id " + c->command_id + ")");
  w.key("command_id").str(c->command_id);
  w.key("state").str(c->state);
  w.end_object();
  return json_response(202, w.take());
}

}  // namespace iotd::http::api
