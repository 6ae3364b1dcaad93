#include "iotd/commands/command_service.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>

#include "iotd/core/time.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"

namespace iotd::commands {
namespace {

constexpr std::string_view kPlaceholder = "{device_id}";
constexpr int kRetryAfterSeconds = 5;
// How long the worker waits before recording publish outcomes again after a database error.
constexpr auto kRetryDelay = std::chrono::seconds(1);
// Why commands left pending by a previous run are failed at start-up.
constexpr const char* kOutcomeUnknown =
    "iotd stopped before the broker acknowledged the publish: whether the device got the "
    "command is unknown; issue it again if needed";
constexpr const char* kExpired = "no ack from the device within IOTD_COMMAND_TTL";

}  // namespace

void validate_command_topic(const std::string& t) {
  if (t.find(kPlaceholder) == std::string::npos)
    throw std::invalid_argument("the command topic must contain {device_id}");
  if (t.find_first_of("+#") != std::string::npos)
    throw std::invalid_argument("the command topic must not hold an MQTT wildcard (+ or #)");
}

std::string command_topic(const std::string& t, const std::string& device_id) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto at = t.find(kPlaceholder, pos);
    if (at == std::string::npos) break;
    out.append(t, pos, at - pos).append(device_id);
    pos = at + kPlaceholder.size();
  }
  out.append(t, pos, std::string::npos);
  return out;
}

std::string command_payload(const storage::Command& c) {
  nlohmann::json j;
  j["command_id"] = c.command_id;
  j["command"] = c.command;
  j["parameters"] = nlohmann::json::parse(c.parameters, nullptr, false);
  if (j["parameters"].is_discarded()) j["parameters"] = nlohmann::json::object();
  j["issued_at"] = time::format_iso8601_ms(c.issued_at_ms);
  return j.dump();
}

std::string new_command_id() {
  static constexpr char kHex[] = "0123456789abcdef";
  std::random_device rd;
  std::string id;
  id.reserve(32);
  for (int i = 0; i < 4; ++i) {
    auto v = static_cast<std::uint32_t>(rd());
    for (int k = 0; k < 8; ++k, v >>= 4) id.push_back(kHex[v & 0xf]);
  }
  return id;
}

CommandService::CommandService(CommandOptions opts, storage::CommandRepository& repo, Counters& counters)
    : opts_(std::move(opts)), repo_(repo), counters_(counters) {
  validate_command_topic(opts_.topic);
  // A tiny TTL (tests) is swept more often than the default interval.
  opts_.sweep_interval = std::max(std::chrono::milliseconds(20), std::min(opts_.ttl / 4, opts_.sweep_interval));
}

CommandService::~CommandService() { stop(); }

void CommandService::start() {
  const auto failed = repo_.fail_pending(kOutcomeUnknown, time::now_ms());
  if (failed > 0) {
    counters_.commands_by_state.add(storage::command_state::failed, static_cast<std::uint64_t>(failed));
    spdlog::warn("{} command(s) were still pending from the last run: marked failed (outcome unknown)", failed);
  }
  worker_ = std::jthread([this](std::stop_token st) {
    set_thread_name("iotd-commands");
    run(st);
  });
}

void CommandService::stop() {
  if (!worker_.joinable()) return;
  worker_.request_stop();
  cv_.notify_all();
  worker_.join();
}

void CommandService::set_publisher(MqttPublisher* p) { publisher_.store(p); }

