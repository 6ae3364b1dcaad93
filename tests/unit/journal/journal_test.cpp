#include "iotd/journal/journal.hpp"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <stdexcept>
#include <thread>

#include "support/temp_dir.hpp"

namespace iotd::journal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

JournalOptions options(const fs::path& dir, FsyncPolicy fsync = FsyncPolicy::off) {
  JournalOptions o;
  o.dir = dir;
  o.fsync = fsync;
  return o;
}

// Deterministic frame content for seq n: readers can check every byte.
std::string payload_for(std::uint64_t n) {
  std::string p(40 + (n * 7919) % 300, '\0');
  for (std::size_t i = 0; i < p.size(); ++i) p[i] = static_cast<char>((n * 31 + i * 7) & 0xFF);
  return p;
}
std::string topic_for(std::uint64_t n) { return "sensors/dev-" + std::to_string(n % 97) + "/data"; }

std::vector<Frame> read_all(Journal& j, std::size_t batch = 1000) {
  std::vector<Frame> out;
  while (j.read(out, batch, 1u << 30, 0ms) > 0) {
  }
  return out;
}

std::vector<fs::path> files_with(const fs::path& dir, std::string_view suffix) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string name = e.path().filename().string();
    if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
      out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::uint64_t total_size(const std::vector<fs::path>& files) {
  std::uint64_t n = 0;
  for (const auto& f : files) n += fs::file_size(f);
  return n;
}

void append_n(Journal& j, std::uint64_t from, std::uint64_t to) {
  for (std::uint64_t n = from; n <= to; ++n) {
    ASSERT_EQ(j.append(topic_for(n), payload_for(n), static_cast<std::int64_t>(n) * 1000, 0), AppendResult::appended);
  }
}

void expect_frames(const std::vector<Frame>& frames, std::uint64_t from, std::uint64_t to) {
  ASSERT_EQ(frames.size(), to - from + 1);
  for (std::uint64_t n = from; n <= to; ++n) {
    const Frame& f = frames[n - from];
    ASSERT_EQ(f.seq, n);
    ASSERT_EQ(f.topic, topic_for(n));
    ASSERT_EQ(f.payload, payload_for(n));
    ASSERT_EQ(f.received_at_ms, static_cast<std::int64_t>(n) * 1000);
  }
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  char c = 0;
  f.read(&c, 1);
  c = static_cast<char>(c ^ 0x5A);
  f.seekp(static_cast<std::streamoff>(offset));
  f.write(&c, 1);
}

TEST(JournalRoundTrip, BinaryPayloadsComeBackByteForByte) {
  test::TempDir dir;
  std::string big(1u << 20, '\0');
  std::mt19937_64 rng(42);
  for (auto& c : big) c = static_cast<char>(rng());
  const std::vector<std::pair<std::string, std::string>> in = {
      {"a/b", std::string("x\0y\0\0z", 6)},
      {"empty/payload", ""},
      {"big", big},
      {"", std::string(1, '\0')},
      {"t", std::string("\xff\xfe\x00\x01", 4)},
  };
  Journal j(options(dir.path()));
  for (std::size_t i = 0; i < in.size(); ++i) {
    const std::uint8_t flags = i == 1 ? kRetained : 0;
    EXPECT_EQ(j.append(in[i].first, in[i].second, -5 + static_cast<std::int64_t>(i), flags), AppendResult::appended);
  }
  EXPECT_EQ(j.last_seq(), in.size());
  const auto out = read_all(j);
  ASSERT_EQ(out.size(), in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    EXPECT_EQ(out[i].seq, i + 1);
    EXPECT_EQ(out[i].topic, in[i].first);
    EXPECT_EQ(out[i].payload, in[i].second) << "frame " << i;
    EXPECT_EQ(out[i].received_at_ms, -5 + static_cast<std::int64_t>(i));
    EXPECT_EQ(out[i].flags, i == 1 ? kRetained : 0);
  }
}

