#include "iotd/mqtt/mqtt_source.hpp"

#include <mqtt/async_client.h>
#include <spdlog/spdlog.h>

#include <optional>
#include <thread>

#include "iotd/core/time.hpp"
#include "iotd/core/log.hpp"
#include "iotd/core/thread_name.hpp"
#include "mqtt_tls.hpp"

namespace iotd::mqtt {

struct MqttSource::Client {
  // One listener for every publish, alive as long as the client: the token's user context
  // carries the publish id (no per-message listener whose lifetime Paho would have to end).
  struct Delivery final : ::mqtt::iaction_listener {
    MqttSource* owner;
    explicit Delivery(MqttSource* o) : owner(o) {}
    static std::uint64_t id_of(const ::mqtt::token& tok) {
      return static_cast<std::uint64_t>(reinterpret_cast<std::uintptr_t>(tok.get_user_context()));
    }
    // Paho C++ calls these without a try (see on_message).
    void on_success(const ::mqtt::token& tok) override {
      try {
        owner->finish_publish(id_of(tok), PublishResult{true, {}});
      } catch (...) {
      }
    }
    void on_failure(const ::mqtt::token& tok) override {
      try {
        std::string why = "publish failed: " + ::mqtt::exception::error_str(tok.get_return_code());
        if (tok.get_reason_code() >= 0x80)
          why += " (reason code " + std::to_string(static_cast<int>(tok.get_reason_code())) + ")";
        owner->finish_publish(id_of(tok), PublishResult{false, std::move(why)});
      } catch (...) {
      }
    }
  };

