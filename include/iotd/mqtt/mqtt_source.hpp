// MQTT intake (docs/architecture.md §3, §4): a Paho async client whose message callback only appends the raw
// frame to the journal, so the QoS 1 PUBACK that Paho sends when the callback returns
// covers a durable frame. QoS 1, persistent session (MQTT 5 clean_start=false + session
// expiry, or 3.1.1 clean_session=false). A supervisor thread connects, reconnects with
// back-off (1 s .. 30 s), resubscribes, and pauses/resumes intake on request. It is also
// the outbound port (MqttPublisher): publish() only queues, a publisher thread hands the
// message to Paho, and Paho's token callback reports the PUBACK. No Paho call is ever made
// from io threads. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "iotd/core/counters.hpp"
#include "iotd/core/mqtt_publisher.hpp"
#include "iotd/journal/journal.hpp"

namespace iotd::mqtt {

struct MqttOptions {
  std::string url = "tcp://127.0.0.1:1883";
  std::string client_id = "iotd";
  std::string username, password;
  std::vector<std::string> filters;  // subscription filters
  int qos = 1;
  int version = 5;                   // 5 or 4 (3.1.1)
  std::chrono::seconds keepalive{30};
  std::chrono::seconds session_expiry{86400};
  bool ignore_retained = true;
  std::string ca_file, cert_file, key_file;
  std::chrono::milliseconds reconnect_min{1000};
  std::chrono::milliseconds reconnect_max{30000};
  std::size_t max_pending_publishes = 10000;  // queued + awaiting PUBACK; more fail at once
};

// The broker's SUBACK, one code per filter in subscription order (MQTT 5 reason codes or
// 3.1.1 return codes): `refused` names each filter whose code is 0x80 or above (its messages
// never come), `downgraded` each granted a lower QoS than asked (they arrive at most once).
// Empty strings when every filter got what was asked.
struct SubackCheck {
  std::string refused, downgraded;
};
SubackCheck check_suback(const std::vector<std::string>& filters, int qos,
                         const std::vector<int>& codes);

class MqttSource final : public MqttPublisher {
 public:
  // Validates options and creates the client with every callback registered (before any
  // connect). Throws std::runtime_error for a malformed URL.
  MqttSource(MqttOptions opts, journal::Journal& journal, Counters& counters);
  ~MqttSource() override;
  MqttSource(const MqttSource&) = delete;
  MqttSource& operator=(const MqttSource&) = delete;

  void start();  // connects in the background
  // Disconnects; no frame is appended after it returns. Publishes not acknowledged by then
  // complete as failed.
  void stop();

  // MqttPublisher. Fails at once (inline) when not connected, stopped, or too many
  // publishes are pending; otherwise the completion runs on a Paho thread after the PUBACK
  // (QoS 1/2) or the write (QoS 0), or when Paho reports the publish failed.
  void publish(std::string topic, std::string payload, int qos, PublishCompletion done) override;
  using MqttPublisher::publish;

  // Intake pause (journal at its bound): disconnect and stay away until resume().
  void pause(const std::string& reason);
  void resume();

  bool connected() const override { return connected_.load(); }
  bool paused() const { return paused_.load(); }
  // True while the message callback holds a frame the journal refused (a full disk): it
  // retries, and nothing more is acknowledged meanwhile (docs/architecture.md §4, "Disk full").
  bool intake_blocked() const { return append_blocked_.load(); }
  std::string state() const;  // "connected", "connecting", "paused: …", "disconnected: …"
  const std::string& url() const { return opts_.url; }

 private:
  void supervise(std::stop_token st);
  bool connect_once();
  void on_message(const void* msg);
  journal::AppendResult append_held(std::string_view topic, std::string_view payload,
                                    std::int64_t received_at_ms, std::uint8_t flags);
  void set_state(std::string s);
  struct Outgoing {
    std::uint64_t id;
    std::string topic, payload;
    int qos;
  };
  void publish_loop(std::stop_token st);
  void finish_publish(std::uint64_t id, PublishResult result);
  void fail_pending(const std::string& why);

  MqttOptions opts_;
  journal::Journal& journal_;
  Counters& counters_;
  struct Client;
  std::unique_ptr<Client> client_;

  std::atomic<bool> connected_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> append_blocked_{false};
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::string state_;  // guarded by mu_
  bool wake_ = false;  // guarded by mu_
  std::string tls_error_;  // guarded by mu_; OpenSSL's first reason in the last connect
  std::jthread supervisor_;

  // Outbound: publish() queues, publisher_ hands to Paho, the token callback completes.
  std::mutex pub_mu_;
  std::condition_variable_any pub_cv_;
  std::deque<Outgoing> outgoing_;                       // guarded by pub_mu_
  std::map<std::uint64_t, PublishCompletion> pending_;  // queued or in flight; guarded by pub_mu_
  std::uint64_t next_publish_id_ = 1;                   // guarded by pub_mu_
  bool publishing_stopped_ = false;                     // guarded by pub_mu_
  std::jthread publisher_;
};

}  // namespace iotd::mqtt