TEST(JournalRoundTrip, ReopenKeepsFramesIdentityAndContinuesSeqs) {
  test::TempDir dir;
  std::string id;
  {
    Journal j(options(dir.path()));
    EXPECT_EQ(j.last_seq(), 0u);
    append_n(j, 1, 30);
    id = j.uuid();
    EXPECT_EQ(id.size(), 36u);
  }
  Journal j(options(dir.path()));
  EXPECT_EQ(j.uuid(), id);
  EXPECT_EQ(j.last_seq(), 30u);
  EXPECT_EQ(j.recovery().frames_found, 30u);
  EXPECT_EQ(j.recovery().truncated_bytes, 0u);
  append_n(j, 31, 40);
  expect_frames(read_all(j), 1, 40);
}

TEST(JournalRoundTrip, NewJournalsGetDistinctIdentities) {
  test::TempDir a, b;
  EXPECT_NE(Journal(options(a.path())).uuid(), Journal(options(b.path())).uuid());
}

TEST(JournalReader, SeekAfterStartsPastTheCheckpoint) {
  test::TempDir dir;
  Journal j(options(dir.path()));
  append_n(j, 1, 50);
  j.seek_after(20);
  expect_frames(read_all(j), 21, 50);
  j.seek_after(0);
  expect_frames(read_all(j), 1, 50);
  j.seek_after(50);
  EXPECT_TRUE(read_all(j).empty());
  append_n(j, 51, 52);
  expect_frames(read_all(j), 51, 52);
}

TEST(JournalReader, RespectsMaxFramesAndMaxBytesButReturnsAtLeastOneFrame) {
  test::TempDir dir;
  Journal j(options(dir.path()));
  append_n(j, 1, 10);
  std::vector<Frame> out;
  EXPECT_EQ(j.read(out, 3, 1u << 20, 0ms), 3u);
  EXPECT_EQ(j.read(out, 100, 1, 0ms), 1u);  // one frame is larger than max_bytes
  const std::size_t two = topic_for(5).size() + payload_for(5).size() + topic_for(6).size() + payload_for(6).size();
  EXPECT_EQ(j.read(out, 100, two, 0ms), 2u);
  EXPECT_EQ(j.read(out, 100, 1u << 20, 0ms), 4u);
  expect_frames(out, 1, 10);
}

TEST(JournalReader, WaitTimesOutAndWakeInterruptsIt) {
  test::TempDir dir;
  Journal j(options(dir.path()));
  std::vector<Frame> out;
  auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(j.read(out, 10, 1u << 20, 50ms), 0u);
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 45ms);

  std::jthread waker([&] {
    std::this_thread::sleep_for(50ms);
    j.wake();
  });
  t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(j.read(out, 10, 1u << 20, 10s), 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
}

TEST(JournalReader, BlockedReadReturnsAFrameAppendedMeanwhile) {
  test::TempDir dir;
  Journal j(options(dir.path()));
  std::jthread appender([&] {
    std::this_thread::sleep_for(50ms);
    j.append("t", "late", 1, 0);
  });
  std::vector<Frame> out;
  const auto t0 = std::chrono::steady_clock::now();
  ASSERT_EQ(j.read(out, 10, 1u << 20, 10s), 1u);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 5s);
  EXPECT_EQ(out[0].payload, "late");
}

TEST(JournalSegments, RollAtTheCapAndReadAcrossSegments) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.segment_bytes = 4096;
  {
    Journal j(o);
    append_n(j, 1, 200);
    EXPECT_EQ(j.append("huge", std::string(10000, 'h'), 0, 0), AppendResult::appended);  // seq 201, own segment
    append_n(j, 202, 210);
    auto frames = read_all(j, 7);
    ASSERT_EQ(frames.size(), 210u);
    for (std::size_t i = 0; i < frames.size(); ++i) ASSERT_EQ(frames[i].seq, i + 1);
    EXPECT_EQ(frames[200].payload.size(), 10000u);
  }
  const auto segs = files_with(dir.path(), ".seg");
  EXPECT_GT(segs.size(), 10u);
  for (const auto& s : segs) {
    if (fs::file_size(s) > 4096) {
      EXPECT_EQ(s.filename().string(), "00000000000000000201.seg");
    }
  }
  EXPECT_EQ(segs.front().filename().string(), "00000000000000000001.seg");

  Journal j(o);
  EXPECT_EQ(j.last_seq(), 210u);
  EXPECT_EQ(j.bytes_on_disk(), total_size(segs));
  j.seek_after(150);  // lands in a middle segment
  auto frames = read_all(j);
  ASSERT_EQ(frames.size(), 60u);
  EXPECT_EQ(frames.front().seq, 151u);
  EXPECT_EQ(frames.back().seq, 210u);
}

