// Latency percentiles over every sample (no histogram buckets, so no bucket error).
// Pure functions.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace iotd::bench {

// Nearest-rank percentile of ascending `sorted`: the smallest sample with at least p % of
// the samples at or below it. p in [0, 100]; p = 0 gives the minimum. 0 when empty.
std::int64_t percentile(std::span<const std::int64_t> sorted, double p);

// Median of ascending `sorted` (mean of the two middle samples when the count is even).
// 0 when empty.
double median(std::span<const std::int64_t> sorted);

struct LatencySummary {
  std::size_t count = 0;
  double mean = 0;
  std::int64_t min = 0, p50 = 0, p90 = 0, p99 = 0, p999 = 0, max = 0;
};

// Sorts `samples` in place and summarises them (units as given).
LatencySummary summarize(std::vector<std::int64_t>& samples);

}  // namespace iotd::bench
