// MQTT intake (docs/architecture.md §3, §4): a Paho async client whose message callback only appends the raw
// frame to the journal, so the QoS 1 PUBACK that Paho sends when the callback returns
// covers a durable frame. QoS 1, persistent session (MQTT 5 clean_start=false + session
// expiry, or 3.1.1 clean_session=false). A supervisor thread connects, reconnects with
// back-off (1 s .. 30 s), resubscribes, and pauses/resumes intake on request; no Paho call
// is ever made from io threads. Thread-safe.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "iotd/core/counters.hpp"
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
};

class MqttSource {
 public:
  // Validates options and creates the client with every callback registered (before any
  // connect). Throws std::runtime_error for a malformed URL.
  MqttSource(MqttOptions opts, journal::Journal& journal, Counters& counters);
  ~MqttSource();
  MqttSource(const MqttSource&) = delete;
  MqttSource& operator=(const MqttSource&) = delete;

  void start();  // connects in the background
  void stop();   // disconnects; no frame is appended after it returns

  // Intake pause (journal at its bound): disconnect and stay away until resume().
  void pause(const std::string& reason);
  void resume();

  bool connected() const { return connected_.load(); }
  bool paused() const { return paused_.load(); }
  std::string state() const;  // "connected", "connecting", "paused: …", "disconnected: …"
  const std::string& url() const { return opts_.url; }

 private:
  void supervise(std::stop_token st);
  bool connect_once();
  void on_message(const void* msg);
  void set_state(std::string s);

  MqttOptions opts_;
  journal::Journal& journal_;
  Counters& counters_;
  struct Client;
  std::unique_ptr<Client> client_;

  std::atomic<bool> connected_{false};
  std::atomic<bool> paused_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> append_failed_{false};
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::string state_;  // guarded by mu_
  bool wake_ = false;  // guarded by mu_
  std::jthread supervisor_;
};

}  // namespace iotd::mqtt
