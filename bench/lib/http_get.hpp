// One blocking GET on a fresh connection, with a deadline: the pollers in iotd-bench-startup
// and iotd-bench-wait. Never throws for network outcomes; they come back in `error`.
#pragma once

#include <chrono>
#include <string>

#include "lib/url.hpp"

namespace iotd::bench {

struct GetResult {
  bool ok = false;    // a whole response arrived (any status)
  std::string error;  // why not, when !ok: "connect: Connection refused", "timeout", ...
  int status = 0;
  std::string body;
};

GetResult http_get(const Url& url, std::chrono::milliseconds timeout);

// The request bytes every bench client sends for `target`.
std::string get_request(const Url& url, const std::string& target);

}  // namespace iotd::bench
