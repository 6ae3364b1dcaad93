#include "../../../src/http/json_writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "iotd/core/time.hpp"

namespace iotd::http {
namespace {

TEST(AppendIso8601, MatchesTheTimeModule) {
  std::vector<std::int64_t> samples = {0, 1, 999, 1000, -1, -999, -1000, -86'400'000,
                                       951'782'400'000,     // 2000-02-29
                                       1'769'700'000'123,   // 2026-01-29T15:20:00.123Z
                                       4'102'444'799'999,   // 2099-12-31T23:59:59.999Z
                                       -62'167'219'200'000, 253'402'300'799'999,
                                       253'402'300'800'000, -62'167'219'200'001};
  for (std::int64_t v = -5'000'000'000'000; v < 5'000'000'000'000; v += 7'777'777'777) samples.push_back(v);
  for (auto ms : samples) {
    std::string out;
    append_iso8601(out, ms);
    EXPECT_EQ(out, time::format_iso8601_ms(ms)) << ms;
  }
}

TEST(AppendDouble, ShortestRoundTripAndNullForNonFinite) {
  auto fmt = [](double v) {
    std::string s;
    append_double(s, v);
    return s;
  };
  EXPECT_EQ(fmt(0.1), "0.1");
  EXPECT_EQ(fmt(22.5), "22.5");
  EXPECT_EQ(fmt(450.0), "450");
  EXPECT_EQ(fmt(-3.25), "-3.25");
  EXPECT_EQ(fmt(1e21), "1e+21");
  EXPECT_EQ(fmt(std::nan("")), "null");
  EXPECT_EQ(fmt(std::numeric_limits<double>::infinity()), "null");
}

TEST(JsonWriter, PlacesCommasAndNests) {
  JsonWriter w;
  w.begin_object();
  w.key("a").integer(1);
  w.key("b").begin_array().str("x").null().boolean(true).num(1.5).end_array();
  w.key("c").begin_object().end_object();
  w.key("d").begin_array().begin_object().key("e").opt_num(std::nullopt).end_object().begin_object().end_object().end_array();
  w.key("t").iso(0);
  w.key("r").raw("{\"k\":2}");
  w.end_object();
  EXPECT_EQ(w.take(),
            R"({"a":1,"b":["x",null,true,1.5],"c":{},"d":[{"e":null},{}],"t":"1970-01-01T00:00:00.000Z","r":{"k":2}})");
}

TEST(Utf8AndBase64, Basics) {
  EXPECT_TRUE(valid_utf8("plain"));
  EXPECT_TRUE(valid_utf8("\xc3\xa9"));
  EXPECT_FALSE(valid_utf8("\xc3"));
  EXPECT_FALSE(valid_utf8("\xc0\xaf"));  // overlong '/'
  EXPECT_EQ(base64_encode(""), "");
  EXPECT_EQ(base64_encode("f"), "Zg==");
  EXPECT_EQ(base64_encode("fo"), "Zm8=");
  EXPECT_EQ(base64_encode("foo"), "Zm9v");
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
}

}  // namespace
}  // namespace iotd::http
