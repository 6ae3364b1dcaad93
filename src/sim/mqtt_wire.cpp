// MQTT 3.1.1 packet encoding for iotd-sim (see include/iotd/sim/mqtt_wire.hpp;
// MQTT 3.1.1 sections 2.2 and 3).
#include "iotd/sim/mqtt_wire.hpp"

#include <charconv>

namespace iotd::sim::wire {

namespace {

void append_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

void append_remaining_length(std::string& out, std::size_t n) {
  do {
    auto byte = static_cast<std::uint8_t>(n % 128);
    n /= 128;
    if (n > 0) byte |= 0x80;
    out.push_back(static_cast<char>(byte));
  } while (n > 0);
}

void append_string(std::string& out, std::string_view s) {
  append_u16(out, static_cast<std::uint16_t>(s.size()));
  out.append(s);
}

}  // namespace

void append_connect(std::string& out, std::string_view client_id, std::uint16_t keepalive_s) {
  const std::size_t remaining = 10 + 2 + client_id.size();
  out.push_back(static_cast<char>(0x10));
  append_remaining_length(out, remaining);
  append_string(out, "MQTT");
  out.push_back(4);                      // protocol level: 3.1.1
  out.push_back(static_cast<char>(0x02));  // clean session
  append_u16(out, keepalive_s);
  append_string(out, client_id);
}

void append_publish(std::string& out, std::string_view topic, std::string_view payload, int qos,
                    std::uint16_t packet_id) {
  const std::size_t remaining = 2 + topic.size() + (qos > 0 ? 2 : 0) + payload.size();
  out.push_back(static_cast<char>(0x30 | (qos << 1)));
  append_remaining_length(out, remaining);
  append_string(out, topic);
  if (qos > 0) append_u16(out, packet_id);
  out.append(payload);
}

void append_pingreq(std::string& out) { out.append("\xc0\x00", 2); }

void append_disconnect(std::string& out) { out.append("\xe0\x00", 2); }

std::optional<Packet> Reader::next() {
  if (malformed_) return std::nullopt;
  const std::size_t avail = buf_.size() - pos_;
  if (avail < 2) return std::nullopt;
  std::size_t length = 0;
  std::size_t header = 1;
  for (int shift = 0;; shift += 7) {
    if (header > 4) {
      malformed_ = true;
      return std::nullopt;
    }
    if (header >= avail) return std::nullopt;
    const auto byte = static_cast<std::uint8_t>(buf_[pos_ + header]);
    length |= static_cast<std::size_t>(byte & 0x7f) << shift;
    ++header;
    if ((byte & 0x80) == 0) break;
  }
  if (avail < header + length) return std::nullopt;
  Packet p;
  p.type = static_cast<std::uint8_t>(buf_[pos_]) >> 4;
  const char* body = buf_.data() + pos_ + header;
  if (p.type == kPuback && length >= 2) {
    p.id = static_cast<std::uint16_t>((static_cast<std::uint8_t>(body[0]) << 8) |
                                      static_cast<std::uint8_t>(body[1]));
  } else if (p.type == kConnack && length >= 2) {
    p.id = static_cast<std::uint8_t>(body[1]);
  }
  pos_ += header + length;
  if (pos_ == buf_.size()) {  // keep the buffer from growing: most reads end on a packet
    buf_.clear();
    pos_ = 0;
  } else if (pos_ > 65536) {
    buf_.erase(0, pos_);
    pos_ = 0;
  }
  return p;
}

std::optional<Endpoint> parse_tcp_url(std::string_view url) {
  std::string_view rest;
  for (const std::string_view scheme : {"tcp://", "mqtt://"}) {
    if (url.substr(0, scheme.size()) == scheme) rest = url.substr(scheme.size());
  }
  if (rest.empty()) return std::nullopt;
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  Endpoint e;
  const auto colon = rest.rfind(':');
  if (colon == std::string_view::npos) {
    e.host = std::string(rest);
  } else {
    e.host = std::string(rest.substr(0, colon));
    const std::string_view port = rest.substr(colon + 1);
    unsigned v = 0;
    const auto r = std::from_chars(port.data(), port.data() + port.size(), v);
    if (port.empty() || r.ec != std::errc() || r.ptr != port.data() + port.size() || v == 0 ||
        v > 65535) {
      return std::nullopt;
    }
    e.port = static_cast<std::uint16_t>(v);
  }
  if (e.host.empty() || e.host.find('/') != std::string::npos) return std::nullopt;
  return e;
}

}  // namespace iotd::sim::wire
