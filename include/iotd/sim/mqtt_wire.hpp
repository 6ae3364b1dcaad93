// The few MQTT 3.1.1 packets a publisher needs, encoded into and parsed from byte buffers
// (iotd-sim's lock-free publish path; Paho's global mutex capped it below the broker's
// rate). Pure functions and a value-type reader; no sockets.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iotd::sim::wire {

// CONNECT, protocol level 4, clean session, no will, no credentials.
void append_connect(std::string& out, std::string_view client_id, std::uint16_t keepalive_s);
// PUBLISH; packet_id only for qos 1 (must be non-zero then).
void append_publish(std::string& out, std::string_view topic, std::string_view payload, int qos,
                    std::uint16_t packet_id);
void append_pingreq(std::string& out);
void append_disconnect(std::string& out);

// One packet from the broker: type is the high nibble of the first byte (2 = CONNACK,
// 4 = PUBACK, 13 = PINGRESP, ...); id is the packet id of a PUBACK, the return code of
// a CONNACK.
struct Packet {
  std::uint8_t type = 0;
  std::uint16_t id = 0;
};

inline constexpr std::uint8_t kConnack = 2;
inline constexpr std::uint8_t kPuback = 4;
inline constexpr std::uint8_t kPingresp = 13;

// Splits a byte stream into packets; feed() what recv() returned, then next() until empty.
class Reader {
 public:
  void feed(std::string_view bytes) { buf_.append(bytes); }
  // The next complete packet; nullopt when more bytes are needed. Sets malformed() (and
  // returns nullopt from then on) for a remaining length over 4 bytes.
  std::optional<Packet> next();
  bool malformed() const { return malformed_; }

 private:
  std::string buf_;
  std::size_t pos_ = 0;
  bool malformed_ = false;
};

// "tcp://host:port" or "mqtt://host:port" (port defaults to 1883); nullopt otherwise.
struct Endpoint {
  std::string host;
  std::uint16_t port = 1883;
};
std::optional<Endpoint> parse_tcp_url(std::string_view url);

}  // namespace iotd::sim::wire
