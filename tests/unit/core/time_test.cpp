// Unit tests for iotd/core/time.hpp.
#include "iotd/core/time.hpp"

#include <gtest/gtest.h>

namespace iotd::time {
namespace {

constexpr std::int64_t kT = 1769697045123;  // 2026-01-29T14:30:45.123Z

TEST(Iso8601, ParsesUtcWithMillis) {
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.123Z"), kT);
}

TEST(Iso8601, TruncatesFractionsOfAnyLengthToMillis) {
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.1Z"), kT - 23);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.12Z"), kT - 3);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.123456Z"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.123999999Z"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.1239Z"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45,123Z"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.Z"), std::nullopt);
}

TEST(Iso8601, NoZoneMeansUtc) {
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.123"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45"), kT - 123);
}

TEST(Iso8601, AcceptsSpaceSeparatorAndLowercaseT) {
  EXPECT_EQ(parse_iso8601_ms("2026-01-29 14:30:45.123"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29t14:30:45.123z"), kT);
}

TEST(Iso8601, AppliesOffsetsInAllSpellings) {
  const std::int64_t h = 3'600'000;
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.123+00:00"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T16:30:45.123+02:00"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T16:30:45.123+0200"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T16:30:45.123+02"), kT);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T09:00:45.123-05:30"), kT);
  EXPECT_EQ(parse_iso8601_ms("2024-01-15 10:30:00+00"), parse_iso8601_ms("2024-01-15T10:30:00Z"));
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30:45.123-01"), kT + h);
}

TEST(Iso8601, DateOnlyIsMidnightUtc) {
  EXPECT_EQ(parse_iso8601_ms("2026-01-29"), 1769644800000);
  EXPECT_EQ(parse_iso8601_ms("1970-01-01"), 0);
}

TEST(Iso8601, MinutesWithoutSecondsAreAccepted) {
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T14:30Z"), kT - 45123);
}

TEST(Iso8601, RejectsInvalidDates) {
  EXPECT_EQ(parse_iso8601_ms("2026-13-01"), std::nullopt);
  EXPECT_EQ(parse_iso8601_ms("2026-00-01"), std::nullopt);
  EXPECT_EQ(parse_iso8601_ms("2026-02-30T00:00:00Z"), std::nullopt);
  EXPECT_EQ(parse_iso8601_ms("2026-02-29"), std::nullopt);
  EXPECT_TRUE(parse_iso8601_ms("2024-02-29"));  // leap year
  EXPECT_EQ(parse_iso8601_ms("2100-02-29"), std::nullopt);
  EXPECT_TRUE(parse_iso8601_ms("2000-02-29"));
  EXPECT_EQ(parse_iso8601_ms("2026-04-31"), std::nullopt);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T24:00:00Z"), std::nullopt);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T12:60:00Z"), std::nullopt);
  EXPECT_EQ(parse_iso8601_ms("2026-01-29T12:00:00+24:00"), std::nullopt);
}

TEST(Iso8601, RejectsMalformedText) {
  for (const char* s : {"", "2026", "2026-1-29", "26/05/2023 18:34", "2026-01-29T", "2026-01-29X12:00",
                        "2026-01-29T12:00:00Zjunk", "2026-01-29T12:00:00+5", "1706539845",
                        "2026-01-29T12:00:00 ", " 2026-01-29", "abcd-ef-gh"}) {
    EXPECT_EQ(parse_iso8601_ms(s), std::nullopt) << s;
  }
}

TEST(Iso8601, HandlesYearsUpTo9999) {
  EXPECT_EQ(parse_iso8601_ms("9999-12-31T23:59:59.999Z"), 253402300799999);
  EXPECT_EQ(format_iso8601_ms(253402300799999), "9999-12-31T23:59:59.999Z");
}

