// Stream filters from query strings: what is accepted, and the message for what is not.
#include "iotd/live/filter.hpp"

#include <gtest/gtest.h>

namespace iotd::live {
namespace {

using Query = std::multimap<std::string, std::string>;

TEST(StreamFilter, EmptyQueryWantsEverythingWithAlerts) {
  auto f = parse_filter({});
  ASSERT_TRUE(f) << f.error();
  EXPECT_TRUE(f->devices.empty());
  EXPECT_TRUE(f->metrics.empty());
  EXPECT_TRUE(f->alerts);
  EXPECT_EQ(f->metrics_key, "");
  EXPECT_TRUE(f->wants_device("any"));
  EXPECT_TRUE(f->wants_metric("any"));
}

TEST(StreamFilter, ListsAreSortedDeduplicatedAndMatchedExactly) {
  auto f = parse_filter(Query{{"device_id", "b, a,b"}, {"metrics", "temperature,humidity"},
                              {"alerts", "false"}});
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->devices, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(f->metrics, (std::vector<std::string>{"humidity", "temperature"}));
  EXPECT_EQ(f->metrics_key, "humidity,temperature");
  EXPECT_FALSE(f->alerts);
  EXPECT_TRUE(f->wants_device("a"));
  EXPECT_FALSE(f->wants_device("c"));
  EXPECT_FALSE(f->wants_device("ab"));
  EXPECT_TRUE(f->wants_metric("humidity"));
  EXPECT_FALSE(f->wants_metric("pressure"));
}

TEST(StreamFilter, SeedPathNamesOneDevice) {
  auto f = parse_filter(Query{{"metrics", "temperature"}}, "sensor-1");
  ASSERT_TRUE(f) << f.error();
  EXPECT_EQ(f->devices, std::vector<std::string>{"sensor-1"});
  EXPECT_FALSE(parse_filter(Query{{"device_id", "x"}}, "sensor-1"));
  EXPECT_FALSE(parse_filter({}, "a,b"));
}

TEST(StreamFilter, BadFiltersAreErrorsThatSayWhy) {
  struct Case {
    Query q;
    std::string says;
  };
  std::vector<Case> cases{
      {{{"alerts", "yes"}}, "alerts must be true or false"},
      {{{"device_id", "a,,b"}}, "empty name"},
      {{{"device_id", ""}}, "empty name"},
      {{{"metrics", "temp erature"}}, "invalid name"},
      {{{"device_id", std::string(65, 'x')}}, "invalid name"},
      {{{"device", "a"}}, "unknown parameter device"},
      {{{"metrics", "a"}, {"metrics", "b"}}, "more than once"},
  };
  std::string many;
  for (int i = 0; i <= 100; ++i) many += (i ? "," : "") + std::to_string(i);
  cases.push_back({{{"device_id", many}}, "more than 100"});
  for (const auto& c : cases) {
    auto f = parse_filter(c.q);
    ASSERT_FALSE(f) << c.says;
    EXPECT_NE(f.error().find(c.says), std::string::npos) << f.error();
  }
}

}  // namespace
}  // namespace iotd::live
