// The engine of iotd-bench-http: an open-loop HTTP/1.1 GET load on one thread (epoll).
// Request i is due at t0 + i/rate whether or not earlier ones have finished; its latency
// runs from that due time to the last byte of its response, so a stalled server shows up
// in the percentiles instead of slowing the client down (no coordinated omission).
// A due request with every connection busy queues for the next free one (counted).
// rate 0 is closed loop: each connection sends its next request as soon as it is free
// (for maximum-throughput runs; latency then runs from the send).
// run_load() blocks for warmup + duration + at most one timeout; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "lib/percentiles.hpp"
#include "lib/url.hpp"

namespace iotd::bench {

struct LoadOptions {
  Url server;                        // host and port; its target is unused
  std::vector<std::string> targets;  // request targets, used round-robin; at least one
  double rate = 1000;                // requests per second; 0: closed loop
  double duration_s = 10;            // recorded window
  double warmup_s = 0;               // run before the window, not recorded
  int connections = 32;              // keep-alive; opened before t0
  std::chrono::milliseconds timeout{2000};  // from the due time to the last byte
};

// Counts cover requests due inside the recorded window only, and each of them ends as
// exactly one of completed / socket_errors / timeouts.
struct LoadResult {
  std::uint64_t scheduled = 0;
  std::uint64_t completed = 0;      // a whole response arrived (any status)
  std::uint64_t non_2xx = 0;        // of completed
  std::uint64_t socket_errors = 0;  // connect, send or receive failed, closed early, bad response
  std::uint64_t timeouts = 0;       // no whole response within the timeout of the due time
  std::uint64_t waited = 0;         // due while every connection was busy
  double wait_total_ms = 0;         // their total time queued for a connection
  std::uint64_t connects = 0;       // connections opened (reconnects included)
  double elapsed_s = 0;             // window start to the later of its end and the last response
  double achieved_rate = 0;         // completed / elapsed_s
  LatencySummary latency_ns;        // over completed
  double mean_body_bytes = 0;       // over completed, de-chunked
  std::map<int, std::uint64_t> statuses;  // status code -> count, over completed
  std::string first_error;          // first socket error, for the report
};

// Throws std::runtime_error when set-up fails (resolve, epoll); network failures during
// the run are counted, never thrown.
LoadResult run_load(const LoadOptions& options);

}  // namespace iotd::bench
