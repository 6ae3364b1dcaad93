#include "iotd/ingest/submission_queue.hpp"

#include <spdlog/spdlog.h>

#include <atomic>

namespace iotd::ingest {

struct SubmissionQueue::Submission {
  std::vector<IngestItem> items;  // payloads and ids move out when the writer takes them
  std::chrono::steady_clock::time_point deadline;
  SubmitCompletion done;
  std::vector<ItemOutcome> outcomes;  // slot i written once, by whoever settles item i
  std::atomic<std::size_t> remaining;
  std::atomic<bool> failed{false};
  bool taken = false;  // guarded by the queue's mu_

  Submission(std::vector<IngestItem> i, std::chrono::steady_clock::time_point d, SubmitCompletion c)
      : items(std::move(i)), deadline(d), done(std::move(c)), outcomes(items.size()), remaining(items.size()) {}

  // Runs the completion; the caller is the one who settled the last item (or who dropped
  // the whole submission), so this happens once.
  void finish(SubmitStatus status) {
    SubmitResult r;
    r.status = status;
    if (status != SubmitStatus::timed_out) r.items = std::move(outcomes);
    auto cb = std::move(done);
    if (!cb) return;
    try {
      cb(std::move(r));
    } catch (const std::exception& e) {
      spdlog::error("ingest completion threw: {}", e.what());
    } catch (...) {
      spdlog::error("ingest completion threw");
    }
  }
};

SubmissionQueue::SubmissionQueue(SubmissionQueueOptions opts) : opts_(opts) {}

SubmissionQueue::~SubmissionQueue() { close(); }

Admission SubmissionQueue::submit(std::vector<IngestItem> items,
                                  std::chrono::steady_clock::time_point deadline,
                                  SubmitCompletion done) {
  std::size_t bytes = 0;
  for (const auto& i : items) bytes += i.payload.size();
  if (items.size() > opts_.max_items || bytes > opts_.max_bytes) return Admission::too_large;
  std::function<void()> hook;
  if (items.empty()) {  // nothing to commit: completes at once
    {
      std::lock_guard lock(mu_);
      if (closed_) return Admission::closed;
    }
    if (done) done(SubmitResult{SubmitStatus::committed, {}});
    return Admission::accepted;
  }
  {
    std::lock_guard lock(mu_);
    if (closed_) return Admission::closed;
    if (queue_.size() + items.size() > opts_.max_items || queued_bytes_ + bytes > opts_.max_bytes)
      return Admission::queue_full;
    const auto n = static_cast<std::uint32_t>(items.size());
    auto sub = std::make_shared<Submission>(std::move(items), deadline, std::move(done));
    for (std::uint32_t i = 0; i < n; ++i) queue_.push_back({sub, i});
    queued_bytes_ += bytes;
    hook = ready_hook_;
  }
  cv_.notify_one();
  if (hook) hook();
  return Admission::accepted;
}

std::size_t SubmissionQueue::queued_items() const {
  std::lock_guard lock(mu_);
  return queue_.size();
}

void SubmissionQueue::set_ready_hook(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  ready_hook_ = std::move(hook);
}

void SubmissionQueue::wake() {
  {
    std::lock_guard lock(mu_);
    wake_ = true;
  }
  cv_.notify_all();
}

std::size_t SubmissionQueue::read(std::vector<InputMessage>& out, std::size_t max_items,
                                  std::size_t max_bytes, std::chrono::milliseconds wait) {
  std::vector<std::shared_ptr<Submission>> expired;
  std::size_t added = 0;
  {
    std::unique_lock lock(mu_);
    if (queue_.empty() && !wake_ && wait.count() > 0)
      cv_.wait_for(lock, wait, [&] { return !queue_.empty() || wake_; });
    wake_ = false;
    const auto now = std::chrono::steady_clock::now();
    std::size_t bytes = 0;
    while (!queue_.empty() && added < max_items) {
      Entry& e = queue_.front();
      Submission& sub = *e.submission;
      if (!sub.taken && sub.deadline <= now) {
        // Its caller has answered 503 by now: drop it whole (its entries are contiguous).
        auto dropped = e.submission;
        while (!queue_.empty() && queue_.front().submission == dropped) {
          queued_bytes_ -= dropped->items[queue_.front().index].payload.size();
          queue_.pop_front();
        }
        expired.push_back(std::move(dropped));
        continue;
      }
      IngestItem& item = sub.items[e.index];
      if (added > 0 && bytes + item.payload.size() > max_bytes) break;
      bytes += item.payload.size();
      queued_bytes_ -= item.payload.size();
      sub.taken = true;
      InputMessage& m = out.emplace_back();
      m.input = this;
      m.source = item.source;
      m.received_at_ms = item.received_at_ms;
      m.payload = std::move(item.payload);
      m.device_id = std::move(item.device_id);
      m.index = e.index;
      m.context = std::move(e.submission);
      queue_.pop_front();
      ++added;
    }
  }
  for (auto& s : expired) s->finish(SubmitStatus::timed_out);
  return added;
}

void SubmissionQueue::settle(InputMessage& m, bool committed) {
  auto sub = std::static_pointer_cast<Submission>(m.context);
  m.context.reset();
  if (!sub) return;
  if (committed)
    sub->outcomes[m.index] = std::move(m.outcome);
  else
    sub->failed = true;
  if (sub->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1)
    sub->finish(sub->failed ? SubmitStatus::stopped : SubmitStatus::committed);
}

void SubmissionQueue::committed(std::span<InputMessage> msgs) {
  for (auto& m : msgs) settle(m, true);
}

void SubmissionQueue::abandoned(std::span<InputMessage> msgs) {
  for (auto& m : msgs) settle(m, false);
}

void SubmissionQueue::close() {
  std::deque<Entry> left;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    left.swap(queue_);
    queued_bytes_ = 0;
  }
  cv_.notify_all();
  for (auto& e : left) {
    auto& sub = *e.submission;
    sub.failed = true;
    if (sub.remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) sub.finish(SubmitStatus::stopped);
  }
}

}  // namespace iotd::ingest
