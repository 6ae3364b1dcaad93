// Outbound MQTT (commands to devices): the port that handlers and the writer use without
// knowing the broker client; app wires the mqtt module's implementation. Thread-safe; no
// exception crosses it.
#pragma once

#include <functional>
#include <string>

namespace iotd {

struct PublishResult {
  bool delivered = false;  // QoS 1: the broker's PUBACK arrived; QoS 0: handed to the socket
  std::string error;       // when not delivered: why
};

// Runs exactly once: inline in publish() when the message cannot be sent at all (not
// connected, queue full, stopped), else on the MQTT client's thread. Keep it short.
using PublishCompletion = std::function<void(PublishResult)>;

class MqttPublisher {
 public:
  virtual ~MqttPublisher() = default;
  // Never blocks on the network: the message is queued for the client's own thread.
  virtual void publish(std::string topic, std::string payload, int qos, PublishCompletion done) = 0;
  void publish(std::string topic, std::string payload, PublishCompletion done) {
    publish(std::move(topic), std::move(payload), 1, std::move(done));
  }
  virtual bool connected() const = 0;
};

}  // namespace iotd
