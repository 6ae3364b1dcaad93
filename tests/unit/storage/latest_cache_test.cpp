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

}  // namespace
}  // namespace iotd::storage
