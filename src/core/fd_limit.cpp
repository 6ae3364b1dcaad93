#include "iotd/core/fd_limit.hpp"

#include <sys/resource.h>

#include <limits>

namespace iotd::fd_limit {
namespace {

std::uint64_t value(rlim_t r) {
  return r == RLIM_INFINITY ? std::numeric_limits<std::uint64_t>::max() : static_cast<std::uint64_t>(r);
}

}  // namespace

Raised raise_to_hard() {
  Raised out;
  rlimit lim{};
  if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    out.failed = true;
    return out;
  }
  out.before = out.after = value(lim.rlim_cur);
  if (lim.rlim_cur == lim.rlim_max) return out;
  rlimit raised = lim;
  raised.rlim_cur = lim.rlim_max;
  if (::setrlimit(RLIMIT_NOFILE, &raised) != 0) {
    out.failed = true;
    return out;
  }
  out.after = value(raised.rlim_cur);
  return out;
}

}  // namespace iotd::fd_limit
