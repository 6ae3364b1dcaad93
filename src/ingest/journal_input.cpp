#include "iotd/ingest/journal_input.hpp"

#include <spdlog/spdlog.h>

namespace iotd::ingest {

JournalInput::JournalInput(journal::Journal& journal) : journal_(journal) {}

void JournalInput::resume_after(std::uint64_t seq) {
  if (seq > journal_.last_seq()) {
    spdlog::warn("the database has committed journal seq {} but the journal ends at {} (its unsynced "
                 "tail was lost, e.g. power loss with IOTD_JOURNAL_FSYNC=interval); numbering resumes "
                 "after {}", seq, journal_.last_seq(), seq);
    journal_.skip_past(seq);
  }
  journal_.seek_after(seq);
}

std::size_t JournalInput::read(std::vector<InputMessage>& out, std::size_t max_items,
                               std::size_t max_bytes, std::chrono::milliseconds wait) {
  frames_.clear();
  const std::size_t n = journal_.read(frames_, max_items, max_bytes, wait);
  for (auto& f : frames_) {
    InputMessage& m = out.emplace_back();
    m.input = this;
    m.source = MessageSource::mqtt;
    m.seq = f.seq;
    m.received_at_ms = f.received_at_ms;
    m.flags = f.flags;
    m.topic = std::move(f.topic);
    m.payload = std::move(f.payload);
  }
  return n;
}

void JournalInput::committed(std::span<InputMessage> msgs) {
  if (!msgs.empty()) journal_.checkpoint(msgs.back().seq);
}

}  // namespace iotd::ingest
