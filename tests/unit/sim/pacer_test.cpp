// The rate schedule is absolute and exact: message i is due at start + i / rate.
// Pure arithmetic on an injected start time; nothing sleeps.
#include <gtest/gtest.h>

#include "iotd/sim/pacer.hpp"

namespace iotd::sim {
namespace {

using namespace std::chrono_literals;
using Clock = Pacer::Clock;

const Clock::time_point kStart = Clock::time_point(123'456'789ns);

TEST(SimPacer, WholeRateSpacesMessagesExactly) {
  const Pacer p(2000, kStart);
  EXPECT_EQ(p.offset(0), 0ns);
  EXPECT_EQ(p.offset(1), 500us);
  EXPECT_EQ(p.offset(2), 1ms);
  EXPECT_EQ(p.offset(2000), 1s);
  EXPECT_EQ(p.offset(2'000'000), 1000s);
  EXPECT_EQ(p.due(2000), kStart + 1s);
}

TEST(SimPacer, FractionalPeriodsDoNotAccumulateRoundingError) {
  const Pacer p(3, kStart);  // a period of 333,333,333.3 ns
  EXPECT_EQ(p.offset(1), 333'333'333ns);
  EXPECT_EQ(p.offset(2), 666'666'666ns);
  EXPECT_EQ(p.offset(3), 1s);
  EXPECT_EQ(p.offset(3'000'000'000ULL), 1'000'000'000s);  // no drift after 3e9 messages
}

TEST(SimPacer, RatesBelowOnePerSecond) {
  const Pacer p(0.5, kStart);
  EXPECT_EQ(p.offset(1), 2s);
  EXPECT_EQ(p.offset(10), 20s);
  const Pacer q(2.5, kStart);
  EXPECT_EQ(q.offset(5), 2s);
}

TEST(SimPacer, ScheduleIsMonotonicAndOffersTheRateOverAnyWindow) {
  const Pacer p(96'000, kStart);
  for (std::uint64_t i = 1; i < 200'000; ++i) ASSERT_LE(p.offset(i - 1), p.offset(i));
  // Exactly 96,000 messages are due within every whole second from the start.
  EXPECT_LT(p.offset(95'999), 1s);
  EXPECT_EQ(p.offset(96'000), 1s);
  EXPECT_EQ(p.offset(960'000), 10s);
}

TEST(SimPacer, HugeIndicesDoNotOverflow) {
  const Pacer p(1'000'000, kStart);
  EXPECT_EQ(p.offset(1'000'000'000'000ULL), 1'000'000s);
}

TEST(SimPacer, RejectsNonPositiveRates) {
  EXPECT_THROW(Pacer(0, kStart), std::invalid_argument);
  EXPECT_THROW(Pacer(-5, kStart), std::invalid_argument);
  EXPECT_THROW(Pacer(std::numeric_limits<double>::infinity(), kStart), std::invalid_argument);
}

}  // namespace
}  // namespace iotd::sim
