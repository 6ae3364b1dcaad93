// Commands to devices (issue 9; docs/architecture.md §14): issue() stores a command and
// publishes {command_id, command, parameters, issued_at} at QoS 1 on the device's command
// topic through the MqttPublisher port; a worker thread records the broker's PUBACK
// (pending -> sent) or the publish failure, and expires commands that got no ack within the
// TTL. Devices' acks are applied by the writer (ingest::StoringAckSink), not here.
// Thread-safe: issue() runs on the HTTP blocking pool (it blocks on the database).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include <tl/expected.hpp>

#include "iotd/core/counters.hpp"
#include "iotd/core/mqtt_publisher.hpp"
#include "iotd/storage/commands.hpp"

namespace iotd::commands {

struct CommandOptions {
  std::string topic = "control/{device_id}/command";  // every "{device_id}" is replaced
  std::chrono::milliseconds ttl{std::chrono::hours(1)};
  // How often expired commands are looked for, at most (shorter when the TTL is).
  std::chrono::milliseconds sweep_interval{1000};
};

// Why a command was not issued: an HTTP status, a v1 error code and a message.
struct IssueError {
  int status = 400;
  std::string code;
  std::string message;
  int retry_after_s = 0;  // > 0: send Retry-After
};

// Limits of a command's fields (the HTTP handlers validate against them).
inline constexpr std::size_t kMaxCommandName = 128;

// The topic template's "{device_id}" replaced; throws std::invalid_argument when the
// template has none or holds an MQTT wildcard.
void validate_command_topic(const std::string& topic_template);
std::string command_topic(const std::string& topic_template, const std::string& device_id);
// What the device receives: {"command_id","command","parameters","issued_at"}.
std::string command_payload(const storage::Command& c);
// 32 lower-case hex digits from the system's random source.
std::string new_command_id();

class CommandService {
 public:
  CommandService(CommandOptions opts, storage::CommandRepository& repo, Counters& counters);
  ~CommandService();
  CommandService(const CommandService&) = delete;
  CommandService& operator=(const CommandService&) = delete;

  // Fails the commands a previous run left pending (whether the broker got them is
  // unknown), then starts the worker. Throws if the database cannot be read.
  void start();
  // Records what the publisher reported until now, then joins the worker. Stop the MQTT
  // client first, so that every publish has completed.
  void stop();

  // The broker (MqttSource); null or not connected: issue() answers 503. May be set after
  // start(), and must outlive the service's use of it (app stops MQTT before the service).
  void set_publisher(MqttPublisher* p);

  // Stores the command (pending) and queues its publish. 404 unknown device, 503 MQTT down
  // (or the publish failed at once: the command is then stored as failed). Repository
  // errors are thrown.
  tl::expected<storage::Command, IssueError> issue(const std::string& device_id, std::string command,
                                                   std::string parameters_json);

  storage::CommandRepository& repository() { return repo_; }

 private:
  struct Outcome {
    std::string command_id;
    PublishResult result;
  };
  void run(std::stop_token st);
  void record(const Outcome& o);
  void sweep();

  CommandOptions opts_;
  storage::CommandRepository& repo_;
  Counters& counters_;
  std::atomic<MqttPublisher*> publisher_{nullptr};

  std::mutex mu_;
  std::condition_variable_any cv_;
  std::deque<Outcome> outcomes_;  // publish completions not yet recorded; guarded by mu_
  std::jthread worker_;
};

}  // namespace iotd::commands
