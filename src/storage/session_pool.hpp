// Private to src/storage: a soci::connection_pool whose sessions survive a lost connection,
// shared by the read repository (soci_repository.cpp) and the command repository
// (command_repository.cpp). Every with_session() call leases one session for its duration.
#pragma once

#include <soci/soci.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <exception>
#include <utility>
#include <vector>

#include "dialect.hpp"
#include "iotd/storage/database.hpp"

namespace iotd::storage::detail {

class SessionPool {
 public:
  // Opens max(1, size) sessions with `spec`; throws when the database is unreachable.
  SessionPool(const ConnectionSpec& spec, int size)
      : spec_(spec), pool_(static_cast<std::size_t>(std::max(1, size))),
        broken_(static_cast<std::size_t>(std::max(1, size)), 0) {
    open_pool(pool_, std::max(1, size), spec_);
  }
  SessionPool(const SessionPool&) = delete;
  SessionPool& operator=(const SessionPool&) = delete;

  // Runs f(session) on a leased session. A session that lost its connection (server
  // restarted, connection reset) is reopened and f retried once; a session whose reopening
  // failed is reopened at its next lease. Whatever still fails is thrown (the API answers 503).
  template <class F>
  auto with_session(F&& f) -> decltype(f(std::declval<soci::session&>())) {
    Lease lease(pool_, in_use_);
    soci::session& s = pool_.at(lease.pos);
    char& broken = broken_[lease.pos];  // touched only by the session's lessee
    if (broken) reopen(s, broken);
    try {
      return f(s);
    } catch (const std::exception& e) {
      if (!is_connection_error(e)) throw;
    }
    reopen(s, broken);
    try {
      return f(s);
    } catch (const std::exception& e) {
      if (is_connection_error(e)) broken = 1;
      throw;
    }
  }

  std::size_t in_use() const { return in_use_.load(std::memory_order_relaxed); }  // leased now
  std::size_t size() const { return broken_.size(); }

 private:
  struct Lease {
    soci::connection_pool& pool;
    std::atomic<std::size_t>& in_use;
    std::size_t pos;
    Lease(soci::connection_pool& p, std::atomic<std::size_t>& n) : pool(p), in_use(n), pos(p.lease()) {
      in_use.fetch_add(1, std::memory_order_relaxed);
    }
    ~Lease() {
      in_use.fetch_sub(1, std::memory_order_relaxed);
      pool.give_back(pos);
    }
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
  };

  // Marked broken until the reopening succeeds, so a failed one is retried at the next lease.
  void reopen(soci::session& s, char& broken) {
    broken = 1;
    reopen_session(s, spec_);  // throws when the database is unreachable
    broken = 0;
  }

  ConnectionSpec spec_;
  soci::connection_pool pool_;
  std::vector<char> broken_;  // per pool position: reopen before use
  std::atomic<std::size_t> in_use_{0};  // leased sessions (GET /metrics)
};

}  // namespace iotd::storage::detail
