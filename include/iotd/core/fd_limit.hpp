// The process's open-files limit (RLIMIT_NOFILE): every HTTP and WebSocket connection is a
// file descriptor, so start-up raises the soft limit to the hard one
// (docs/architecture.md §20). Call from the main thread before serving.
#pragma once

#include <cstdint>

namespace iotd::fd_limit {

struct Raised {
  std::uint64_t before = 0;  // the soft limit found (RLIM_INFINITY as UINT64_MAX)
  std::uint64_t after = 0;   // the soft limit now
  bool failed = false;       // getrlimit/setrlimit refused (after == before)
};

// Raises the soft limit to the hard limit; a no-op when they are equal.
Raised raise_to_hard();

}  // namespace iotd::fd_limit
