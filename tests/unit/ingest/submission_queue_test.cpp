// The HTTP side of the writer's input: bounds, deadlines, and a completion that runs once,
// after every item of the submission has been settled.
#include "iotd/ingest/submission_queue.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <thread>

namespace iotd::ingest {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::vector<IngestItem> items(std::initializer_list<std::string> payloads, std::string device = {}) {
  std::vector<IngestItem> out;
  for (const auto& p : payloads) {
    IngestItem i;
    i.payload = p;
    i.device_id = device;
    i.received_at_ms = 1767225600000;
    out.push_back(std::move(i));
  }
  return out;
}

struct Recorder {
  int calls = 0;
  std::optional<SubmitResult> result;
  SubmitCompletion callback() {
    return [this](SubmitResult r) {
      ++calls;
      result = std::move(r);
    };
  }
};

TEST(SubmissionQueue, ReadHandsOverItemsInOrderAsHttpMessages) {
  Recorder rec;  // outlives q: q's destructor completes what is still queued
  SubmissionQueue q;
  ASSERT_EQ(q.submit(items({"a", "b"}, "dev-1"), Clock::now() + 10s, rec.callback()), Admission::accepted);
  std::vector<InputMessage> out;
  EXPECT_EQ(q.read(out, 100, 1 << 20, 0ms), 2u);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].payload, "a");
  EXPECT_EQ(out[1].payload, "b");
  EXPECT_EQ(out[0].source, MessageSource::http);
  EXPECT_EQ(out[0].device_id, "dev-1");
  EXPECT_EQ(out[0].received_at_ms, 1767225600000);
  EXPECT_EQ(out[0].input, &q);
  EXPECT_EQ(out[0].seq, 0u);
  EXPECT_EQ(q.queued_items(), 0u);
  EXPECT_EQ(rec.calls, 0) << "nothing is complete before the commit";
}

TEST(SubmissionQueue, CompletionRunsOnceAfterTheLastItemCommitsWithEveryOutcome) {
  Recorder rec;  // outlives q: q's destructor completes what is still queued
  SubmissionQueue q;
  ASSERT_EQ(q.submit(items({"a", "b", "c"}), Clock::now() + 10s, rec.callback()), Admission::accepted);
  std::vector<InputMessage> first, second;
  ASSERT_EQ(q.read(first, 2, 1 << 20, 0ms), 2u);  // a batch boundary splits the submission
  ASSERT_EQ(q.read(second, 2, 1 << 20, 0ms), 1u);
  first[0].outcome = {ItemStatus::stored, "", ""};
  first[1].outcome = {ItemStatus::rejected, "not_json", "parse error"};
  q.committed(first);
  EXPECT_EQ(rec.calls, 0) << "item c has not committed yet";
  second[0].outcome = {ItemStatus::duplicate, "", ""};
  q.committed(second);
  ASSERT_EQ(rec.calls, 1);
  EXPECT_EQ(rec.result->status, SubmitStatus::committed);
  ASSERT_EQ(rec.result->items.size(), 3u);
  EXPECT_EQ(rec.result->items[0].status, ItemStatus::stored);
  EXPECT_EQ(rec.result->items[1].reason, "not_json");
  EXPECT_EQ(rec.result->items[2].status, ItemStatus::duplicate);
}

TEST(SubmissionQueue, RefusesAtOnceWhenFullAndAcceptsAgainOnceTheWriterTookItems) {
  Recorder a, b;  // outlive q: q's destructor completes what is still queued
  SubmissionQueue q({.max_items = 3, .max_bytes = 1 << 20});
  EXPECT_EQ(q.submit(items({"1", "2"}), Clock::now() + 10s, a.callback()), Admission::accepted);
  EXPECT_EQ(q.submit(items({"3", "4"}), Clock::now() + 10s, b.callback()), Admission::queue_full);
  EXPECT_EQ(q.submit(items({"1", "2", "3", "4"}), Clock::now() + 10s, b.callback()), Admission::too_large);
  std::vector<InputMessage> out;
  q.read(out, 10, 1 << 20, 0ms);
  EXPECT_EQ(q.submit(items({"3", "4"}), Clock::now() + 10s, b.callback()), Admission::accepted);
  EXPECT_EQ(b.calls, 0) << "a refused submission's completion never runs";
}