TEST(JournalCheckpoint, DeletesASegmentOnlyAfterALaterCheckpointAndNeverTheActiveOne) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.segment_bytes = 2048;
  Journal j(o);
  append_n(j, 1, 100);
  const auto before = files_with(dir.path(), ".seg");
  ASSERT_GT(before.size(), 4u);
  EXPECT_EQ(j.bytes_on_disk(), total_size(before));

  j.checkpoint(100);  // first checkpoint: nothing may go yet
  EXPECT_EQ(j.committed_seq(), 100u);
  EXPECT_EQ(files_with(dir.path(), ".seg").size(), before.size());

  j.checkpoint(100);  // not a later checkpoint
  EXPECT_EQ(files_with(dir.path(), ".seg").size(), before.size());

  append_n(j, 101, 101);
  j.checkpoint(101);  // everything up to 100 is now twice committed; the active segment stays
  auto after = files_with(dir.path(), ".seg");
  ASSERT_EQ(after.size(), 1u);
  EXPECT_EQ(after.front(), files_with(dir.path(), ".seg").back());
  EXPECT_EQ(j.bytes_on_disk(), total_size(after));

  append_n(j, 102, 102);
  j.checkpoint(102);
  j.checkpoint(103);
  EXPECT_EQ(files_with(dir.path(), ".seg").size(), 1u);  // the active segment is never deleted
  append_n(j, 103, 103);
  j.seek_after(101);
  expect_frames(read_all(j), 102, 103);
}

TEST(JournalCheckpoint, KeepsSegmentsPastThePreviousCheckpoint) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.segment_bytes = 2048;
  Journal j(o);
  append_n(j, 1, 100);
  j.checkpoint(10);
  j.checkpoint(60);  // only segments ending at or below 10 may go
  const auto segs = files_with(dir.path(), ".seg");
  const std::uint64_t oldest = std::stoull(segs.front().filename().string());
  EXPECT_GT(oldest, 1u);
  EXPECT_LE(oldest, 11u);
  j.seek_after(10);
  expect_frames(read_all(j), 11, 100);
  j.seek_after(0);  // from the oldest frame still on disk
  auto frames = read_all(j);
  ASSERT_FALSE(frames.empty());
  EXPECT_EQ(frames.front().seq, oldest);
  EXPECT_EQ(frames.back().seq, 100u);
}

TEST(JournalBound, OverBoundAboveMaxBytesAndBackBelowAfterCheckpoints) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.segment_bytes = 4096;
  o.max_bytes = 16 * 1024;
  Journal j(o);
  std::uint64_t n = 0;
  while (!j.over_bound()) {
    ++n;
    ASSERT_EQ(j.append(topic_for(n), payload_for(n), 0, 0), AppendResult::appended);
    ASSERT_LT(n, 10000u);
  }
  EXPECT_GE(j.bytes_on_disk(), o.max_bytes);
  j.checkpoint(n);
  append_n(j, n + 1, n + 1);
  j.checkpoint(n + 1);
  EXPECT_FALSE(j.over_bound());
  EXPECT_LT(j.bytes_on_disk(), 4096u + 1000u);
}

TEST(JournalRecovery, ShortTailIsTruncatedAndSeqsContinue) {
  test::TempDir dir;
  {
    Journal j(options(dir.path()));
    append_n(j, 1, 100);
  }
  const auto seg = files_with(dir.path(), ".seg").back();
  fs::resize_file(seg, fs::file_size(seg) - 5);
  Journal j(options(dir.path()));
  EXPECT_GT(j.recovery().truncated_bytes, 0u);
  EXPECT_EQ(j.recovery().frames_found, 99u);
  EXPECT_EQ(j.last_seq(), 99u);
  append_n(j, 100, 101);
  expect_frames(read_all(j), 1, 101);
}