TEST(FormatIso8601, AlwaysPrintsMillisAndZ) {
  EXPECT_EQ(format_iso8601_ms(kT), "2026-01-29T14:30:45.123Z");
  EXPECT_EQ(format_iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_iso8601_ms(951782400000), "2000-02-29T00:00:00.000Z");
  EXPECT_EQ(format_iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(FormatIso8601, RoundTripsThroughParse) {
  for (std::int64_t ms = 0; ms < 253402300799999; ms += 7'777'777'777'777 / 3) {
    EXPECT_EQ(parse_iso8601_ms(format_iso8601_ms(ms)), ms) << ms;
  }
}

TEST(EpochNumber, ClassifiesByMagnitude) {
  EXPECT_EQ(epoch_number_to_ms(1706539845), 1706539845000);
  EXPECT_EQ(epoch_number_to_ms(1706539845123.0), 1706539845123);
  EXPECT_EQ(epoch_number_to_ms(1706539845123456.0), 1706539845123);
  EXPECT_EQ(epoch_integer_to_ms(1706539845), 1706539845000);
  EXPECT_EQ(epoch_integer_to_ms(1706539845123), 1706539845123);
  EXPECT_EQ(epoch_integer_to_ms(1706539845123456), 1706539845123);
  EXPECT_EQ(epoch_integer_to_ms(99'999'999'999), 99'999'999'999'000);  // just below 1e11: s
  EXPECT_EQ(epoch_integer_to_ms(100'000'000'000), 100'000'000'000);    // 1e11: ms
}

TEST(EpochNumber, FloatSecondsKeepMicrosecondPrecision) {
  EXPECT_EQ(epoch_number_to_ms(1706539845.123456), 1706539845123);
  EXPECT_EQ(epoch_number_to_ms(1751460311.204518), 1751460311204);
  EXPECT_EQ(epoch_number_to_ms(1738160000.512), 1738160000512);
}

TEST(EpochNumber, RejectsNegativeAndNonFinite) {
  EXPECT_EQ(epoch_number_to_ms(-1), std::nullopt);
  EXPECT_EQ(epoch_number_to_ms(std::numeric_limits<double>::infinity()), std::nullopt);
  EXPECT_EQ(epoch_number_to_ms(std::numeric_limits<double>::quiet_NaN()), std::nullopt);
  EXPECT_EQ(epoch_number_to_ms(1e300), std::nullopt);
  EXPECT_EQ(epoch_integer_to_ms(-5), std::nullopt);
}

TEST(Duration, ParsesUnits) {
  EXPECT_EQ(parse_duration_ms("24h"), 86'400'000);
  EXPECT_EQ(parse_duration_ms("15m"), 900'000);
  EXPECT_EQ(parse_duration_ms("30s"), 30'000);
  EXPECT_EQ(parse_duration_ms("500ms"), 500);
  EXPECT_EQ(parse_duration_ms("7d"), 604'800'000);
  EXPECT_EQ(parse_duration_ms("1w"), 604'800'000);
  EXPECT_EQ(parse_duration_ms("10"), 10'000);
  EXPECT_EQ(parse_duration_ms("0"), 0);
  EXPECT_EQ(parse_duration_ms("1.5h"), 5'400'000);
  EXPECT_EQ(parse_duration_ms(" 2m "), 120'000);
}

TEST(Duration, RejectsNegativeAndGarbage) {
  for (const char* s : {"", "-5s", "h", "5x", "5 h", "abc", "1e3", "5hh", ".", "99999999999999w"}) {
    EXPECT_EQ(parse_duration_ms(s), std::nullopt) << s;
  }
}

TEST(QueryTime, AcceptsIsoEpochAndRelative) {
  const std::int64_t now = kT;
  EXPECT_EQ(parse_query_time_ms("2026-01-29T14:30:45.123Z", now), kT);
  EXPECT_EQ(parse_query_time_ms("1769697045", now), kT - 123);
  EXPECT_EQ(parse_query_time_ms("1769697045123", now), kT);
  EXPECT_EQ(parse_query_time_ms("1769697045.123", now), kT);
  EXPECT_EQ(parse_query_time_ms("-24h", now), kT - 86'400'000);
  EXPECT_EQ(parse_query_time_ms("-15m", now), kT - 900'000);
  EXPECT_EQ(parse_query_time_ms("+1h", now), kT + 3'600'000);
  EXPECT_EQ(parse_query_time_ms("now", now), kT);
  EXPECT_EQ(parse_query_time_ms("now()", now), kT);
  EXPECT_EQ(parse_query_time_ms("NOW", now), kT);
  EXPECT_EQ(parse_query_time_ms("now()-1h", now), kT - 3'600'000);
}

TEST(QueryTime, RejectsGarbage) {
  for (const char* s : {"", "yesterday", "now+", "nowish", "-", "-x", "12abc", "2026-13-01"}) {
    EXPECT_EQ(parse_query_time_ms(s, kT), std::nullopt) << s;
  }
}

TEST(FloorTo, FloorsNegativeValuesDown) {
  EXPECT_EQ(floor_to(61'999, 60'000), 60'000);
  EXPECT_EQ(floor_to(60'000, 60'000), 60'000);
  EXPECT_EQ(floor_to(-1, 60'000), -60'000);
  EXPECT_EQ(floor_to(0, 60'000), 0);
}

TEST(NowMs, IsAfter2020) { EXPECT_GT(now_ms(), 1577836800000); }

}  // namespace
}  // namespace iotd::time
