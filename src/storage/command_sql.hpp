// Private to src/storage: the commands SQL the writer's store runs inside its transaction
// (a device's ack, docs/architecture.md §7), shared with the command repository.
#pragma once

#include <span>
#include <vector>

#include "iotd/storage/commands.hpp"

namespace soci {
class session;
}  // namespace soci

namespace iotd::storage::detail {

// Per ack: pending | sent -> acknowledged (ok) or failed, with the device's message, when
// the command belongs to the ack's device; what happened to each, in order.
std::vector<AckMatch> apply_command_acks(soci::session& s, std::span<const CommandAckUpdate> acks);

}  // namespace iotd::storage::detail