TEST(JournalRecovery, CorruptLastFrameIsTruncated) {
  test::TempDir dir;
  {
    Journal j(options(dir.path()));
    append_n(j, 1, 100);
  }
  const auto seg = files_with(dir.path(), ".seg").back();
  flip_byte(seg, fs::file_size(seg) - 3);
  Journal j(options(dir.path()));
  EXPECT_EQ(j.recovery().truncated_bytes, 35 + topic_for(100).size() + payload_for(100).size());
  EXPECT_EQ(j.recovery().quarantined_segments, 0u);
  append_n(j, 100, 100);
  expect_frames(read_all(j), 1, 100);
}

TEST(JournalRecovery, GarbageAfterTheLastFrameIsTruncated) {
  test::TempDir dir;
  {
    Journal j(options(dir.path()));
    append_n(j, 1, 100);
  }
  const auto seg = files_with(dir.path(), ".seg").back();
  {
    std::ofstream f(seg, std::ios::app | std::ios::binary);
    f << "this is not a frame, just trailing garbage";
  }
  Journal j(options(dir.path()));
  EXPECT_EQ(j.recovery().truncated_bytes, 42u);
  EXPECT_EQ(j.last_seq(), 100u);
  append_n(j, 101, 101);
  expect_frames(read_all(j), 1, 101);
}

TEST(JournalRecovery, TruncatedJournalReopensCleanlyAfterwards) {
  test::TempDir dir;
  {
    Journal j(options(dir.path()));
    append_n(j, 1, 10);
  }
  const auto seg = files_with(dir.path(), ".seg").back();
  fs::resize_file(seg, fs::file_size(seg) - 1);
  { Journal j(options(dir.path())); }
  Journal j(options(dir.path()));
  EXPECT_EQ(j.recovery().truncated_bytes, 0u);
  EXPECT_EQ(j.last_seq(), 9u);
}

TEST(JournalRecovery, BadFrameInAnOlderSegmentQuarantinesIt) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.segment_bytes = 4096;
  {
    Journal j(o);
    append_n(j, 1, 100);
  }
  const auto segs = files_with(dir.path(), ".seg");
  ASSERT_GE(segs.size(), 4u);
  flip_byte(segs[1], fs::file_size(segs[1]) / 2);
  Journal j(o);
  EXPECT_EQ(j.recovery().quarantined_segments, 1u);
  EXPECT_EQ(j.recovery().truncated_bytes, 0u);
  const auto bad = files_with(dir.path(), ".bad");
  ASSERT_EQ(bad.size(), 1u);
  EXPECT_EQ(bad[0].filename().string(), segs[1].filename().string() + ".bad");
  EXPECT_EQ(j.bytes_on_disk(), total_size(files_with(dir.path(), ".seg")));

  const std::uint64_t gap_from = std::stoull(segs[1].filename().string());
  const std::uint64_t gap_to = std::stoull(segs[2].filename().string()) - 1;
  EXPECT_EQ(j.last_seq(), 100u);
  append_n(j, 101, 101);
  const auto frames = read_all(j);
  std::uint64_t expect = 1;
  for (const auto& f : frames) {
    if (expect == gap_from) expect = gap_to + 1;
    ASSERT_EQ(f.seq, expect);
    ASSERT_EQ(f.payload, payload_for(expect));
    ++expect;
  }
  EXPECT_EQ(expect, 102u);
}

TEST(JournalRecovery, SegmentOfAnotherJournalIsQuarantinedAndSeqsNeverGoBack) {
  test::TempDir a, b;
  {
    Journal j(options(a.path()));
    append_n(j, 1, 10);
  }
  {
    Journal j(options(b.path()));
    append_n(j, 1, 5);
  }
  fs::copy_file(files_with(b.path(), ".seg").front(), a / "00000000000000000011.seg");
  Journal j(options(a.path()));
  EXPECT_EQ(j.recovery().quarantined_segments, 1u);
  EXPECT_EQ(files_with(a.path(), ".bad").size(), 1u);
  expect_frames(read_all(j), 1, 10);
  // Seqs 11.. may have been handed out by the quarantined file: new frames come after them.
  ASSERT_EQ(j.append("t", "p", 0, 0), AppendResult::appended);
  EXPECT_GT(j.last_seq(), 15u);
  auto frames = read_all(j);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0].seq, j.last_seq());
}

TEST(JournalRecovery, CorruptIdentityFileRefusesToStart) {
  test::TempDir dir;
  { Journal j(options(dir.path())); }
  std::ofstream(dir / "journal.uuid") << "not-a-uuid\n";
  EXPECT_THROW(Journal(options(dir.path())), std::runtime_error);
}

