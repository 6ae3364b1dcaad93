// Commands to devices, stored in the `commands` table (migration 0002): the rows, their
// states, and the repository the command service and the HTTP handlers use. The device's
// ack is applied by the writer, inside its transaction, through
// WriteStore::apply_command_acks (store.hpp). Implementations are thread-safe (each call
// leases a session from a small pool) and BLOCKING: never call them on io threads.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iotd::storage {

struct ConnectionSpec;

// pending -> sent (the broker's PUBACK) -> acknowledged | failed (the device's ack)
// | expired (no ack before expires_at). pending or sent may also become failed when the
// publish fails, and pending ones found at start-up are failed (outcome unknown).
namespace command_state {
inline constexpr std::string_view pending = "pending";
inline constexpr std::string_view sent = "sent";
inline constexpr std::string_view acknowledged = "acknowledged";
inline constexpr std::string_view failed = "failed";
inline constexpr std::string_view expired = "expired";
}  // namespace command_state

bool valid_command_state(std::string_view s);

struct Command {
  std::string command_id;  // 32 hex digits
  std::string device_id;
  std::string command;
  std::string parameters = "{}";  // JSON object text
  std::string state{command_state::pending};
  std::int64_t issued_at_ms = 0;
  std::optional<std::int64_t> sent_at_ms, completed_at_ms;
  std::int64_t expires_at_ms = 0;
  std::string message;  // the device's message, or why the command failed or expired
};

struct CommandQuery {
  std::string device_id;
  std::optional<std::string> state;
  int limit = 100;
  int offset = 0;
};

// A device's answer, as the writer hands it to the store.
struct CommandAckUpdate {
  std::string command_id;
  std::string device_id;  // from the ack topic: only that device's command matches
  bool ok = false;
  std::string message;
  std::int64_t at_ms = 0;
};

enum class AckMatch {
  applied,  // the command was pending or sent and is now acknowledged or failed
  late,     // the command exists but had already finished (repeated or late ack)
  unknown,  // no command with that id for that device
};

class CommandRepository {
 public:
  virtual ~CommandRepository() = default;

  // The device is in the devices table.
  virtual bool device_exists(const std::string& device_id) = 0;
  virtual void insert(const Command& c) = 0;
  // Records the PUBACK: sent_at, and pending -> sent (an ack that came first stays).
  virtual void mark_sent(const std::string& command_id, std::int64_t at_ms) = 0;
  // pending | sent -> failed with `message`; false when the command had already finished.
  virtual bool mark_failed(const std::string& command_id, const std::string& message,
                           std::int64_t at_ms) = 0;
  // pending | sent whose expires_at <= now -> expired; returns how many.
  virtual std::int64_t expire(std::int64_t now_ms, const std::string& message) = 0;
  // Every pending command -> failed (start-up: whether it reached the broker is unknown).
  virtual std::int64_t fail_pending(const std::string& message, std::int64_t at_ms) = 0;
  // A device's commands, newest first.
  virtual std::vector<Command> list(const CommandQuery& q) = 0;
  virtual std::optional<Command> get(const std::string& device_id, const std::string& command_id) = 0;
};

std::unique_ptr<CommandRepository> make_command_repository(const ConnectionSpec& spec, int pool_size);

}  // namespace iotd::storage