tl::expected<storage::Command, IssueError> CommandService::issue(const std::string& device_id,
                                                                 std::string command,
                                                                 std::string parameters_json) {
  MqttPublisher* pub = publisher_.load();
  if (!pub || !pub->connected())
    return tl::unexpected(IssueError{503, "mqtt_unavailable",
                                     pub ? "the MQTT broker is not connected: try again later"
                                         : "MQTT is not available (IOTD_MQTT_URL empty, or not started yet)",
                                     kRetryAfterSeconds});
  if (!repo_.device_exists(device_id))
    return tl::unexpected(IssueError{404, "not_found", "no device " + device_id, 0});

  storage::Command c;
  c.command_id = new_command_id();
  c.device_id = device_id;
  c.command = std::move(command);
  c.parameters = std::move(parameters_json);
  c.issued_at_ms = time::now_ms();
  c.expires_at_ms = c.issued_at_ms + opts_.ttl.count();
  repo_.insert(c);
  counters_.commands_by_state.add(storage::command_state::pending);

  // The completion runs inline (inside publish(), on this thread) only when the message
  // cannot be sent at all; otherwise later, on the MQTT client's thread (or on the thread
  // that stops the client), and the worker records the outcome. Shared state, not a
  // reference to this frame: a late completion must not touch it once issue() returned.
  struct InlineCheck {
    std::mutex mu;
    bool in_publish = true;  // guarded by mu
    std::thread::id caller = std::this_thread::get_id();
    std::optional<std::string> failed;  // guarded by mu
  };
  auto check = std::make_shared<InlineCheck>();
  pub->publish(command_topic(opts_.topic, device_id), command_payload(c), 1,
               [this, check, id = c.command_id](PublishResult r) {
                 {
                   std::lock_guard lock(check->mu);
                   if (check->in_publish && std::this_thread::get_id() == check->caller && !r.delivered) {
                     check->failed = r.error.empty() ? std::string("publish failed") : r.error;
                     return;
                   }
                 }
                 {
                   std::lock_guard lock(mu_);
                   outcomes_.push_back(Outcome{id, std::move(r)});
                 }
                 cv_.notify_all();
               });
  std::optional<std::string> failed_now;
  {
    std::lock_guard lock(check->mu);
    check->in_publish = false;
    failed_now = check->failed;
  }
  if (failed_now) {
    const std::string why = "not published: " + *failed_now;
    if (repo_.mark_failed(c.command_id, why, time::now_ms()))
      counters_.commands_by_state.add(storage::command_state::failed);
    return tl::unexpected(IssueError{503, "mqtt_unavailable", why, kRetryAfterSeconds});
  }
  return c;
}

void CommandService::run(std::stop_token st) {
  log::ModuleScope module("commands");
  auto next_sweep = std::chrono::steady_clock::now();
  bool warned = false;  // one warning per database outage
  for (;;) {
    std::deque<Outcome> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait_until(lock, st, next_sweep, [&] { return !outcomes_.empty(); });
      batch.swap(outcomes_);
    }
    bool failed = false;
    while (!batch.empty()) {
      try {
        record(batch.front());
        batch.pop_front();
        warned = false;
      } catch (const std::exception& e) {
        // The database is away: keep the rest for a later round (the writer's own health
        // check reports the outage).
        if (!warned) spdlog::warn("cannot record a command's publish outcome (will retry): {}", e.what());
        warned = true;
        failed = true;
        std::lock_guard lock(mu_);
        outcomes_.insert(outcomes_.begin(), batch.begin(), batch.end());
        break;
      }
    }
    if (std::chrono::steady_clock::now() >= next_sweep) {
      sweep();
      next_sweep = std::chrono::steady_clock::now() + opts_.sweep_interval;
    }
    if (st.stop_requested()) {
      // stop() comes after MQTT stopped: every completion is queued; record them, then
      // leave (at once if the database is away).
      if (failed) return;
      std::lock_guard lock(mu_);
      if (outcomes_.empty()) return;
      continue;
    }
    if (failed) {  // back off instead of retrying in a tight loop
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, st, kRetryDelay, [] { return false; });
    }
  }
}

void CommandService::record(const Outcome& o) {
  const auto now = time::now_ms();
  if (o.result.delivered) {
    repo_.mark_sent(o.command_id, now);
    counters_.commands_by_state.add(storage::command_state::sent);
    return;
  }
  const std::string why = "not published: " + (o.result.error.empty() ? std::string("publish failed") : o.result.error);
  if (repo_.mark_failed(o.command_id, why, now)) {
    counters_.commands_by_state.add(storage::command_state::failed);
    spdlog::warn("command {}: {}", o.command_id, why);
  }
}

void CommandService::sweep() {
  try {
    const auto n = repo_.expire(time::now_ms(), kExpired);
    if (n > 0) {
      counters_.commands_by_state.add(storage::command_state::expired, static_cast<std::uint64_t>(n));
      spdlog::info("{} command(s) expired without an ack", n);
    }
  } catch (const std::exception& e) {
    spdlog::warn("command expiry sweep failed (will retry): {}", e.what());
  }
}

}  // namespace iotd::commands
