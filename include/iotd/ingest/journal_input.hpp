// The journal as the writer's durable input: MQTT frames in journal order, checkpointed in
// the writer's transaction and released to the journal (segment deletion) after the commit.
// Used by the writer's threads only, as WriterInput says.
#pragma once

#include "iotd/ingest/writer_input.hpp"
#include "iotd/journal/journal.hpp"

namespace iotd::ingest {

class JournalInput final : public WriterInput {
 public:
  explicit JournalInput(journal::Journal& journal);

  std::string checkpoint_id() const override { return journal_.uuid(); }
  std::uint64_t last_seq() const override { return journal_.last_seq(); }
  void resume_after(std::uint64_t seq) override;
  std::size_t read(std::vector<InputMessage>& out, std::size_t max_items, std::size_t max_bytes,
                   std::chrono::milliseconds wait) override;
  void wake() override { journal_.wake(); }
  void committed(std::span<InputMessage> msgs) override;

 private:
  journal::Journal& journal_;
  std::vector<journal::Frame> frames_;  // reused by read(): no allocation per message
};

}  // namespace iotd::ingest