  ::mqtt::async_client cli;
  Delivery delivery;
  Client(const std::string& uri, const std::string& id, int version, MqttSource* owner)
      : cli(uri, id, ::mqtt::create_options(version == 5 ? MQTTVERSION_5 : MQTTVERSION_3_1_1)),
        delivery(owner) {}
};

namespace {

// Everything but the MQTT 5 properties (see connect_once). `on_tls_error` gets OpenSSL's
// reasons for a failed TLS handshake (ssl:// only).
::mqtt::connect_options make_connect_options(const MqttOptions& o,
                                             ::mqtt::ssl_options::error_handler on_tls_error) {
  auto b = ::mqtt::connect_options_builder();
  b.keep_alive_interval(o.keepalive).connect_timeout(std::chrono::seconds(10));
  if (o.version == 5) {
    b.mqtt_version(MQTTVERSION_5).clean_start(false);
  } else {
    b.mqtt_version(MQTTVERSION_3_1_1).clean_session(false);
  }
  if (!o.username.empty()) b.user_name(o.username);
  if (!o.password.empty()) b.password(o.password);
  if (is_tls_url(o.url)) b.ssl(make_ssl_options(o, std::move(on_tls_error)));
  return b.finalize();
}

std::string normalise_url(std::string url) {
  if (url.rfind("mqtt://", 0) == 0) return "tcp://" + url.substr(7);
  if (url.rfind("mqtts://", 0) == 0) return "ssl://" + url.substr(8);
  return url;
}

}  // namespace

MqttSource::MqttSource(MqttOptions opts, journal::Journal& journal, Counters& counters)
    : opts_(std::move(opts)), journal_(journal), counters_(counters) {
  check_tls_files(opts_);  // TLS (docs/architecture.md §19): a missing file fails start-up
  opts_.url = normalise_url(opts_.url);
  try {
    client_ = std::make_unique<Client>(opts_.url, opts_.client_id, opts_.version, this);
  } catch (const std::exception& e) {
    throw std::runtime_error("IOTD_MQTT_URL \"" + opts_.url + "\": " + e.what());
  }
  auto& cli = client_->cli;
  // Every callback before the first connect(): a callback set later leaves a window in
  // which Paho acknowledges messages the application never sees.
  // Paho's threads log as module mqtt (iotd/core/log.hpp).
  cli.set_message_callback([this](::mqtt::const_message_ptr m) {
    log::ModuleScope module("mqtt");
    on_message(m.get());
  });
  // No connected handler: `connected_` (what /health and /metrics report) turns true in
  // connect_once() only after the SUBACK. Set at the CONNACK, it said "connected" while
  // the subscription was still on its way (Paho's send thread may take up to a second
  // to send it), and a client that waited for "connected" before publishing lost that
  // second of messages: on a new session the broker had nobody to route them to.
  cli.set_connection_lost_handler([this](const std::string& cause) {
    log::ModuleScope module("mqtt");
    connected_ = false;
    const std::string why = cause.empty() ? std::string() : " (" + cause + ")";
    // A quick reconnect logs only at info: say here that the connection went away.
    spdlog::warn("MQTT connection to {} lost{}; reconnecting", opts_.url, why);
    set_state("disconnected: connection lost" + why);
    std::lock_guard lock(mu_);
    wake_ = true;
    cv_.notify_all();
  });
  cli.set_disconnected_handler([this](const ::mqtt::properties&, ::mqtt::ReasonCode rc) {
    connected_ = false;
    std::lock_guard lock(mu_);
    wake_ = true;
    cv_.notify_all();
  });

  set_state("disconnected: not started");
}

MqttSource::~MqttSource() { stop(); }

void MqttSource::set_state(std::string s) {
  std::lock_guard lock(mu_);
  state_ = std::move(s);
}

std::string MqttSource::state() const {
  std::lock_guard lock(mu_);
  return state_;
}

void MqttSource::on_message(const void* p) {
  // Runs on Paho's receive thread while Paho holds its global mutex. Append and return;
  // never throw into C code.
  try {
    const auto* m = static_cast<const ::mqtt::message*>(p);
    if (m->is_retained() && opts_.ignore_retained) {
      counters_.mqtt_retained_ignored++;
      return;
    }
    std::uint8_t flags = 0;
    if (m->is_duplicate()) flags |= journal::kDup;
    if (m->is_retained()) flags |= journal::kRetained;
    const auto& payload = m->get_payload();
    switch (append_held(m->get_topic(), std::string_view(payload.data(), payload.size()), time::now_ms(), flags)) {
      case journal::AppendResult::appended:
        counters_.mqtt_received++;
        break;
      case journal::AppendResult::duplicate:
        counters_.mqtt_duplicates++;
        break;
      case journal::AppendResult::failed:
        break;
    }
  } catch (...) {
    counters_.journal_append_failures++;
  }
}

// Paho (1.3.12) sends the PUBACK after this callback returns, and the C++ wrapper cannot
// refuse a message. So a frame the journal cannot take (ENOSPC, EIO) is held here and
// retried: Paho's receive thread waits with it, no further message is read or acknowledged,
// and the broker keeps the rest for the persistent session. The monitor normally pauses
// intake before the disk fills (IOTD_JOURNAL_MIN_FREE_BYTES); this is the last line.
// Only stop() ends the wait (after 5 s of grace), losing the held frame (logged, counted).
journal::AppendResult MqttSource::append_held(std::string_view topic, std::string_view payload,
                                              std::int64_t received_at_ms, std::uint8_t flags) {
  auto delay = std::chrono::milliseconds(10);
  bool counted = false;
  std::optional<std::chrono::steady_clock::time_point> stop_seen;
  while (true) {
    const auto before = journal_.last_seq();
    const auto r = journal_.append(topic, payload, received_at_ms, flags);
    // `always` may fail the fdatasync of a frame already written: never write it twice.
    if (r != journal::AppendResult::failed || journal_.last_seq() != before) {
      if (append_blocked_.exchange(false)) spdlog::info("journal accepts frames again: MQTT intake continues");
      return r == journal::AppendResult::duplicate ? r : journal::AppendResult::appended;
    }
    if (!counted) {
      counters_.journal_append_failures++;
      counted = true;
    }
    // On shutdown the writer still runs for a while and may free space: a short grace.
    if (stopping_ && !stop_seen) stop_seen = std::chrono::steady_clock::now();
    if (stop_seen && std::chrono::steady_clock::now() - *stop_seen > std::chrono::seconds(5)) {
      append_blocked_ = false;
      spdlog::critical("journal append failed ({}) during shutdown: one MQTT message is acknowledged "
                       "but NOT stored (topic {})", journal_.last_failure(), topic);
      return journal::AppendResult::failed;
    }
    if (!append_blocked_.exchange(true))
      spdlog::error("journal append failed ({}): MQTT intake blocked, the frame is held and retried; "
                    "free space in the journal directory", journal_.last_failure());
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(200));
  }
}

