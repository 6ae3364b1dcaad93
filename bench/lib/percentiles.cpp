#include "lib/percentiles.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace iotd::bench {

std::int64_t percentile(std::span<const std::int64_t> sorted, double p) {
  if (sorted.empty()) return 0;
  p = std::clamp(p, 0.0, 100.0);
  // Rank ceil(p/100 * n), 1-based; the small epsilon keeps 99.9 % of 1000 at rank 999
  // despite 99.9 / 100 * 1000 being 999.0000000000001 in binary floating point.
  const double exact = p / 100.0 * static_cast<double>(sorted.size());
  auto rank = static_cast<std::size_t>(std::ceil(exact - 1e-9));
  rank = std::clamp<std::size_t>(rank, 1, sorted.size());
  return sorted[rank - 1];
}

double median(std::span<const std::int64_t> sorted) {
  const std::size_t n = sorted.size();
  if (n == 0) return 0;
  if (n % 2 == 1) return static_cast<double>(sorted[n / 2]);
  return (static_cast<double>(sorted[n / 2 - 1]) + static_cast<double>(sorted[n / 2])) / 2.0;
}

LatencySummary summarize(std::vector<std::int64_t>& samples) {
  LatencySummary s;
  if (samples.empty()) return s;
  std::sort(samples.begin(), samples.end());
  s.count = samples.size();
  long double sum = std::accumulate(samples.begin(), samples.end(), 0.0L);
  s.mean = static_cast<double>(sum / static_cast<long double>(samples.size()));
  s.min = samples.front();
  s.max = samples.back();
  s.p50 = percentile(samples, 50);
  s.p90 = percentile(samples, 90);
  s.p99 = percentile(samples, 99);
  s.p999 = percentile(samples, 99.9);
  return s;
}

}  // namespace iotd::bench
