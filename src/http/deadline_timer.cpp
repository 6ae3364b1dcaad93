#include "deadline_timer.hpp"
#include "iotd/core/log.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace iotd::http {

DeadlineTimer::DeadlineTimer() : thread_([this](std::stop_token st) { run(st); }) {}

DeadlineTimer::~DeadlineTimer() {
  thread_.request_stop();
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

DeadlineTimer::Ticket DeadlineTimer::schedule(Clock::time_point at, std::function<void()> fn) {
  Ticket t{at, 0};
  bool earliest = false;
  {
    std::lock_guard lock(mu_);
    t.id = ++next_id_;
    auto it = due_.emplace(std::make_pair(at, t.id), std::move(fn)).first;
    earliest = it == due_.begin();
  }
  if (earliest) cv_.notify_all();
  return t;
}

bool DeadlineTimer::cancel(const Ticket& t) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  auto it = due_.find({t.at, t.id});
  if (it == due_.end()) return false;
  dropped = std::move(it->second);
  due_.erase(it);
  return true;
}

std::size_t DeadlineTimer::pending() const {
  std::lock_guard lock(mu_);
  return due_.size();
}

void DeadlineTimer::run(std::stop_token st) {
  log::ModuleScope module("http");
  std::unique_lock lock(mu_);
  while (!st.stop_requested()) {
    if (due_.empty()) {
      cv_.wait(lock, st, [&] { return !due_.empty(); });
      continue;
    }
    const auto at = due_.begin()->first.first;
    if (Clock::now() < at) {
      // Wakes early for a new earliest deadline (schedule notifies) or a stop.
      cv_.wait_until(lock, st, at, [&] { return due_.empty() || due_.begin()->first.first < at; });
      continue;
    }
    auto fn = std::move(due_.begin()->second);
    due_.erase(due_.begin());
    lock.unlock();
    try {
      fn();
    } catch (const std::exception& e) {
      spdlog::error("deadline callback threw: {}", e.what());
    } catch (...) {
      spdlog::error("deadline callback threw");
    }
    fn = nullptr;
    lock.lock();
  }
  auto left = std::move(due_);
  lock.unlock();  // the callbacks' captures are destroyed outside the lock
}

}  // namespace iotd::http
