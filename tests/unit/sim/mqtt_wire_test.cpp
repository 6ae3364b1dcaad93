// The raw publisher's MQTT 3.1.1 packets: exact bytes out, packets parsed back from a
// stream split anywhere.
#include <gtest/gtest.h>

#include "iotd/sim/mqtt_wire.hpp"

namespace iotd::sim::wire {
namespace {

using namespace std::string_literals;

TEST(SimMqttWire, ConnectIsLevel4CleanSessionWithKeepalive) {
  std::string out;
  append_connect(out, "sim-0", 30);
  EXPECT_EQ(out, "\x10\x11\x00\x04MQTT\x04\x02\x00\x1e\x00\x05sim-0"s);
}

TEST(SimMqttWire, PublishQos1CarriesThePacketId) {
  std::string out;
  append_publish(out, "a/b", "{}", 1, 0x0102);
  EXPECT_EQ(out, "\x32\x09\x00\x03" "a/b" "\x01\x02" "{}"s);
}

TEST(SimMqttWire, PublishQos0HasNoPacketId) {
  std::string out;
  append_publish(out, "t", "x", 0, 7);
  EXPECT_EQ(out, "\x30\x04\x00\x01tx"s);
}

TEST(SimMqttWire, RemainingLengthUsesSevenBitGroups) {
  std::string out;
  append_publish(out, "t", std::string(200, 'p'), 0, 0);  // remaining length 203
  EXPECT_EQ(static_cast<unsigned char>(out[1]), 0x80 | (203 % 128));
  EXPECT_EQ(static_cast<unsigned char>(out[2]), 203 / 128);
  EXPECT_EQ(out.size(), 3 + 203u);
}

TEST(SimMqttWire, ReaderSplitsAStreamCutAnywhere) {
  const std::string stream = "\x20\x02\x00\x00" "\x40\x02\x00\x01" "\xd0\x00" "\x40\x02\x01\x00"s;
  for (std::size_t cut = 0; cut <= stream.size(); ++cut) {
    Reader r;
    std::vector<Packet> got;
    r.feed(std::string_view(stream).substr(0, cut));
    while (auto p = r.next()) got.push_back(*p);
    r.feed(std::string_view(stream).substr(cut));
    while (auto p = r.next()) got.push_back(*p);
    ASSERT_EQ(got.size(), 4u) << "cut at " << cut;
    EXPECT_EQ(got[0].type, kConnack);
    EXPECT_EQ(got[0].id, 0);
    EXPECT_EQ(got[1].type, kPuback);
    EXPECT_EQ(got[1].id, 1);
    EXPECT_EQ(got[2].type, kPingresp);
    EXPECT_EQ(got[3].id, 256);
    EXPECT_FALSE(r.malformed());
  }
}

TEST(SimMqttWire, ReaderReportsTheConnackReturnCode) {
  Reader r;
  r.feed("\x20\x02\x00\x05"s);  // not authorised
  const auto p = r.next();
  ASSERT_TRUE(p);
  EXPECT_EQ(p->type, kConnack);
  EXPECT_EQ(p->id, 5);
}

TEST(SimMqttWire, ReaderRejectsARemainingLengthOverFourBytes) {
  Reader r;
  r.feed("\x40\xff\xff\xff\xff\x01"s);
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.malformed());
}

TEST(SimMqttWire, TcpUrls) {
  auto e = parse_tcp_url("tcp://127.0.0.1:28883");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 28883);
  e = parse_tcp_url("mqtt://mosquitto");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "mosquitto");
  EXPECT_EQ(e->port, 1883);
  EXPECT_FALSE(parse_tcp_url("ssl://h:8883"));
  EXPECT_FALSE(parse_tcp_url("tcp://h:0"));
  EXPECT_FALSE(parse_tcp_url("tcp://h:99999"));
  EXPECT_FALSE(parse_tcp_url("tcp://:1883"));
  EXPECT_FALSE(parse_tcp_url("h:1883"));
}

}  // namespace
}  // namespace iotd::sim::wire