TEST(SubmissionQueue, ByteBoundRefusesToo) {
  Recorder a;  // outlives q: q's destructor completes what is still queued
  SubmissionQueue q({.max_items = 100, .max_bytes = 10});
  EXPECT_EQ(q.submit(items({"123456"}), Clock::now() + 10s, a.callback()), Admission::accepted);
  EXPECT_EQ(q.submit(items({"123456"}), Clock::now() + 10s, a.callback()), Admission::queue_full);
  EXPECT_EQ(q.submit(items({"12345678901"}), Clock::now() + 10s, a.callback()), Admission::too_large);
}

TEST(SubmissionQueue, ASubmissionPastItsDeadlineIsDroppedAsTimedOutNotHandedToTheWriter) {
  Recorder late, fresh;  // outlive q
  SubmissionQueue q;
  ASSERT_EQ(q.submit(items({"x", "y"}), Clock::now() - 1ms, late.callback()), Admission::accepted);
  ASSERT_EQ(q.submit(items({"z"}), Clock::now() + 10s, fresh.callback()), Admission::accepted);
  std::vector<InputMessage> out;
  EXPECT_EQ(q.read(out, 10, 1 << 20, 0ms), 1u);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].payload, "z");
  ASSERT_EQ(late.calls, 1);
  EXPECT_EQ(late.result->status, SubmitStatus::timed_out);
  EXPECT_EQ(fresh.calls, 0);
}

TEST(SubmissionQueue, CloseCompletesQueuedAndPartlyTakenSubmissionsAsStoppedAndRefusesMore) {
  Recorder queued, partial;  // outlive q
  SubmissionQueue q;
  ASSERT_EQ(q.submit(items({"p1", "p2"}), Clock::now() + 10s, partial.callback()), Admission::accepted);
  ASSERT_EQ(q.submit(items({"q1"}), Clock::now() + 10s, queued.callback()), Admission::accepted);
  std::vector<InputMessage> out;
  ASSERT_EQ(q.read(out, 1, 1 << 20, 0ms), 1u);  // p1 taken
  q.close();
  ASSERT_EQ(queued.calls, 1);
  EXPECT_EQ(queued.result->status, SubmitStatus::stopped);
  EXPECT_EQ(partial.calls, 0) << "p1 is still with the writer";
  q.abandoned(out);  // the writer stopped before committing p1
  ASSERT_EQ(partial.calls, 1);
  EXPECT_EQ(partial.result->status, SubmitStatus::stopped);
  Recorder after;
  EXPECT_EQ(q.submit(items({"r"}), Clock::now() + 10s, after.callback()), Admission::closed);
}

TEST(SubmissionQueue, ReadWaitsForASubmissionAndTheReadyHookFires) {
  SubmissionQueue q;
  int hook_calls = 0;
  q.set_ready_hook([&] { ++hook_calls; });
  std::vector<InputMessage> out;
  std::jthread submitter([&] {
    std::this_thread::sleep_for(50ms);
    q.submit(items({"late"}), Clock::now() + 10s, [](SubmitResult) {});
  });
  const auto t0 = Clock::now();
  EXPECT_EQ(q.read(out, 10, 1 << 20, 5s), 1u);
  EXPECT_LT(Clock::now() - t0, 4s);
  submitter.join();
  EXPECT_EQ(hook_calls, 1);
  q.wake();
  EXPECT_EQ(q.read(out, 10, 1 << 20, 5s), 0u) << "wake() ends the wait";
  q.abandoned(out);
}

}  // namespace
}  // namespace iotd::ingest