TEST(JournalDedup, DupFlaggedRepeatWithinTheWindowIsDropped) {
  test::TempDir dir;
  Journal j(options(dir.path()));
  ASSERT_EQ(j.append("s/1", "hello", 1, 0), AppendResult::appended);
  ASSERT_EQ(j.append("s/2", "other", 2, 0), AppendResult::appended);
  EXPECT_EQ(j.append("s/1", "hello", 3, kDup), AppendResult::duplicate);
  EXPECT_EQ(j.duplicates_dropped(), 1u);
  EXPECT_EQ(j.last_seq(), 2u);
  // Same bytes without the dup flag are a new message (a device may repeat itself).
  EXPECT_EQ(j.append("s/1", "hello", 4, 0), AppendResult::appended);
  // Same payload on another topic is not a duplicate.
  EXPECT_EQ(j.append("s/3", "hello", 5, kDup), AppendResult::appended);
  EXPECT_EQ(read_all(j).size(), 4u);
}

TEST(JournalDedup, DupOutsideTheWindowIsKept) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.dedup_window = 4;
  Journal j(o);
  ASSERT_EQ(j.append("s", "A", 0, 0), AppendResult::appended);
  for (int i = 0; i < 3; ++i) ASSERT_EQ(j.append("s", "x" + std::to_string(i), 0, 0), AppendResult::appended);
  EXPECT_EQ(j.append("s", "A", 0, kDup), AppendResult::duplicate);  // 4th most recent
  ASSERT_EQ(j.append("s", "y", 0, 0), AppendResult::appended);
  EXPECT_EQ(j.append("s", "A", 0, kDup), AppendResult::appended);  // pushed out
  EXPECT_EQ(j.duplicates_dropped(), 1u);
}

TEST(JournalDedup, ZeroWindowDropsNothing) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.dedup_window = 0;
  Journal j(o);
  ASSERT_EQ(j.append("s", "A", 0, 0), AppendResult::appended);
  EXPECT_EQ(j.append("s", "A", 0, kDup), AppendResult::appended);
}

TEST(JournalDedup, WindowIsRebuiltFromTheJournalTailAfterReopen) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.dedup_window = 50;
  o.segment_bytes = 2048;  // the tail spans segments
  {
    Journal j(o);
    append_n(j, 1, 200);
    j.checkpoint(200);
    j.checkpoint(200);
  }
  Journal j(o);
  EXPECT_EQ(j.append(topic_for(200), payload_for(200), 0, kDup), AppendResult::duplicate);
  EXPECT_EQ(j.append(topic_for(151), payload_for(151), 0, kDup), AppendResult::duplicate);
  EXPECT_EQ(j.append(topic_for(150), payload_for(150), 0, kDup), AppendResult::appended);
  EXPECT_EQ(j.duplicates_dropped(), 2u);
}

TEST(JournalConcurrency, ReaderSeesEveryFrameInOrderWhileAppending) {
  test::TempDir dir;
  auto o = options(dir.path());
  o.segment_bytes = 1u << 20;  // many rolls under the reader's feet
  Journal j(o);
  constexpr std::uint64_t kFrames = 200000;
  std::uint64_t mismatches = 0;
  std::uint64_t next = 1;
  std::jthread reader([&] {
    std::vector<Frame> batch;
    while (next <= kFrames) {
      batch.clear();
      j.read(batch, 2000, 1u << 20, 1s);
      for (const auto& f : batch) {
        if (f.seq != next || f.topic != topic_for(next) || f.payload != payload_for(next)) ++mismatches;
        next = f.seq + 1;
      }
      if (!batch.empty()) j.checkpoint(batch.back().seq);
    }
  });
  for (std::uint64_t n = 1; n <= kFrames; ++n) {
    if (j.append(topic_for(n), payload_for(n), static_cast<std::int64_t>(n), 0) != AppendResult::appended) {
      ADD_FAILURE() << "append " << n;
      break;
    }
  }
  reader.join();
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(next, kFrames + 1);
  EXPECT_EQ(j.read_errors(), 0u);
  EXPECT_LE(files_with(dir.path(), ".seg").size(), 3u);  // checkpoints deleted the rest
  EXPECT_EQ(j.bytes_on_disk(), total_size(files_with(dir.path(), ".seg")));
}

