// Process-wide counters shown by /api/v1/health, /metrics and logs. Thread-safe (atomics).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace iotd {

class Counters {
 public:
  std::atomic<std::uint64_t> mqtt_received{0};        // frames appended to the journal
  std::atomic<std::uint64_t> mqtt_duplicates{0};      // dup=1 frames dropped by the window
  std::atomic<std::uint64_t> mqtt_retained_ignored{0};
  std::atomic<std::uint64_t> journal_append_failures{0};
  std::atomic<std::uint64_t> messages_stored{0};      // message rows committed
  std::atomic<std::uint64_t> messages_deduplicated{0};// content-dedup hits
  std::atomic<std::uint64_t> nonfinite_dropped{0};
  std::atomic<std::uint64_t> clock_skew{0};
  std::atomic<std::uint64_t> bad_timestamp{0};
  std::atomic<std::uint64_t> device_id_mismatch{0};
  std::atomic<std::uint64_t> alerts_raised{0};
  std::atomic<std::uint64_t> alerts_cleared{0};
  std::atomic<std::uint64_t> commits{0};
  std::atomic<std::uint64_t> commit_failures{0};
  std::atomic<std::int64_t> last_commit_at_ms{0};
  std::atomic<std::uint64_t> http_requests{0};
  std::atomic<std::uint64_t> command_acks{0};         // device command acks committed

  void add_reject(const std::string& reason, std::uint64_t n = 1) {
    std::lock_guard lock(mu_);
    rejects_[reason] += n;
  }
  std::map<std::string, std::uint64_t> rejects() const {
    std::lock_guard lock(mu_);
    return rejects_;
  }
  std::uint64_t rejects_total() const {
    std::lock_guard lock(mu_);
    std::uint64_t n = 0;
    for (const auto& [_, v] : rejects_) n += v;
    return n;
  }

 private:
  mutable std::mutex mu_;
  std::map<std::string, std::uint64_t> rejects_;  // guarded by mu_
};

}  // namespace iotd
