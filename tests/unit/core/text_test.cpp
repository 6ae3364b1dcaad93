// Unit tests for iotd/core/text.hpp: the one trim, lower and set of name rules that the
// config, storage, HTTP, decoder and simulator code share.
#include "iotd/core/text.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iotd::text {
namespace {

TEST(Trim, RemovesAsciiWhiteSpaceAtBothEndsOnly) {
  EXPECT_EQ(trim("  a b \t"), "a b");
  EXPECT_EQ(trim("\r\n\v\fx\r\n"), "x");  // CRLF config files, stray line ends
  EXPECT_EQ(trim(" \t "), "");
  EXPECT_EQ(trim(""), "");
  EXPECT_EQ(trim("\xc2\xa0x"), "\xc2\xa0x");  // UTF-8 NBSP is not ASCII white space
}

TEST(Lower, ChangesOnlyAsciiLetters) {
  EXPECT_EQ(lower("Bearer ABC-xyz_09"), "bearer abc-xyz_09");
  EXPECT_EQ(lower("T\xc3\x89MP"), "t\xc3\x89mp");  // bytes >= 0x80 stay as they are
  EXPECT_EQ(lower(""), "");
}

TEST(NameRules, DeviceIdsAllowColonsMetricNamesDoNot) {
  EXPECT_TRUE(valid_device_id("AA:BB:CC:DD:EE:FF"));
  EXPECT_TRUE(valid_device_id("esp32_01.a-b"));
  EXPECT_FALSE(valid_metric_name("a:b"));
  EXPECT_TRUE(valid_metric_name("env.temp-2_X"));
}

TEST(NameRules, LengthIsOneToSixtyFour) {
  EXPECT_FALSE(valid_device_id(""));
  EXPECT_FALSE(valid_metric_name(""));
  EXPECT_TRUE(valid_device_id(std::string(64, 'x')));
  EXPECT_TRUE(valid_metric_name(std::string(64, 'x')));
  EXPECT_FALSE(valid_device_id(std::string(65, 'x')));
  EXPECT_FALSE(valid_metric_name(std::string(65, 'x')));
}

TEST(NameRules, RejectSpacesSlashesQuotesAndNonAscii) {
  for (const char* bad : {"a b", "a/b", "a+b", "a#b", "dev'; DROP TABLE", "t\xc3\xa9"}) {
    EXPECT_FALSE(valid_device_id(bad)) << bad;
    EXPECT_FALSE(valid_metric_name(bad)) << bad;
  }
}

}  // namespace
}  // namespace iotd::text
