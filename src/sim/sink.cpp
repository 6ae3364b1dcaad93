// The counting subscriber (see include/iotd/sim/sink.hpp). The message callback only
// bumps atomics, so Paho's receive thread (and the PUBACK after it) never waits on us.
#include "iotd/sim/sink.hpp"

#include <unistd.h>

#include <thread>

#include <mqtt/async_client.h>

namespace iotd::sim {

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

constexpr auto kConnectTimeout = 15s;
constexpr auto kPoll = 5ms;

}  // namespace

SinkReport run_sink(const SinkOptions& opts, const std::atomic<bool>& stop,
                    const std::function<void()>& on_ready) {
  const std::string id =
      opts.client_id.empty() ? "iotd-sim-sink-" + std::to_string(::getpid()) : opts.client_id;
  mqtt::async_client cli(opts.url, id, mqtt::create_options(MQTTVERSION_3_1_1));

  std::atomic<std::uint64_t> received{0};
  std::atomic<std::int64_t> first_us{0}, last_us{0};
  // Set before connect(): Paho runs it on its receive thread, one message at a time.
  cli.set_message_callback([&](mqtt::const_message_ptr) {
    const std::int64_t t = now_us();
    if (received.load(std::memory_order_relaxed) == 0) first_us.store(t, std::memory_order_relaxed);
    last_us.store(t, std::memory_order_relaxed);
    received.fetch_add(1, std::memory_order_release);
  });

  // Kept alive and passed as is (copies of connect_options may dangle in Paho C++ 1.2.0).
  mqtt::connect_options conn_opts = mqtt::connect_options_builder()
                                        .clean_session(true)
                                        .keep_alive_interval(30s)
                                        .connect_timeout(10s)
                                        .finalize();
  try {
    if (!cli.connect(conn_opts)->wait_for(kConnectTimeout)) throw std::runtime_error("timed out");
  } catch (const mqtt::exception& e) {
    throw std::runtime_error("cannot connect to " + opts.url + " as " + id + ": " + e.what());
  }
  try {
    auto tok = cli.subscribe(opts.topic, opts.qos);
    if (!tok->wait_for(kConnectTimeout)) throw std::runtime_error("no SUBACK");
    const auto granted = tok->get_subscribe_response().get_reason_codes();
    if (!granted.empty() && granted.front() >= 0x80) throw std::runtime_error("refused by the broker");
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot subscribe to " + opts.topic + ": " + e.what());
  }
  if (on_ready) on_ready();

  const auto deadline = opts.timeout_s > 0
                            ? Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                                 std::chrono::duration<double>(opts.timeout_s))
                            : Clock::time_point::max();
  SinkReport r;
  while (true) {
    if (opts.count != 0 && received.load(std::memory_order_acquire) >= opts.count) break;
    if (stop.load() || Clock::now() >= deadline) break;
    std::this_thread::sleep_for(kPoll);
  }
  r.interrupted = stop.load();
  try {
    cli.disconnect()->wait_for(5s);
  } catch (const mqtt::exception&) {
  }
  r.received = received.load(std::memory_order_acquire);
  r.first_receive_us = first_us.load();
  r.last_receive_us = last_us.load();
  r.complete = opts.count == 0 || r.received >= opts.count;
  return r;
}

}  // namespace iotd::sim
