// Private to src/storage. SQLite WAL checkpoints off the writer's thread: a checkpoint copies
// WAL pages into the database file and fsyncs both, and run inside the writer's COMMIT (SQLite's
// default auto-checkpoint) it stalls ingest for that long. Here a thread with its own
// connection runs PASSIVE checkpoints at most every `interval` while commits come in; the
// writer connection has auto-checkpoint off. A PASSIVE checkpoint that keeps racing new
// commits never lets the WAL restart (from its beginning, truncated to journal_size_limit),
// so the file keeps growing: past `writer_limit_bytes` the writer runs a RESTART checkpoint
// itself (little is left to copy by then; it waits for readers of old frames) and its next
// transaction starts the WAL over. after_commit() is for
// the writer's thread only.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>

#include "iotd/storage/database.hpp"

namespace soci {
class session;
}

namespace iotd::storage::detail {

struct WalCheckpointOptions {
  std::chrono::milliseconds interval{200};
  std::uintmax_t writer_limit_bytes = 64u << 20;  // WAL file size that makes the writer act
  long long journal_size_limit = 32LL << 20;      // WAL file truncated to this on restart
};

class WalCheckpointer {
 public:
  // Configures `writer` (auto-checkpoint off) and starts the thread.
  WalCheckpointer(const ConnectionSpec& spec, soci::session& writer, WalCheckpointOptions opts = {});
  ~WalCheckpointer();  // stops and joins the thread
  WalCheckpointer(const WalCheckpointer&) = delete;
  WalCheckpointer& operator=(const WalCheckpointer&) = delete;

  // After each successful COMMIT on the writer's session; never throws.
  void after_commit(soci::session& writer) noexcept;
  long long checkpoints() const { return checkpoints_.load(); }

 private:
  void run(std::stop_token stop);

  WalCheckpointOptions opts_;
  std::unique_ptr<soci::session> session_;  // used by the thread only
  std::string wal_path_;
  std::chrono::steady_clock::time_point last_own_{};  // writer's thread only
  std::mutex checkpoint_mu_;  // held while either connection checkpoints
  std::mutex mu_;
  std::condition_variable_any cv_;
  bool pending_ = false;  // guarded by mu_: commits since the last checkpoint
  std::atomic<long long> checkpoints_{0};
  std::jthread thread_;                   // last: started after everything it uses
};

}  // namespace iotd::storage::detail
