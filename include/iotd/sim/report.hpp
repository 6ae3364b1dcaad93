// What a publish or sink run did, and its JSON (one line) and human forms. Plain values.
#pragma once

#include <cstdint>
#include <string>

#include "iotd/sim/options.hpp"

namespace iotd::sim {

struct PublishReport {
  std::uint64_t published = 0;       // publish() calls Paho accepted
  std::uint64_t acknowledged = 0;    // QoS 1: PUBACK; QoS 0: written to the socket
  std::uint64_t errors = 0;          // refused or failed publishes
  std::uint64_t failed_after_publish = 0;  // part of errors: accepted, then failed
  std::int64_t first_publish_us = 0; // UTC epoch µs; 0 when nothing was published
  std::int64_t last_ack_us = 0;      // UTC epoch µs; 0 when nothing was acknowledged
  bool interrupted = false;          // stopped by SIGINT/SIGTERM

  std::uint64_t unacknowledged() const { return published - acknowledged - failed_after_publish; }
  // acknowledged / (last_ack - first_publish); 0 when undefined.
  double seconds() const;
  double rate() const;
};

struct SinkReport {
  std::uint64_t received = 0;
  std::int64_t first_receive_us = 0;  // UTC epoch µs; 0 when nothing arrived
  std::int64_t last_receive_us = 0;
  bool complete = false;              // --count reached (true when no count was asked)
  bool interrupted = false;

  double seconds() const;
  double rate() const;                // received / (last - first); 0 when undefined
};

std::string to_json(const PublishReport& r, const PublishOptions& o);
std::string to_json(const SinkReport& r, const SinkOptions& o);
std::string to_text(const PublishReport& r, const PublishOptions& o);
std::string to_text(const SinkReport& r);

// UTC epoch microseconds (system clock).
std::int64_t now_us();

}  // namespace iotd::sim
