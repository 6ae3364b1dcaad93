// append_number's text is part of the stored dedup key (docs/architecture.md §5), so its
// quick path for short decimals must print exactly what std::to_chars prints. Compared on
// edge cases and on more than a million generated values.
#include "../../../src/pipeline/decode_common.hpp"

#include <gtest/gtest.h>

#include <charconv>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>

namespace iotd::pipeline::detail {
namespace {

std::string reference(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

std::string ours(double v) {
  std::string s;
  append_number(s, v);
  return s;
}

// From text, as the decoder gets its values.
double parse(const std::string& text) {
  double v = 0;
  std::from_chars(text.data(), text.data() + text.size(), v);
  return v;
}

TEST(AppendNumber, EdgeCasesPrintAsToChars) {
  const double inf = std::numeric_limits<double>::infinity();
  for (const double v :
       {0.0, -0.0, 1.0, -1.0, 21.53, -61.0, 0.5, 0.1, 0.2, 0.3, 0.0001, 0.00012, 0.001, 0.0012,
        -0.0001, 10000.0, 100000.0, 120000.0, 1e8, 1.2e8, 999999999.0, 999999999.9999,
        1e9, -1e9, 1e9 - 1, 123456789.1234, 0.00005, 1e-5, 5e-324, 1e300, inf, -inf,
        std::nan(""), 1.0 / 3, 2.0 / 3, 1013.2, 3.7, 0.0625, 0.03125, 4503599627370496.0,
        9007199254740993.0, 99999.5, 0.99995, 1e-4 * 3}) {
    EXPECT_EQ(ours(v), reference(v)) << reference(v);
  }
}

TEST(AppendNumber, GeneratedDecimalsPrintAsToChars) {
  std::mt19937_64 rng(20261207);
  for (int i = 0; i < 1'000'000; ++i) {
    // A decimal text of 0-6 places and magnitude up to 1e11, as sensors send them.
    const int places = static_cast<int>(rng() % 7);
    const auto whole = static_cast<long long>(rng() % (1ULL << (rng() % 38)));
    const auto frac = static_cast<long long>(rng() % 1'000'000);
    std::string text = (rng() % 4 == 0 ? "-" : "") + std::to_string(whole);
    if (places > 0) {
      std::string f = std::to_string(frac);
      f.insert(0, f.size() < 6 ? 6 - f.size() : 0, '0');
      text += "." + f.substr(0, static_cast<std::size_t>(places));
    }
    const double v = parse(text);
    ASSERT_EQ(ours(v), reference(v)) << text;
  }
}

TEST(AppendNumber, ArbitraryDoublesPrintAsToChars) {
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> wide(-2e9, 2e9);
  for (int i = 0; i < 300'000; ++i) {
    std::uint64_t bits = rng();
    double v = 0;
    std::memcpy(&v, &bits, sizeof v);
    ASSERT_EQ(ours(v), reference(v)) << reference(v);
    const double w = wide(rng);
    ASSERT_EQ(ours(w), reference(w)) << reference(w);
    // Values next to short decimals: one ulp away must not print as the decimal.
    const double d = std::round(w * 100) / 100;
    for (const double x : {d, std::nextafter(d, 0.0), std::nextafter(d, 1e10)}) {
      ASSERT_EQ(ours(x), reference(x)) << reference(x);
    }
  }
}

}  // namespace
}  // namespace iotd::pipeline::detail
