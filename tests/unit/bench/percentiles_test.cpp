#include "lib/percentiles.hpp"

#include <gtest/gtest.h>

#include <numeric>
#include <vector>

namespace iotd::bench {
namespace {

std::vector<std::int64_t> one_to(std::int64_t n) {
  std::vector<std::int64_t> v(static_cast<std::size_t>(n));
  std::iota(v.begin(), v.end(), 1);
  return v;
}

TEST(Percentile, IsTheNearestRankOverAllSamples) {
  auto v = one_to(100);
  EXPECT_EQ(percentile(v, 50), 50);
  EXPECT_EQ(percentile(v, 90), 90);
  EXPECT_EQ(percentile(v, 99), 99);
  EXPECT_EQ(percentile(v, 99.5), 100);
  EXPECT_EQ(percentile(v, 100), 100);
  EXPECT_EQ(percentile(v, 0), 1);
  EXPECT_EQ(percentile(v, 0.5), 1);
}

TEST(Percentile, FractionalPercentilesDoNotRoundUpOnBinaryNoise) {
  auto v = one_to(1000);
  EXPECT_EQ(percentile(v, 99.9), 999);
  EXPECT_EQ(percentile(v, 99.99), 1000);
  auto w = one_to(10);
  EXPECT_EQ(percentile(w, 70), 7);
}

TEST(Percentile, EmptyIsZeroAndOneSampleIsEveryPercentile) {
  EXPECT_EQ(percentile(std::vector<std::int64_t>{}, 50), 0);
  std::vector<std::int64_t> one{42};
  for (double p : {0.0, 50.0, 99.9, 100.0}) EXPECT_EQ(percentile(one, p), 42);
}

TEST(Median, AveragesTheMiddlePairForEvenCounts) {
  EXPECT_EQ(median(std::vector<std::int64_t>{}), 0);
  EXPECT_EQ(median(std::vector<std::int64_t>{1, 5, 9}), 5);
  EXPECT_EQ(median(std::vector<std::int64_t>{1, 4, 6, 100}), 5);
}

TEST(Summarize, SortsAndReportsMeanMinMaxAndPercentiles) {
  std::vector<std::int64_t> v{5, 3, 1, 4, 2, 1000, 6, 7, 8, 9};
  auto s = summarize(v);
  EXPECT_EQ(s.count, 10u);
  EXPECT_EQ(s.min, 1);
  EXPECT_EQ(s.max, 1000);
  EXPECT_EQ(s.p50, 5);
  EXPECT_EQ(s.p90, 9);
  EXPECT_EQ(s.p99, 1000);
  EXPECT_DOUBLE_EQ(s.mean, 104.5);
  EXPECT_TRUE(std::is_sorted(v.begin(), v.end()));
}

}  // namespace
}  // namespace iotd::bench
