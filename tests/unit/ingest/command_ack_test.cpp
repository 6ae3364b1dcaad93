#include "iotd/ingest/command_ack.hpp"

#include <gtest/gtest.h>

namespace iotd::ingest {
namespace {

TEST(ParseCommandAck, TakesStringOrIntegerIdsStatusAndMessage) {
  auto a = parse_command_ack(R"({"command_id": "c-9", "status": "ok"})", "dev-1", 5);
  ASSERT_TRUE(a) << a.error().detail;
  EXPECT_EQ(a->device_id, "dev-1");
  EXPECT_EQ(a->command_id, "c-9");
  EXPECT_TRUE(a->ok);
  EXPECT_EQ(a->received_at_ms, 5);
  auto b = parse_command_ack(R"({"command_id": 17, "status": "error", "message": "busy"})", "dev-1", 5);
  ASSERT_TRUE(b) << b.error().detail;
  EXPECT_EQ(b->command_id, "17");
  EXPECT_FALSE(b->ok);
  EXPECT_EQ(b->message, "busy");
}

TEST(ParseCommandAck, RejectsMalformedAcksSayingWhy) {
  struct Case {
    const char* payload;
    const char* detail;
  };
  const Case cases[] = {
      {"not json", "command ack is not JSON"},
      {"[1]", "command ack must be a JSON object"},
      {R"({"status": "ok"})", "command ack lacks \"command_id\""},
      {R"({"command_id": 1.5, "status": "ok"})", "\"command_id\" must be a string or an integer"},
      {R"({"command_id": "", "status": "ok"})", "\"command_id\" must be 1 to 128 characters"},
      {R"({"command_id": "c"})", "command ack needs \"status\": \"ok\" or \"error\""},
      {R"({"command_id": "c", "status": "done"})", "\"status\" must be \"ok\" or \"error\", not \"done\""},
      {R"({"command_id": "c", "status": "ok", "message": 3})", "\"message\" must be a string"},
  };
  for (const auto& c : cases) {
    auto r = parse_command_ack(c.payload, "dev-1", 0);
    ASSERT_FALSE(r) << c.payload;
    EXPECT_EQ(r.error().reason, "bad_command_ack") << c.payload;
    EXPECT_EQ(r.error().detail, c.detail) << c.payload;
  }
}

TEST(ParseCommandAck, NeedsADeviceIdFromTheTopic) {
  auto r = parse_command_ack(R"({"command_id": "c", "status": "ok"})", "", 0);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().reason, "no_device_id");
}

TEST(CountingAckSink, CountsCommittedAcks) {
  Counters counters;
  CountingAckSink sink(counters);
  std::vector<CommandAck> acks(3);
  sink.committed(acks);
  EXPECT_EQ(counters.command_acks.load(), 3u);
}

}  // namespace
}  // namespace iotd::ingest