TEST(JournalLock, SecondJournalOnTheSameDirectoryIsRefused) {
  test::TempDir dir;
  {
    Journal j(options(dir.path()));
    try {
      Journal second(options(dir.path()));
      FAIL() << "second journal opened";
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string(e.what()).find("is in use by another process"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(dir.path().string()), std::string::npos) << e.what();
    }
  }
  EXPECT_NO_THROW(Journal(options(dir.path())));  // released on close
}

TEST(JournalFsync, EveryPolicyPersistsFramesAndClosesPromptly) {
  for (auto policy : {FsyncPolicy::always, FsyncPolicy::interval, FsyncPolicy::off}) {
    test::TempDir dir;
    auto o = options(dir.path(), policy);
    o.fsync_interval = 10ms;
    o.segment_bytes = 4096;  // rolls hand retired segments to the interval thread
    {
      Journal j(o);
      append_n(j, 1, 60);
      std::this_thread::sleep_for(30ms);  // a few interval rounds
      append_n(j, 61, 80);
      j.sync();
    }
    o.fsync_interval = 1h;  // closing must not wait for the next interval
    const auto t0 = std::chrono::steady_clock::now();
    {
      Journal j(o);
      append_n(j, 81, 81);
    }
    // Far below the 1 h interval, with room for a sanitizer build on a busy machine (opening
    // recovers every segment: 2.0-2.4 s under TSan with a load of 15 on 2 cores).
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
    Journal j(o);
    expect_frames(read_all(j), 1, 81);
  }
}

TEST(JournalFsync, ParsesThePolicyNames) {
  EXPECT_EQ(parse_fsync_policy("interval"), FsyncPolicy::interval);
  EXPECT_EQ(parse_fsync_policy("always"), FsyncPolicy::always);
  EXPECT_EQ(parse_fsync_policy("off"), FsyncPolicy::off);
  try {
    parse_fsync_policy("sometimes");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(), "IOTD_JOURNAL_FSYNC must be interval, always or off");
  }
}

// kill -9 right after append() returns: the page cache keeps what write(2) handed it.
void killed_after_appending(const fs::path& dir, FsyncPolicy policy, std::uint64_t n) {
  const pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    auto o = options(dir, policy);
    o.segment_bytes = 64 * 1024;
    Journal j(o);
    for (std::uint64_t i = 1; i <= n; ++i) {
      if (j.append(topic_for(i), payload_for(i), static_cast<std::int64_t>(i) * 1000, 0) != AppendResult::appended) {
        ::_exit(3);
      }
    }
    ::raise(SIGKILL);
    ::_exit(4);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);
}

TEST(JournalCrash, KilledProcessLosesNoAppendedFrame) {
  for (auto policy : {FsyncPolicy::off, FsyncPolicy::interval}) {
    test::TempDir dir;
    killed_after_appending(dir.path(), policy, 3000);
    Journal j(options(dir.path()));  // the dead process's flock went with it
    EXPECT_EQ(j.recovery().truncated_bytes, 0u);
    EXPECT_EQ(j.last_seq(), 3000u);
    expect_frames(read_all(j), 1, 3000);
    append_n(j, 3001, 3001);
  }
}

}  // namespace
}  // namespace iotd::journal

namespace iotd::journal {
namespace {

TEST(JournalSkip, SeqsResumePastACheckpointTheJournalLost) {
  // The database committed up to seq 40, but only 10 frames survived on disk.
  test::TempDir dir;
  {
    Journal j(options(dir.path()));
    append_n(j, 1, 10);
  }
  Journal j(options(dir.path()));
  j.skip_past(40);
  EXPECT_EQ(j.last_seq(), 40u);
  EXPECT_EQ(j.append("t", "after", 1, 0), AppendResult::appended);
  EXPECT_EQ(j.last_seq(), 41u);
  j.seek_after(40);
  auto out = read_all(j);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].seq, 41u);
  EXPECT_EQ(out[0].payload, "after");
  j.skip_past(5);  // behind the journal: nothing changes
  EXPECT_EQ(j.last_seq(), 41u);
}

}  // namespace
}  // namespace iotd::journal
