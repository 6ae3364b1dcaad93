// Runs callbacks at deadlines on one thread of its own: HTTP ingest arms one per request
// so it can answer 503 when IOTD_INGEST_TIMEOUT passes before the commit (docs/architecture.md
// §11). Callbacks run outside the lock and must be short (Respond only posts to the session).
// Thread-safe.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>
#include <utility>

namespace iotd::http {

class DeadlineTimer {
 public:
  using Clock = std::chrono::steady_clock;
  struct Ticket {
    Clock::time_point at;
    std::uint64_t id = 0;
  };

  DeadlineTimer();
  // Stops the thread; callbacks that have not run are destroyed without running.
  ~DeadlineTimer();
  DeadlineTimer(const DeadlineTimer&) = delete;
  DeadlineTimer& operator=(const DeadlineTimer&) = delete;

  Ticket schedule(Clock::time_point at, std::function<void()> fn);
  // True when the callback had not run yet (it never will now).
  bool cancel(const Ticket& t);
  std::size_t pending() const;

 private:
  void run(std::stop_token st);

  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::map<std::pair<Clock::time_point, std::uint64_t>, std::function<void()>> due_;  // guarded by mu_
  std::uint64_t next_id_ = 0;                                                     // guarded by mu_
  std::jthread thread_;  // last: starts after the members above exist
};

}  // namespace iotd::http