bool MqttSource::connect_once() {
  auto& cli = client_->cli;
  set_state("connecting");
  try {
    // Paho C++ 1.2.0's connect_options copy/move constructors keep connectProperties
    // pointing at the SOURCE object's properties: after any copy it dangles (we saw
    // garbage, a crash in MQTTProperties_copy, and a session expiry that never reached the
    // broker, so sessions were not kept). Set the properties on this object, which
    // outlives connect(), whose by-value copy then points here while Paho copies them.
    {
      std::lock_guard lock(mu_);
      tls_error_.clear();
    }
    // OpenSSL's reasons for a failed handshake (wrong CA, expired or refused certificate),
    // so the state and /health say more than "connect failure".
    auto conn = make_connect_options(opts_, [this](const std::string& why) {
      try {
        std::lock_guard lock(mu_);
        if (tls_error_.empty()) tls_error_ = why;
      } catch (...) {
      }
    });
    if (opts_.version == 5)
      conn.set_properties({{::mqtt::property::SESSION_EXPIRY_INTERVAL,
                            static_cast<int>(opts_.session_expiry.count())}});
    auto tok = cli.connect(conn);
    if (!tok->wait_for(std::chrono::seconds(15))) {
      set_state("disconnected: connect timed out");
      return false;
    }
    auto rsp = tok->get_connect_response();
    std::vector<std::string> filters = opts_.filters;
    auto sub = cli.subscribe(::mqtt::string_collection::create(filters),
                             std::vector<int>(filters.size(), opts_.qos));
    bool subscribed = false;
    try {
      subscribed = sub->wait_for(std::chrono::seconds(15));
    } catch (const ::mqtt::exception& e) {
      // Paho fails the token when the only filter, or every one, is refused.
      set_state("disconnected: the broker refused the subscription to " + fmt::format("{}", fmt::join(filters, ", ")) +
                " (" + e.what() + ")");
      cli.disconnect()->wait_for(std::chrono::seconds(2));
      return false;
    }
    if (!subscribed) {
      set_state("connected: subscribe timed out");
      cli.disconnect()->wait_for(std::chrono::seconds(2));
      return false;
    }
    std::vector<int> codes;
    const auto suback_rsp = sub->get_subscribe_response();  // the codes live in it
    for (auto rc : suback_rsp.get_reason_codes()) codes.push_back(static_cast<int>(rc));
    auto suback = check_suback(filters, opts_.qos, codes);
    if (!suback.refused.empty()) {
      // Subscribed to less than configured, readings would silently stop: count it as a
      // failed connect, so /health says why and the supervisor retries (the broker's ACL may
      // be fixed meanwhile).
      set_state("disconnected: the broker refused the subscription to " + suback.refused);
      cli.disconnect()->wait_for(std::chrono::seconds(2));
      return false;
    }
    if (!suback.downgraded.empty())
      spdlog::warn("MQTT broker granted a lower QoS than IOTD_MQTT_QOS={} for {}: those messages "
                   "arrive at most once",
                   opts_.qos, suback.downgraded);
    connected_ = true;
    set_state("connected");
    if (paused_) {  // pause() raced with this connect
      cli.disconnect()->wait_for(std::chrono::seconds(5));
      connected_ = false;
      return false;
    }
    spdlog::info("MQTT connected to {} as {} (MQTT {}, session {}), subscribed to {}", opts_.url,
                 opts_.client_id, opts_.version == 5 ? "5" : "3.1.1",
                 rsp.is_session_present() ? "resumed" : "new", fmt::join(filters, ", "));
    return true;
  } catch (const ::mqtt::exception& e) {
    connected_ = false;
    std::string tls;
    {
      std::lock_guard lock(mu_);
      tls = tls_error_;
    }
    if (!tls.empty()) tls = openssl_reason(tls);
    // OpenSSL's queue says only "certificate verify failed"; our own handshake says why.
    if (tls == "certificate verify failed") {
      auto why = diagnose_server_certificate(opts_, std::chrono::seconds(3));
      if (!why.empty()) tls += ": " + why;
    }
    set_state(std::string("disconnected: ") + e.what() + (tls.empty() ? "" : " (TLS: " + tls + ")"));
    return false;
  }
}

