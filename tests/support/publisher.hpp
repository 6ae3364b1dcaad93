// An MQTT publisher for tests and benchmarks (Paho C++): publishes a list of messages at
// QoS 0/1 with a bounded in-flight window and waits for every acknowledgement.
// Use one Publisher per thread.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace iotd::test {

struct OutMessage {
  std::string topic;
  std::string payload;
  bool retained = false;
};

struct PublishResult {
  std::size_t acknowledged = 0;  // QoS 1: PUBACKed by the broker; QoS 0: handed to the socket
  double seconds = 0;
};

// Connects (clean session), publishes all messages in order with at most `window`
// unacknowledged, waits for the last ack and disconnects. Throws on connection failure.
PublishResult publish_all(const std::string& url, const std::string& client_id,
                          const std::vector<OutMessage>& messages, int qos, std::size_t window = 100);

}  // namespace iotd::test
