#include "wal_checkpointer.hpp"

#include <soci/soci.h>

#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "dialect.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"

namespace iotd::storage::detail {
namespace {

// PRAGMA wal_checkpoint(mode) -> (busy, frames in the WAL, frames checkpointed).
struct CheckpointResult {
  int busy = 0;
  long long log = 0, done = 0;
};

CheckpointResult checkpoint(soci::session& s, std::string_view mode) {
  CheckpointResult r;
  s << "PRAGMA wal_checkpoint(" << mode << ")", soci::into(r.busy), soci::into(r.log),
      soci::into(r.done);
  return r;
}

}  // namespace

WalCheckpointer::WalCheckpointer(const ConnectionSpec& spec, soci::session& writer,
                                 WalCheckpointOptions opts)
    : opts_(opts), session_(open_session(spec)), wal_path_(spec.sqlite_path + "-wal") {
  const std::string limit = std::to_string(opts_.journal_size_limit);
  writer << "PRAGMA wal_autocheckpoint = 0";
  writer << "PRAGMA journal_size_limit = " + limit;
  *session_ << "PRAGMA wal_autocheckpoint = 0";
  *session_ << "PRAGMA journal_size_limit = " + limit;
  thread_ = std::jthread([this](std::stop_token stop) {
    set_thread_name("iotd-walckpt");
    run(stop);
  });
}

WalCheckpointer::~WalCheckpointer() {
  thread_.request_stop();
  if (thread_.joinable()) thread_.join();
}

void WalCheckpointer::after_commit(soci::session& writer) noexcept {
  bool was_pending;
  {
    std::lock_guard lock(mu_);
    was_pending = std::exchange(pending_, true);
  }
  // Only a thread waiting for the first commit needs waking: one already letting commits
  // accumulate would wake for each of them (a context switch per commit) just to sleep again.
  if (!was_pending) cv_.notify_one();
  std::error_code ec;
  const std::uintmax_t size = std::filesystem::file_size(wal_path_, ec);
  if (ec || size <= opts_.writer_limit_bytes) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_own_ < opts_.interval) return;  // a reader may pin old frames: don't spin
  last_own_ = now;
  try {
    // RESTART waits (busy timeout) for the checkpointer thread and for readers of old
    // frames, so the next transaction is sure to start the WAL over.
    // SQLite does not wait for another connection's checkpoint: wait for ours here.
    std::lock_guard lock(checkpoint_mu_);
    checkpoint(writer, "RESTART");
    ++checkpoints_;
  } catch (...) {
    // Tried again after a later commit.
  }
}

void WalCheckpointer::run(std::stop_token stop) {
  log::ModuleScope module("storage");
  std::unique_lock lock(mu_);
  while (!stop.stop_requested()) {
    if (!cv_.wait(lock, stop, [&] { return pending_; })) break;
    // Let commits accumulate: a page rewritten by many commits is copied once.
    cv_.wait_for(lock, stop, opts_.interval, [] { return false; });
    if (stop.stop_requested()) break;
    pending_ = false;
    lock.unlock();
    try {
      std::lock_guard ckpt(checkpoint_mu_);
      checkpoint(*session_, "PASSIVE");
      ++checkpoints_;
    } catch (...) {
      // Busy or I/O trouble: the next commit wakes us again.
    }
    lock.lock();
  }
}

}  // namespace iotd::storage::detail