SubackCheck check_suback(const std::vector<std::string>& filters, int qos,
                         const std::vector<int>& codes) {
  SubackCheck out;
  auto add = [](std::string& to, const std::string& what) {
    to += (to.empty() ? "" : ", ") + what;
  };
  for (std::size_t i = 0; i < filters.size(); ++i) {
    // A broker that answers fewer codes than filters has not granted the rest.
    const int code = i < codes.size() ? codes[i] : 0x80;
    const auto name = "'" + filters[i] + "'";
    if (code >= 0x80) {
      add(out.refused, name + fmt::format(" (reason code 0x{:02X})", code));
    } else if (code < qos) {
      add(out.downgraded, name + " (QoS " + std::to_string(code) + ")");
    }
  }
  return out;
}

void MqttSource::supervise(std::stop_token st) {
  auto delay = opts_.reconnect_min;
  std::string last_logged;
  bool connected_before = false;
  while (!st.stop_requested()) {
    if (!paused_ && !connected_) {
      if (connect_once()) {
        if (connected_before) counters_.mqtt_reconnects++;
        connected_before = true;
        delay = opts_.reconnect_min;
        last_logged.clear();
      } else {
        auto s = state();
        if (s != last_logged) {
          spdlog::warn("MQTT {} ({}); retrying every {} s at most", opts_.url, s,
                       std::chrono::duration_cast<std::chrono::seconds>(opts_.reconnect_max).count());
          last_logged = s;
        }
        std::unique_lock lock(mu_);
        cv_.wait_for(lock, st, delay, [&] { return false; });
        delay = std::min(delay * 2, opts_.reconnect_max);
        continue;
      }
    }
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, st, std::chrono::seconds(1), [&] { return wake_; });
    wake_ = false;
  }
}

void MqttSource::start() {
  publisher_ = std::jthread([this](std::stop_token st) {
    set_thread_name("iotd-mqtt-pub");
    log::ModuleScope module("mqtt");
    publish_loop(st);
  });
  supervisor_ = std::jthread([this](std::stop_token st) {
    set_thread_name("iotd-mqtt");
    log::ModuleScope module("mqtt");
    supervise(st);
  });
}

void MqttSource::stop() {
  if (stopping_.exchange(true)) return;
  if (supervisor_.joinable()) {
    supervisor_.request_stop();
    supervisor_.join();
  }
  if (publisher_.joinable()) {
    publisher_.request_stop();
    publisher_.join();
  }
  try {
    // Waits for the PUBACKs of what is in flight (they complete their publishes).
    if (client_->cli.is_connected()) client_->cli.disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const std::exception& e) {
    spdlog::warn("MQTT disconnect: {}", e.what());
  }
  connected_ = false;
  fail_pending("MQTT client stopped");
  set_state("disconnected: stopped");
}

