// The port through which HTTP ingest hands raw messages to the writer (docs/architecture.md):
// submit() never blocks, and the completion runs once, after the transaction holding the
// messages has committed (or when they can no longer commit). Implementations are thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace iotd {

// Where a message came from; stored as rejects.source.
enum class MessageSource : std::uint8_t { mqtt, http };

constexpr std::string_view to_string(MessageSource s) {
  return s == MessageSource::http ? "http" : "mqtt";
}

// One raw message as received: the writer decodes it like an MQTT payload.
struct IngestItem {
  std::string payload;
  // The device an HTTP device key authenticated, empty when none. When set, it is the
  // device id the payload falls back to, and a payload naming another device is rejected.
  std::string device_id;
  std::int64_t received_at_ms = 0;
  MessageSource source = MessageSource::http;
};

enum class ItemStatus : std::uint8_t { stored, duplicate, rejected };

struct ItemOutcome {
  ItemStatus status = ItemStatus::rejected;
  std::string reason;  // rejected: a stable reason code (not_json, no_metrics, ...)
  std::string detail;  // rejected: human-readable
  // stored / duplicate: the device the message's readings belong to, and the ids of the
  // message rows this item stored (one per new reading; empty for a duplicate). `{}`:
  // brace-initialised outcomes that name only status, reason and detail stay warning-free.
  std::string device_id{};
  std::vector<std::int64_t> ids{};
};

enum class SubmitStatus : std::uint8_t {
  committed,  // `items` holds one outcome per submitted item, in order
  timed_out,  // the deadline passed before the writer took it: nothing was stored
  stopped,    // the writer stopped (or could not commit before shutdown): nothing was stored
};

struct SubmitResult {
  SubmitStatus status = SubmitStatus::stopped;
  std::vector<ItemOutcome> items;
};

// Runs exactly once, on the writer thread or (timed_out/stopped) on whichever thread found
// out; keep it short (post to the caller's executor).
using SubmitCompletion = std::function<void(SubmitResult)>;

enum class Admission : std::uint8_t {
  accepted,    // the completion will run
  queue_full,  // answer 503 with Retry-After; the completion will not run
  too_large,   // the submission alone exceeds the queue's bound; will never fit
  closed,      // shutting down; the completion will not run
};

class IngestSubmitter {
 public:
  virtual ~IngestSubmitter() = default;
  // Never blocks. A submission still waiting for the writer at `deadline` is dropped and
  // completed as timed_out; once the writer has taken it, it completes after its commit.
  // The caller still arms its own timer (IOTD_INGEST_TIMEOUT): a commit can be slow.
  virtual Admission submit(std::vector<IngestItem> items,
                           std::chrono::steady_clock::time_point deadline,
                           SubmitCompletion done) = 0;
};

}  // namespace iotd
