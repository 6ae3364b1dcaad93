#include "iotd/storage/latest_cache.hpp"

#include <gtest/gtest.h>

namespace iotd::storage {
namespace {

Reading reading(const std::string& device, std::int64_t ts_ms, double temperature) {
  Reading r;
  r.device_id = device;
  r.ts_ms = ts_ms;
  r.received_at_ms = ts_ms;
  r.metrics.emplace_back("temperature", temperature);
  return r;
}

TEST(LatestCache, RenderedIsMemoisedUntilTheDeviceChanges) {
  LatestCache cache;
  cache.apply(reading("dev-1", 1000, 20.5));
  int renders = 0;
  auto render = [&](const DeviceLatest& d) {
    ++renders;
    return d.device_id + "=" + std::to_string(d.metrics.at("temperature").value);
  };
  auto first = cache.rendered("dev-1", render);
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(*first, "dev-1=20.500000");
  EXPECT_EQ(*cache.rendered("dev-1", render), "dev-1=20.500000");
  EXPECT_EQ(renders, 1);  // the second read used the memo

  cache.apply(reading("dev-1", 2000, 21.0));
  EXPECT_EQ(*cache.rendered("dev-1", render), "dev-1=21.000000");
  EXPECT_EQ(renders, 2);
  EXPECT_EQ(*first, "dev-1=20.500000");  // a reader's copy stays valid
}

TEST(LatestCache, RenderedIsNullForAnUnknownDeviceAndResetByLoad) {
  LatestCache cache;
  auto render = [](const DeviceLatest& d) { return d.device_id; };
  EXPECT_EQ(cache.rendered("nope", render), nullptr);
  cache.apply(reading("dev-1", 1000, 1));
  ASSERT_NE(cache.rendered("dev-1", render), nullptr);
  cache.load({});
  EXPECT_EQ(cache.rendered("dev-1", render), nullptr);
}

TEST(LatestCache, OlderDeviceTimeDoesNotReplaceAValue) {
  LatestCache cache;
  cache.apply(reading("dev-1", 2000, 5));
  cache.apply(reading("dev-1", 1000, 7));
  EXPECT_EQ(cache.device("dev-1")->metrics.at("temperature").value, 5);
}

// The cluster relay's catch-up (docs/architecture.md §21): rows read from the database
// merge per metric by device time, in either order with apply(), and add unknown devices.
TEST(LatestCache, MergeKeepsTheNewerValueOfEachMetricAndAddsUnknownDevices) {
  LatestCache cache;
  auto r = reading("dev-1", 2000, 21);
  r.metrics.emplace_back("humidity", 40);
  cache.apply(r);
  int renders = 0;
  auto render = [&](const DeviceLatest& d) {
    ++renders;
    return std::to_string(d.metrics.at("temperature").value);
  };
  ASSERT_NE(cache.rendered("dev-1", render), nullptr);

  DeviceLatest one{"dev-1", 3000, {{"temperature", {25, 3000}}, {"humidity", {35, 1000}}, {"co2", {400, 500}}}};
  DeviceLatest two{"dev-2", 900, {{"temperature", {18, 900}}}};
  cache.merge({one, two});
  const auto d1 = cache.device("dev-1");
  ASSERT_TRUE(d1);
  EXPECT_EQ(d1->metrics.at("temperature").value, 25);  // newer in the rows
  EXPECT_EQ(d1->metrics.at("humidity").value, 40);     // older in the rows: kept
  EXPECT_EQ(d1->metrics.at("co2").value, 400);         // unknown metric: added
  EXPECT_EQ(d1->last_seen_at_ms, 3000);
  EXPECT_EQ(*cache.rendered("dev-1", render), "25.000000");  // the memo was reset
  ASSERT_TRUE(cache.device("dev-2"));
  EXPECT_EQ(cache.device("dev-2")->metrics.at("temperature").value, 18);

  // The same rows again change nothing, and keep the memo.
  cache.merge({one});
  ASSERT_NE(cache.rendered("dev-1", render), nullptr);
  EXPECT_EQ(renders, 2);
  // A reading applied after the merge still wins by device time.
  cache.apply(reading("dev-1", 2500, 30));
  EXPECT_EQ(cache.device("dev-1")->metrics.at("temperature").value, 25);
}

}  // namespace
}  // namespace iotd::storage
