#include "lib/url.hpp"

#include <gtest/gtest.h>

namespace iotd::bench {
namespace {

TEST(ParseUrl, SplitsHostPortAndTarget) {
  auto u = parse_url("http://127.0.0.1:8080/api/v1/readings/latest?device_id=d1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->host, "127.0.0.1");
  EXPECT_EQ(u->port, 8080);
  EXPECT_EQ(u->target, "/api/v1/readings/latest?device_id=d1");
  EXPECT_EQ(u->authority(), "127.0.0.1:8080");
}

TEST(ParseUrl, DefaultsPortAndPathAndKeepsIpv6Literals) {
  auto u = parse_url("http://localhost");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->port, 80);
  EXPECT_EQ(u->target, "/");
  auto q = parse_url("http://host?x=1");
  ASSERT_TRUE(q);
  EXPECT_EQ(q->target, "/?x=1");
  auto v6 = parse_url("http://[::1]:9000/h");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->authority(), "[::1]:9000");
}

TEST(ParseUrl, RejectsOtherSchemesAndBadPorts) {
  for (const char* bad : {"https://h/", "h:80/", "http://", "http://:80/", "http://h:0/", "http://h:65536/",
                          "http://h:8x/", "http://u@h/", "http://h/#frag", "http://[::1/"})
    EXPECT_FALSE(parse_url(bad)) << bad;
}

}  // namespace
}  // namespace iotd::bench
