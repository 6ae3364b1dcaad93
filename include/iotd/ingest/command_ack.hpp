// A device's answer to a command, published on the IOTD_COMMAND_ACK_TOPIC template:
// {"command_id": "..."|n, "status": "ok"|"error", "message"?: "..."}. The writer parses
// acks (pure) and hands them to a CommandAckSink inside its transaction.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "iotd/core/counters.hpp"
#include "iotd/pipeline/decoder.hpp"
#include "iotd/storage/store.hpp"

namespace iotd::ingest {

inline constexpr std::string_view kBadCommandAck = "bad_command_ack";  // rejects.reason

struct CommandAck {
  std::string device_id;   // from the topic
  std::string command_id;  // a numeric id is kept as its decimal text
  bool ok = false;         // "status": "ok" (true) or "error"
  std::string message;     // optional
  std::int64_t received_at_ms = 0;
};

// Pure; never throws. Rejects (reason kBadCommandAck, or no_device_id) say what is wrong.
tl::expected<CommandAck, pipeline::Rejection> parse_command_ack(std::string_view payload,
                                                                std::string_view device_id,
                                                                std::int64_t received_at_ms);

// Where the writer delivers acks. Called on the writer thread only.
class CommandAckSink {
 public:
  virtual ~CommandAckSink() = default;
  // Inside the writer's open transaction on `tx`, before the commit: an exception rolls
  // the batch back like a database error (retried when tx says transient, else bisected
  // until the offending ack goes to rejects). May run again for the same acks after a
  // rollback.
  virtual void apply(storage::WriteStore& tx, std::span<const CommandAck> acks) = 0;
  // After the transaction committed.
  virtual void committed(std::span<const CommandAck> acks) {}
};

// Until commands are stored: counts acks (Counters::command_acks) and logs them at debug.
class CountingAckSink final : public CommandAckSink {
 public:
  explicit CountingAckSink(Counters& counters) : counters_(counters) {}
  void apply(storage::WriteStore&, std::span<const CommandAck>) override {}
  void committed(std::span<const CommandAck> acks) override;

 private:
  Counters& counters_;
};

// Commands are stored (issue 9): apply() updates each ack's command row in the writer's
// transaction (WriteStore::apply_command_acks); committed() counts acks, the states they
// reached (Counters::commands_by_state) and the acks that matched no open command (unknown:
// command_acks_unmatched; already finished: command_acks_late). Writer thread only.
class StoringAckSink final : public CommandAckSink {
 public:
  explicit StoringAckSink(Counters& counters) : counters_(counters) {}
  void apply(storage::WriteStore& tx, std::span<const CommandAck> acks) override;
  void committed(std::span<const CommandAck> acks) override;

 private:
  Counters& counters_;
  std::vector<storage::AckMatch> last_;  // what the last apply() did, one per ack
};

}  // namespace iotd::ingest
