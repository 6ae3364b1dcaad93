#include "iotd/ingest/command_ack.hpp"
#include "iotd/core/log.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace iotd::ingest {
namespace {

constexpr std::size_t kMaxCommandIdBytes = 128;
constexpr std::size_t kMaxMessageBytes = 1024;

tl::unexpected<pipeline::Rejection> bad(std::string detail) {
  return tl::unexpected(pipeline::Rejection{std::string(kBadCommandAck), std::move(detail)});
}

}  // namespace

tl::expected<CommandAck, pipeline::Rejection> parse_command_ack(std::string_view payload,
                                                                std::string_view device_id,
                                                                std::int64_t received_at_ms) {
  if (device_id.empty() || !pipeline::valid_device_id(device_id))
    return tl::unexpected(pipeline::Rejection{std::string(pipeline::reason::no_device_id),
                                              "the command ack topic names no valid device id"});
  const auto j = nlohmann::json::parse(payload.begin(), payload.end(), nullptr, false);
  if (j.is_discarded()) return bad("command ack is not JSON");
  if (!j.is_object()) return bad("command ack must be a JSON object");
  CommandAck ack;
  ack.device_id = std::string(device_id);
  ack.received_at_ms = received_at_ms;

  const auto id = j.find("command_id");
  if (id == j.end()) return bad("command ack lacks \"command_id\"");
  if (id->is_string()) {
    ack.command_id = id->get<std::string>();
  } else if (id->is_number_integer() || id->is_number_unsigned()) {
    ack.command_id = id->dump();
  } else {
    return bad("\"command_id\" must be a string or an integer");
  }
  if (ack.command_id.empty() || ack.command_id.size() > kMaxCommandIdBytes)
    return bad("\"command_id\" must be 1 to " + std::to_string(kMaxCommandIdBytes) + " characters");

  const auto status = j.find("status");
  if (status == j.end() || !status->is_string())
    return bad("command ack needs \"status\": \"ok\" or \"error\"");
  const auto& s = status->get_ref<const std::string&>();
  if (s == "ok")
    ack.ok = true;
  else if (s != "error")
    return bad("\"status\" must be \"ok\" or \"error\", not \"" + s.substr(0, 32) + "\"");

  if (const auto m = j.find("message"); m != j.end() && !m->is_null()) {
    if (!m->is_string()) return bad("\"message\" must be a string");
    ack.message = m->get<std::string>().substr(0, kMaxMessageBytes);
  }
  return ack;
}

void CountingAckSink::committed(std::span<const CommandAck> acks) {
  counters_.command_acks += acks.size();
  for (const auto& a : acks) {
    log::DeviceScope device(a.device_id);
    spdlog::debug("command ack from {}: command {} {}{}{}", a.device_id, a.command_id,
                  a.ok ? "ok" : "error", a.message.empty() ? "" : ": ", a.message);
  }
}

void StoringAckSink::apply(storage::WriteStore& tx, std::span<const CommandAck> acks) {
  std::vector<storage::CommandAckUpdate> updates;
  updates.reserve(acks.size());
  for (const auto& a : acks)
    updates.push_back(storage::CommandAckUpdate{a.command_id, a.device_id, a.ok, a.message, a.received_at_ms});
  last_ = tx.apply_command_acks(updates);
}

void StoringAckSink::committed(std::span<const CommandAck> acks) {
  counters_.command_acks += acks.size();
  for (std::size_t i = 0; i < acks.size(); ++i) {
    const auto& a = acks[i];
    const auto match = i < last_.size() ? last_[i] : storage::AckMatch::unknown;
    log::DeviceScope device(a.device_id);
    switch (match) {
      case storage::AckMatch::applied:
        counters_.commands_by_state.add(a.ok ? storage::command_state::acknowledged
                                             : storage::command_state::failed);
        spdlog::debug("command {} of {}: {}{}{}", a.command_id, a.device_id,
                      a.ok ? "acknowledged" : "failed", a.message.empty() ? "" : ": ", a.message);
        break;
      case storage::AckMatch::late:
        counters_.command_acks_late++;
        spdlog::info("ack from {} for command {}, which had already finished: ignored", a.device_id,
                     a.command_id);
        break;
      case storage::AckMatch::unknown:
        counters_.command_acks_unmatched++;
        spdlog::info("ack from {} names no command of that device ({}): ignored", a.device_id,
                     a.command_id);
        break;
    }
  }
  last_.clear();
}

}  // namespace iotd::ingest
