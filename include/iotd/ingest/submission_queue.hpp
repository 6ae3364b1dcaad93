// The bounded in-memory queue between HTTP ingest and the writer: submit() from any thread
// (never blocks; refuses at once when full), the writer reads it as a non-durable input and
// completes each submission after the transaction holding its last item commits.
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

#include "iotd/core/ingest_submitter.hpp"
#include "iotd/ingest/writer_input.hpp"

namespace iotd::ingest {

struct SubmissionQueueOptions {
  std::size_t max_items = 10000;      // queued messages, not yet taken by the writer
  std::size_t max_bytes = 32u << 20;  // their payload bytes
};

class SubmissionQueue final : public IngestSubmitter, public WriterInput {
 public:
  explicit SubmissionQueue(SubmissionQueueOptions opts = {});
  // Completes whatever is still queued as `stopped`.
  ~SubmissionQueue() override;
  SubmissionQueue(const SubmissionQueue&) = delete;
  SubmissionQueue& operator=(const SubmissionQueue&) = delete;

  Admission submit(std::vector<IngestItem> items, std::chrono::steady_clock::time_point deadline,
                   SubmitCompletion done) override;
  // Refuses further submissions and completes the queued ones as `stopped` (after the
  // writer has stopped: what it drained is committed by then).
  void close();

  std::size_t queued_items() const;

  // WriterInput
  std::size_t read(std::vector<InputMessage>& out, std::size_t max_items, std::size_t max_bytes,
                   std::chrono::milliseconds wait) override;
  void wake() override;
  void set_ready_hook(std::function<void()> hook) override;
  void committed(std::span<InputMessage> msgs) override;
  void abandoned(std::span<InputMessage> msgs) override;

 private:
  struct Submission;
  struct Entry {
    std::shared_ptr<Submission> submission;
    std::uint32_t index;
  };
  void settle(InputMessage& m, bool committed);

  SubmissionQueueOptions opts_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;       // guarded by mu_
  std::size_t queued_bytes_ = 0;  // guarded by mu_
  bool closed_ = false;           // guarded by mu_
  bool wake_ = false;             // guarded by mu_
  std::function<void()> ready_hook_;  // set before the writer starts
};

}  // namespace iotd::ingest
