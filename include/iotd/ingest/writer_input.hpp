// The writer's input port: where the writer takes raw messages from (the journal for MQTT,
// the submission queue for HTTP) and whom it tells once they are committed. One reader
// (the writer's decode thread) calls read(); committed()/abandoned() come from the writer
// thread; wake() from any thread.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "iotd/core/ingest_submitter.hpp"

namespace iotd::ingest {

class WriterInput;

// One raw message on its way through the writer.
struct InputMessage {
  WriterInput* input = nullptr;     // set by read(): whom to tell about the outcome
  MessageSource source = MessageSource::mqtt;
  std::uint64_t seq = 0;            // position in a durable input (journal seq); 0 otherwise
  std::int64_t received_at_ms = 0;
  std::uint8_t flags = 0;           // journal::FrameFlags
  std::string topic;                // MQTT topic; empty for HTTP
  std::string payload;
  std::string device_id;            // authenticated device (HTTP), empty otherwise
  std::shared_ptr<void> context;    // the input's own bookkeeping (HTTP: the submission)
  std::uint32_t index = 0;          // position within `context`
  ItemOutcome outcome;              // set by the writer before committed()
};

class WriterInput {
 public:
  virtual ~WriterInput() = default;

  // Durable inputs (one per writer: the journal) are checkpointed in the transaction that
  // commits their messages and resume after that checkpoint; "" means not durable (nothing
  // to checkpoint, nothing to replay).
  virtual std::string checkpoint_id() const { return {}; }
  // Durable inputs: the last seq available to read (0 when empty).
  virtual std::uint64_t last_seq() const { return 0; }
  // Durable inputs: read from after `seq` (the committed checkpoint of this input, or 0).
  virtual void resume_after(std::uint64_t seq) {}

  // Appends up to max_items messages / max_bytes payload bytes to `out` (at least one when
  // any is ready), waiting up to `wait` when none is. Returns the number added; 0 also after
  // wake().
  virtual std::size_t read(std::vector<InputMessage>& out, std::size_t max_items,
                           std::size_t max_bytes, std::chrono::milliseconds wait) = 0;
  // Ends a wait in read() now, or makes the next read() return at once.
  virtual void wake() = 0;
  // Called with `hook` by the writer for every input but the one it waits on: the input
  // calls hook() whenever it has new messages, so the writer wakes for them.
  virtual void set_ready_hook(std::function<void()> hook) {}

  // The transaction holding `msgs` (this input's, in read order, outcomes set) committed.
  virtual void committed(std::span<InputMessage> msgs) = 0;
  // The writer stopped before it could commit `msgs`; a durable input keeps them for the
  // next start.
  virtual void abandoned(std::span<InputMessage> msgs) {}
};

}  // namespace iotd::ingest