void MqttSource::publish(std::string topic, std::string payload, int qos, PublishCompletion done) {
  auto fail_now = [&](std::string why) {
    if (!done) return;
    try {
      done(PublishResult{false, std::move(why)});
    } catch (...) {
    }
  };
  if (qos < 0 || qos > 2) return fail_now("QoS must be 0, 1 or 2");
  if (topic.empty() || topic.find_first_of("+#") != std::string::npos)
    return fail_now("cannot publish to \"" + topic + "\": empty or holds a wildcard");
  if (!connected_) return fail_now("MQTT is not connected (" + state() + ")");
  {
    std::lock_guard lock(pub_mu_);
    if (publishing_stopped_ || stopping_) return fail_now("MQTT client stopped");
    if (pending_.size() >= opts_.max_pending_publishes)
      return fail_now("too many MQTT publishes pending (" + std::to_string(pending_.size()) + ")");
    const std::uint64_t id = next_publish_id_++;
    pending_.emplace(id, std::move(done));
    outgoing_.push_back({id, std::move(topic), std::move(payload), qos});
  }
  pub_cv_.notify_one();
}

// The only thread that hands outbound messages to Paho (never an io thread: Paho may hold
// its global mutex while a message callback runs).
void MqttSource::publish_loop(std::stop_token st) {
  while (true) {
    Outgoing out;
    {
      std::unique_lock lock(pub_mu_);
      pub_cv_.wait(lock, st, [&] { return !outgoing_.empty(); });
      if (outgoing_.empty()) {  // stop requested
        publishing_stopped_ = true;
        break;
      }
      out = std::move(outgoing_.front());
      outgoing_.pop_front();
    }
    if (!connected_) {
      finish_publish(out.id, PublishResult{false, "MQTT is not connected (" + state() + ")"});
      continue;
    }
    try {
      auto msg = ::mqtt::make_message(out.topic, out.payload, out.qos, false);
      client_->cli.publish(msg, reinterpret_cast<void*>(static_cast<std::uintptr_t>(out.id)),
                           client_->delivery);
    } catch (const std::exception& e) {
      finish_publish(out.id, PublishResult{false, std::string("publish failed: ") + e.what()});
    }
  }
  std::lock_guard lock(pub_mu_);
  publishing_stopped_ = true;
}

void MqttSource::finish_publish(std::uint64_t id, PublishResult result) {
  PublishCompletion done;
  {
    std::lock_guard lock(pub_mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;  // already failed by stop()
    done = std::move(it->second);
    pending_.erase(it);
  }
  if (!done) return;
  try {
    done(std::move(result));
  } catch (const std::exception& e) {
    spdlog::error("MQTT publish completion threw: {}", e.what());
  } catch (...) {
  }
}

void MqttSource::fail_pending(const std::string& why) {
  std::map<std::uint64_t, PublishCompletion> left;
  {
    std::lock_guard lock(pub_mu_);
    publishing_stopped_ = true;
    left.swap(pending_);
    outgoing_.clear();
  }
  for (auto& [id, done] : left) {
    if (!done) continue;
    try {
      done(PublishResult{false, why});
    } catch (...) {
    }
  }
}

void MqttSource::pause(const std::string& reason) {
  if (paused_.exchange(true)) return;
  spdlog::warn("MQTT intake paused: {}", reason);
  set_state("paused: " + reason);
  try {
    if (client_->cli.is_connected()) client_->cli.disconnect()->wait_for(std::chrono::seconds(5));
  } catch (const std::exception& e) {
    spdlog::warn("MQTT disconnect while pausing: {}", e.what());
  }
  connected_ = false;
  set_state("paused: " + reason);
}

void MqttSource::resume() {
  if (!paused_.exchange(false)) return;
  spdlog::info("MQTT intake resumed");
  std::lock_guard lock(mu_);
  wake_ = true;
  cv_.notify_all();
}

}  // namespace iotd::mqtt
