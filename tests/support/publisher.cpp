#include "support/publisher.hpp"

#include <mqtt/async_client.h>

#include <deque>

namespace iotd::test {

PublishResult publish_all(const std::string& url, const std::string& client_id,
                          const std::vector<OutMessage>& messages, int qos, std::size_t window) {
  // Paho counts queued-but-unsent publishes against maxBufferedMessages (default 100)
  // and fails the publish with -12 beyond it: size it to the window.
  mqtt::async_client cli(url, client_id,
                         mqtt::create_options(MQTTVERSION_3_1_1, static_cast<int>(window) * 2 + 100));
  auto opts = mqtt::connect_options_builder()
                  .clean_session(true)
                  .keep_alive_interval(std::chrono::seconds(30))
                  .connect_timeout(std::chrono::seconds(10))
                  .finalize();
  opts.set_max_inflight(static_cast<int>(window));
  if (!cli.connect(opts)->wait_for(std::chrono::seconds(15)))
    throw std::runtime_error("publisher " + client_id + ": connect to " + url + " timed out");
  PublishResult result;
  auto start = std::chrono::steady_clock::now();
  std::deque<mqtt::delivery_token_ptr> inflight;
  for (const auto& m : messages) {
    while (inflight.size() >= window) {
      inflight.front()->wait();
      inflight.pop_front();
      ++result.acknowledged;
    }
    auto msg = mqtt::make_message(m.topic, m.payload, qos, m.retained);
    inflight.push_back(cli.publish(msg));
  }
  while (!inflight.empty()) {
    inflight.front()->wait();
    inflight.pop_front();
    ++result.acknowledged;
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  cli.disconnect()->wait_for(std::chrono::seconds(5));
  return result;
}

}  // namespace iotd::test
