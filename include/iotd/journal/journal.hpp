// Append-only ingest journal (docs/architecture.md §4): raw MQTT frames are made durable here
// before the QoS 1 PUBACK goes out; the writer thread tails it and checkpoints what it
// committed. Thread-safe: append() from one producer at a time (the Paho callback), read() from
// one consumer (the writer), stats from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iotd::journal {

enum FrameFlags : std::uint8_t { kDup = 1, kRetained = 2 };

struct Frame {
  std::uint64_t seq = 0;
  std::int64_t received_at_ms = 0;
  std::uint8_t flags = 0;
  std::string topic;
  std::string payload;
};

enum class FsyncPolicy { interval, always, off };

struct JournalOptions {
  std::filesystem::path dir = "data/journal";
  FsyncPolicy fsync = FsyncPolicy::interval;
  std::chrono::milliseconds fsync_interval{1000};
  std::uint64_t segment_bytes = 64ULL << 20;
  std::uint64_t max_bytes = 1ULL << 30;  // the bound callers pause intake at (see over_bound())
  std::size_t dedup_window = 8192;       // K recent (topic, payload) hashes for dup=1 frames
};

struct RecoveryReport {
  std::uint64_t truncated_bytes = 0;      // torn/corrupt tail of the last segment
  std::uint32_t quarantined_segments = 0; // older segments with a bad frame, renamed *.bad
  std::uint64_t frames_found = 0;
};

enum class AppendResult { appended, duplicate, failed };

class Journal {
 public:
  // Opens (creating) the directory, takes an exclusive flock on it, recovers the tail and
  // rebuilds the dedup window. Throws std::runtime_error naming the path on failure.
  explicit Journal(JournalOptions opts);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  // Durable against process death when it returns `appended` (write(2) done; fsync per
  // policy). Returns `duplicate` for a dup-flagged frame whose (topic, payload) hash is in
  // the recent window (nothing written). Never throws.
  AppendResult append(std::string_view topic, std::string_view payload,
                      std::int64_t received_at_ms, std::uint8_t flags);

  // Positions the reader after `seq` (frames with a greater seq come next). Use at start
  // with the committed checkpoint; 0 reads from the oldest frame on disk.
  void seek_after(std::uint64_t seq);
  // Appends up to max_frames/max_bytes frames to `out` (published ones only); waits up to
  // `wait` when none is available. Returns the number of frames added.
  std::size_t read(std::vector<Frame>& out, std::size_t max_frames, std::size_t max_bytes,
                   std::chrono::milliseconds wait);
  // Everything up to `seq` is committed in the database: segments wholly at or below the
  // previous checkpoint may now be deleted.
  void checkpoint(std::uint64_t seq);
  // Deletes the sealed segments the last checkpoint covers, as the next checkpoint would:
  // for when no next one comes (intake paused with everything committed; issue 12). Any
  // thread.
  void release_committed();
  // Makes the next appended frame's seq greater than `seq` (the database checkpoint is
  // ahead of what survived on disk, e.g. after a power loss with fsync=interval).
  // Throws std::runtime_error when a new segment cannot be created.
  void skip_past(std::uint64_t seq);
  // Wakes a reader blocked in read() (shutdown).
  void wake();

  const std::string& uuid() const;          // journal identity (header of every segment)
  std::uint64_t last_seq() const;           // last published seq (0 when empty)
  std::uint64_t committed_seq() const;      // last checkpoint
  std::uint64_t bytes_on_disk() const;      // sum of live segment sizes
  // bytes_on_disk() + quarantined_bytes() >= max_bytes: quarantined files count toward the
  // bound (docs/architecture.md §4, "Quarantined files").
  bool over_bound() const;
  const RecoveryReport& recovery() const;
  std::uint64_t append_failures() const;
  std::uint64_t fsyncs() const;             // fdatasync calls on segments so far
  std::uint64_t duplicates_dropped() const;
  std::uint64_t read_errors() const;        // bad frames met by read() (each skips a segment)
  void sync();                              // fdatasync the open segment now

  // Fault handling (issue 12).
  std::uint64_t quarantined_files() const;  // *.bad files in the directory (found at open)
  std::uint64_t quarantined_bytes() const;  // their total size
  // Bytes available to iotd on the journal's filesystem (statvfs f_bavail), nullopt when
  // it cannot be read.
  std::optional<std::uint64_t> filesystem_free_bytes() const;
  // What the last failed append met ("write: No space left on device"); empty before any.
  std::string last_failure() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

FsyncPolicy parse_fsync_policy(std::string_view s);  // throws std::invalid_argument

}  // namespace iotd::journal
