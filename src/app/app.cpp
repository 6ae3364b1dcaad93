#include "iotd/app/app.hpp"
#include "app_parts.hpp"

#include <signal.h>

#include <spdlog/spdlog.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "iotd/commands/command_service.hpp"
#include "iotd/core/counters.hpp"
#include "iotd/core/fd_limit.hpp"
#include "iotd/core/health.hpp"
#include "iotd/core/thread_name.hpp"
#include "iotd/core/time.hpp"
#include "iotd/http/api.hpp"
#include "iotd/http/auth.hpp"
#include "iotd/http/device_keys.hpp"
#include "iotd/http/rate_limit.hpp"
#include "iotd/http/server.hpp"
#include "iotd/ingest/command_ack.hpp"
#include "iotd/ingest/journal_input.hpp"
#include "iotd/ingest/submission_queue.hpp"
#include "iotd/ingest/writer.hpp"
#include "iotd/live/hub.hpp"
#include "iotd/cluster/relay.hpp"
#include "iotd/live/stream_routes.hpp"
#include "iotd/journal/journal.hpp"
#include "iotd/journal/journal_owner.hpp"
#include "iotd/pipeline/share_group.hpp"
#include "iotd/mqtt/mqtt_source.hpp"
#include "iotd/pipeline/decoder.hpp"
#include "iotd/pipeline/topic.hpp"
#include "iotd/storage/database.hpp"
#include "iotd/storage/latest_cache.hpp"

#ifndef IOTD_VERSION
#define IOTD_VERSION "0.1.0"
#endif

namespace iotd::app {
namespace {

// Journal bound hysteresis: intake resumes below this fraction of IOTD_JOURNAL_MAX_BYTES.
constexpr double kResumeFraction = 0.8;
// Free-space hysteresis: intake paused under IOTD_JOURNAL_MIN_FREE_BYTES resumes above this
// multiple of it.
constexpr double kResumeFreeFactor = 1.25;
// How often the monitor checks that the database answers (writes alone would notice an
// outage only when the next message arrives).
constexpr auto kDatabasePingInterval = std::chrono::seconds(5);

pipeline::DecoderOptions decoder_options(const config::Config& c) {
  pipeline::DecoderOptions d;
  if (c.device_id_source == "topic") d.id_source = pipeline::DeviceIdSource::topic;
  else if (c.device_id_source == "payload") d.id_source = pipeline::DeviceIdSource::payload;
  try {
    d.aliases = pipeline::parse_aliases(c.aliases);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("IOTD_ALIASES=\"") + c.aliases + "\": " + e.what());
  }
  d.max_clock_skew_ms = c.max_clock_skew.count();
  return d;
}

// Every subscribed template with the kind of message it carries. The command ack template
// comes first, so that a broad telemetry template ("#") does not take the acks.
std::vector<pipeline::TopicTemplate> topic_templates(const config::Config& c) {
  std::vector<pipeline::TopicTemplate> all;
  try {
    if (!c.command_ack_topic.empty())
      all.emplace_back(c.command_ack_topic, pipeline::MessageKind::command_ack);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("IOTD_COMMAND_ACK_TOPIC=\"") + c.command_ack_topic + "\": " + e.what());
  }
  try {
    auto t = pipeline::parse_topic_templates(c.mqtt_topics);
    if (t.empty()) throw std::invalid_argument("no topic templates");
    for (auto& x : t) all.push_back(std::move(x));
    return all;
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("IOTD_MQTT_TOPICS=\"") + c.mqtt_topics + "\": " + e.what());
  }
}

// What iotd subscribes to: each template's filter, as $share/<group>/<filter> under
// IOTD_MQTT_SHARE_GROUP (issue 13, docs/scaling.md §2). The command ack topic is shared too:
// an ack updates its commands row in the database, so any one member may store it.
std::vector<std::string> subscription_filters(const config::Config& c,
                                              const std::vector<pipeline::TopicTemplate>& topics) {
  try {
    return pipeline::subscription_filters(topics, c.mqtt_share_group);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(std::string("IOTD_MQTT_SHARE_GROUP=\"") + c.mqtt_share_group + "\": " + e.what());
  }
}

storage::ConnectionSpec connection_spec(const config::Config& c) {
  try {
    return storage::parse_database_url(c.database_url);
  } catch (const std::invalid_argument& e) {
    throw config::ConfigError(e.what());
  }
}

}  // namespace

// For `iotd replay-journal` (replay_journal.cpp, issue 13): the same parts App starts from.
namespace detail {
pipeline::DecoderOptions decoder_options_of(const config::Config& c) { return decoder_options(c); }
std::vector<pipeline::TopicTemplate> topic_templates_of(const config::Config& c) { return topic_templates(c); }
storage::ConnectionSpec connection_spec_of(const config::Config& c) { return connection_spec(c); }
}  // namespace detail

void block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

int run_migrate(const config::Config& cfg) {
  auto spec = connection_spec(cfg);
  auto report = storage::migrate(spec);
  spdlog::info("database {}: applied {} migration(s); schema version {} (binary knows {})",
               spec.display, report.applied, report.current, report.latest_known);
  return 0;
}

void check_startup_config(const config::Config& cfg) {
  decoder_options(cfg);
  subscription_filters(cfg, topic_templates(cfg));
  connection_spec(cfg);
  try {
    journal::parse_fsync_policy(cfg.journal_fsync);
  } catch (const std::exception& e) {
    throw config::ConfigError("IOTD_JOURNAL_FSYNC=\"" + cfg.journal_fsync + "\": " + e.what());
  }
}

struct App::Impl {
  config::Config cfg;
  std::int64_t started_at_ms = time::now_ms();
  Counters counters;
  storage::ConnectionSpec spec;
  std::unique_ptr<storage::Repository> repo;
  std::unique_ptr<storage::WriteStore> store;
  storage::LatestCache latest;
  std::unique_ptr<journal::Journal> journal;
  std::unique_ptr<ingest::JournalInput> journal_input;
  // Live stream (issue 10): outlives the server (sessions leave it when destroyed) and is
  // stopped before it (a delivery holds a session); declared before the writer, whose
  // commit listener feeds it, so that it also outlives a writer still running when a
  // start-up failure unwinds the members.
  std::unique_ptr<live::LiveHub> hub;
  // HTTP ingest's way to the writer (IngestSubmitter), answered after the commit.
  std::unique_ptr<ingest::SubmissionQueue> http_ingest;
  // Devices' command acks update their commands rows in the writer's transaction.
  std::unique_ptr<ingest::StoringAckSink> command_acks;
  std::unique_ptr<ingest::Writer> writer;
  // Commands to devices (issue 9): declared before `mqtt`, whose publish completions call
  // the service, so that the service outlives it.
  std::unique_ptr<storage::CommandRepository> command_repo;
  std::unique_ptr<commands::CommandService> command_service;
  http::Router router;
  // Device key digests -> device ids, read by the route guard on the io threads (issue 9).
  http::DeviceKeys device_keys;
  // Several instances (IOTD_CLUSTER on PostgreSQL, docs/architecture.md §21): relays other
  // instances' commits to the hub and their rule and device changes to the writer and keys.
  std::unique_ptr<cluster::ClusterRelay> relay;
  std::unique_ptr<http::Server> server;
  // Also the outbound MqttPublisher (commands) once connected; null when MQTT is disabled.
  std::unique_ptr<mqtt::MqttSource> mqtt;
  std::jthread monitor;
  std::atomic<bool> ping_ok{true};
  // Set once every component exists (mqtt is created after the server starts answering).
  std::atomic<bool> started{false};
  mutable std::mutex ping_mu;
  std::string ping_error;  // guarded by ping_mu

  explicit Impl(config::Config c) : cfg(std::move(c)) {
    auto decoder = decoder_options(cfg);
    auto topics = topic_templates(cfg);
    const auto filters = subscription_filters(cfg, topics);
    spec = connection_spec(cfg);

    // Database unreachable at start-up (issue 12): exit with a message rather than wait;
    // docs/architecture.md §12 says why.
    auto report = [&] {
      try {
        return storage::migrate(spec);
      } catch (const std::exception& e) {
        throw std::runtime_error("cannot use the database " + spec.display + " at start-up (" + e.what() +
                                 "); iotd exits with status 1 so that its supervisor restarts it "
                                 "(MQTT messages wait at the broker for the persistent session meanwhile)");
      }
    }();
    if (report.applied > 0)
      spdlog::info("database {}: applied {} migration(s), schema version {}", spec.display,
                   report.applied, report.current);
    repo = storage::make_repository(spec, cfg.db_pool);
    store = storage::make_write_store(spec);

    journal::JournalOptions jo;
    jo.dir = cfg.journal_dir;
    jo.fsync = journal::parse_fsync_policy(cfg.journal_fsync);
    jo.max_bytes = cfg.journal_max_bytes;
    jo.segment_bytes = cfg.journal_segment_bytes;
    // Scale-out (issue 13): one instance id per journal directory, recorded in it. Enforced
    // when IOTD_INSTANCE_ID is set; the default (the host name) changes with every new
    // container, and then the directory is taken over as before (docs/scaling.md §2).
    const auto id_value = cfg.values.find("IOTD_INSTANCE_ID");
    const bool id_given = id_value != cfg.values.end() && !id_value->second.empty();
    if (id_given) {
      journal::check_journal_owner(cfg.journal_dir, cfg.instance_id);
    } else if (auto owner = journal::journal_owner(cfg.journal_dir); owner && *owner != cfg.instance_id) {
      spdlog::warn("journal {} was recorded for instance '{}'; taken over as '{}' (the host name, "
                   "IOTD_INSTANCE_ID is not set): its frames are replayed under the new checkpoint "
                   "and content dedup drops what was committed; set IOTD_INSTANCE_ID",
                   cfg.journal_dir, *owner, cfg.instance_id);
    }
    journal = std::make_unique<journal::Journal>(jo);
    try {
      journal::record_journal_owner(cfg.journal_dir, cfg.instance_id, /*replace=*/!id_given);
    } catch (const std::exception& e) {  // a full disk: the journal reports it on its own
      spdlog::warn("journal: cannot record this instance's id: {}", e.what());
    }
    const auto& rec = journal->recovery();
    if (rec.truncated_bytes || rec.quarantined_segments)
      spdlog::warn("journal recovery: truncated {} torn bytes, quarantined {} segment(s)",
                   rec.truncated_bytes, rec.quarantined_segments);

    ingest::WriterOptions wo;
    wo.instance_id = cfg.instance_id;
    wo.max_batch = static_cast<std::size_t>(cfg.max_batch);
    wo.commit_delay = cfg.commit_delay;
    wo.decoder = decoder;
    wo.topics = topics;
    wo.ignore_retained = cfg.mqtt_ignore_retained;
    wo.auto_register = cfg.auto_register;
    wo.max_devices = cfg.max_devices;
    wo.rejects_max_bytes = cfg.rejects_max_bytes;
    // Retention (issue 11, docs/architecture.md §17).
    wo.retention.readings = cfg.retention;
    wo.retention.alerts = cfg.retention_alerts;
    wo.retention.rejects = cfg.retention_rejects;
    wo.retention.interval = cfg.retention_interval;
    wo.cluster = cfg.cluster;  // several instances (issue 13, docs/architecture.md §21)
    journal_input = std::make_unique<ingest::JournalInput>(*journal);
    http_ingest = std::make_unique<ingest::SubmissionQueue>();
    command_acks = std::make_unique<ingest::StoringAckSink>(counters);
    writer = std::make_unique<ingest::Writer>(
        wo, std::vector<ingest::WriterInput*>{journal_input.get(), http_ingest.get()}, *store, latest, counters);
    writer->set_ack_sink(command_acks.get());
    // Live stream (issue 10): the writer hands each committed batch to the hub.
    hub = std::make_unique<live::LiveHub>();
    writer->set_commit_listener([h = hub.get()](ingest::CommitEvent&& ev) { h->publish(std::move(ev)); });
    // A batch of a device a stream client watches skips the group-commit delay (§7, §15).
    writer->set_stream_watch([h = hub.get()](std::string_view device) { return h->watching(device); });
    writer->start();

    // Commands (issue 9): pending commands of the last run are failed before any is issued.
    commands::CommandOptions co;
    co.topic = cfg.command_topic;
    co.ttl = cfg.command_ttl;
    command_repo = storage::make_command_repository(spec, 2);
    command_service = std::make_unique<commands::CommandService>(co, *command_repo, counters);
    command_service->start();

    http::ApiContext ctx;
    ctx.repo = repo.get();
    ctx.latest = &latest;
    ctx.counters = &counters;
    ctx.health = [this] { return health(); };
    ctx.version = IOTD_VERSION;
    ctx.rules_changed = [w = writer.get()] { w->reload_rules(); };
    // Devices (issue 9): keys from the database, kept current by the devices API.
    device_keys.load(repo->device_keys());
    ctx.device_keys = &device_keys;
    ctx.device_changed = [w = writer.get()](const std::string& id) { w->device_changed(id); };
    ctx.commands = command_service.get();
    // Several instances (issue 13, docs/architecture.md §21): other instances' commits reach
    // this hub, their rule and device changes this writer and key map; ours are announced.
    if (cfg.cluster && spec.dialect == "postgresql") {
      cluster::RelayHandlers rh;
      rh.commit = [this](ingest::CommitEvent&& ev) {
        counters.cluster_relayed_readings.fetch_add(ev.readings.size());
        for (const auto& r : ev.readings) latest.apply(r);  // newer device time wins: any order
        hub->publish(std::move(ev));
      };
      rh.rules_changed = [w = writer.get()] { w->reload_rules(); };
      rh.device_changed = [this](const std::string& id) {
        writer->device_changed(id);
        device_keys.load(repo->device_keys());
      };
      rh.resync = [this] {
        writer->reload_rules();
        device_keys.load(repo->device_keys());
      };
      // Commits made before the relay listened (since writer->start() loaded the cache, or
      // while it was away): merged, newer device time wins.
      rh.latest = [this](std::vector<storage::DeviceLatest>&& rows) { latest.merge(rows); };
      relay = std::make_unique<cluster::ClusterRelay>(spec.connect_string, cfg.instance_id, *repo, std::move(rh));
      relay->start();
      ctx.rules_changed = [w = writer.get(), r = relay.get()] {
        w->reload_rules();
        r->announce_rules();
      };
      ctx.device_changed = [w = writer.get(), r = relay.get()](const std::string& id) {
        w->device_changed(id);
        r->announce_device(id);
      };
    } else if (cfg.cluster) {
      spdlog::warn("IOTD_CLUSTER: {} has no LISTEN/NOTIFY: alarm state is shared, but live streams show only "
                   "this instance's commits and rule/device changes on other instances apply here only "
                   "after a restart",
                   spec.display);
    }
    // HTTP ingest (issue 9): answered after the commit or 503 at IOTD_INGEST_TIMEOUT.
    ctx.ingest = http_ingest.get();
    ctx.ingest_timeout = cfg.ingest_timeout;
    ctx.sample_metrics = [this] { sample_metrics(); };
    // Live stream (issue 10): acknowledgements reach the stream from the HTTP handler.
    ctx.alert_acknowledged = [h = hub.get()](const storage::Alert& a) { h->publish_acknowledged(a); };
    http::register_api_routes(router, ctx);
    // Live stream (issue 10)
    live::StreamOptions lo;
    lo.queue_frames = static_cast<std::size_t>(cfg.ws_queue_frames);
    lo.idle_timeout = cfg.ws_idle_timeout;
    live::register_stream_routes(router, *hub, counters, lo);
    http::ServerOptions so;
    so.listen = cfg.http_listen;
    so.io_threads = cfg.io_threads;
    so.blocking_threads = cfg.db_pool;
    so.body_limit = cfg.http_body_limit;
    so.cors_origins = cfg.cors_origins;
    so.counters = &counters;
    so.guard = http::make_route_guard(cfg.admin_key, device_keys.resolver());
    so.tls_cert_file = cfg.http_tls_cert;  // TLS (issue 12 item 4)
    so.tls_key_file = cfg.http_tls_key;
    // HTTP limits and write rate limiting (issue 12, docs/architecture.md §20).
    so.header_limit = cfg.http_header_limit;
    so.read_timeout = cfg.http_read_timeout;
    so.idle_timeout = cfg.http_idle_timeout;
    so.max_connections = static_cast<std::size_t>(cfg.http_max_connections);
    if (cfg.rate_limit_writes > 0) {
      http::RateLimitOptions rl;
      rl.rate = cfg.rate_limit_writes;
      rl.burst = cfg.rate_limit_burst;
      rl.trusted_proxies = cfg.http_trusted_proxies;
      auto limiter = std::make_shared<http::RateLimiter>(rl);
      spdlog::info("http: writes limited to {:g}/s per client, burst {:g}", rl.rate, limiter->burst());
      so.guard = http::with_write_rate_limit(std::move(so.guard), std::move(limiter), &counters.http_rate_limited);
    }
    if (auto fd = fd_limit::raise_to_hard(); fd.failed) {
      spdlog::warn("cannot raise the open-files limit (RLIMIT_NOFILE) from {}", fd.before);
    } else {
      if (fd.after != fd.before)
        spdlog::info("open-files limit (RLIMIT_NOFILE) raised from {} to {}", fd.before, fd.after);
      if (fd.after < so.max_connections + 64)
        spdlog::warn("open-files limit {} is below IOTD_HTTP_MAX_CONNECTIONS ({}) plus what iotd itself "
                     "needs: connections beyond it fail to be accepted instead of getting a 503",
                     fd.after, so.max_connections);
    }
    // Every route is in the router now: name them for http_responses by router index.
    std::vector<std::string> patterns;
    for (const auto& r : router.routes()) patterns.push_back(r.pattern);
    counters.set_http_routes(patterns);
    server = std::make_unique<http::Server>(so, router);
    server->start();

    if (!cfg.mqtt_url.empty()) {
      mqtt::MqttOptions mo;
      mo.url = cfg.mqtt_url;
      mo.client_id = cfg.mqtt_client_id;
      mo.username = cfg.mqtt_username;
      mo.password = cfg.mqtt_password;
      mo.filters = filters;
      mo.qos = cfg.mqtt_qos;
      mo.version = cfg.mqtt_version;
      mo.keepalive = cfg.mqtt_keepalive;
      mo.session_expiry = cfg.mqtt_session_expiry;
      mo.ignore_retained = cfg.mqtt_ignore_retained;
      mo.ca_file = cfg.mqtt_ca_file;
      mo.cert_file = cfg.mqtt_cert_file;
      mo.key_file = cfg.mqtt_key_file;
      mqtt = std::make_unique<mqtt::MqttSource>(mo, *journal, counters);
      mqtt->start();
      command_service->set_publisher(mqtt.get());
    }
    started.store(true, std::memory_order_release);
    monitor = std::jthread([this](std::stop_token st) {
      set_thread_name("iotd-monitor");
      monitor_loop(st);
    });

    spdlog::info("iotd {} ready in {} ms: http={} database={} broker={} journal={}", IOTD_VERSION,
                 time::now_ms() - started_at_ms, server->address(), spec.display,
                 cfg.mqtt_url.empty() ? std::string("disabled") : cfg.mqtt_url, cfg.journal_dir);
  }

  // Every 200 ms: pauses MQTT intake while the journal is at its bound
  // (docs/architecture.md §4, "Bounds") and resumes it below the low-water mark. Every 5 s: pings the
  // database through the read pool, so /health reports an outage even when idle.
  void monitor_loop(std::stop_token st) {
    auto next_ping = std::chrono::steady_clock::now() + kDatabasePingInterval;
    while (!st.stop_requested()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      sample_metrics();
      if (std::chrono::steady_clock::now() >= next_ping) {
        next_ping = std::chrono::steady_clock::now() + kDatabasePingInterval;
        ping_database();
      }
      if (!mqtt) continue;
      release_if_stalled();
      // Never while the callback holds a refused frame: it holds Paho's lock, so a
      // disconnect would wait for it; intake is stopped meanwhile anyway.
      if (mqtt->intake_blocked()) continue;
      if (!mqtt->paused()) {
        if (auto why = pause_reason()) mqtt->pause(*why);
      } else if (may_resume()) {
        mqtt->resume();
      }
    }
  }

  // Intake stopped (paused or blocked) with everything committed: no further checkpoint will
  // come to delete the segments the last one covers, so the journal would never shrink
  // below the resume mark. Take that step here once the last commit is a second old.
  void release_if_stalled() {
    if (!mqtt->paused() && !mqtt->intake_blocked()) return;
    if (writer->committed_seq() != journal->last_seq()) return;
    const auto last_commit = counters.last_commit_at_ms.load();
    if (last_commit == 0 || time::now_ms() - last_commit < 1000) return;
    journal->release_committed();
  }

  // Why MQTT intake must pause now (docs/architecture.md §4, "Bounds"), if it must.
  std::optional<std::string> pause_reason() const {
    const auto bytes = journal->bytes_on_disk();
    if (journal->over_bound()) {
      std::string why = "journal holds " + std::to_string(bytes) + " bytes";
      if (journal->quarantined_bytes() > 0)
        why += " plus " + std::to_string(journal->quarantined_bytes()) + " in quarantined *.bad files";
      return why + ", at IOTD_JOURNAL_MAX_BYTES (" + std::to_string(cfg.journal_max_bytes) +
             "); waiting for the database to catch up";
    }
    const auto free = journal->filesystem_free_bytes();
    if (cfg.journal_min_free_bytes > 0 && free && *free < cfg.journal_min_free_bytes)
      return "only " + std::to_string(*free) + " bytes free on the journal's filesystem (" + cfg.journal_dir +
             "), under IOTD_JOURNAL_MIN_FREE_BYTES (" + std::to_string(cfg.journal_min_free_bytes) +
             "); waiting for checkpoints or the operator to free space";
    return std::nullopt;
  }

  // Below the low-water marks of both bounds (hysteresis, so intake does not flap).
  bool may_resume() const {
    const auto used = journal->bytes_on_disk() + journal->quarantined_bytes();
    if (used >= static_cast<std::uint64_t>(kResumeFraction * static_cast<double>(cfg.journal_max_bytes))) return false;
    if (cfg.journal_min_free_bytes == 0) return true;
    const auto free = journal->filesystem_free_bytes();
    return !free || static_cast<double>(*free) >= kResumeFreeFactor * static_cast<double>(cfg.journal_min_free_bytes);
  }

  void ping_database() {
    try {
      repo->ping();
      if (!ping_ok.exchange(true)) spdlog::info("database {} answers again", spec.display);
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(ping_mu);
        ping_error = e.what();
      }
      if (ping_ok.exchange(false)) spdlog::error("database {} does not answer: {}", spec.display, e.what());
    }
  }

  // The facts only; the policy (iotd/core/health.hpp) judges them.
  HealthSnapshot health() const {
    HealthSnapshot h;
    h.version = IOTD_VERSION;
    h.uptime_ms = time::now_ms() - started_at_ms;
    h.database_backend = spec.dialect;
    h.database_ok = writer->database_ok() && ping_ok.load();
    if (!writer->database_ok()) {
      h.database_error = writer->last_error();
    } else if (!ping_ok.load()) {
      std::lock_guard lock(ping_mu);
      h.database_error = ping_error;
    }
    h.mqtt_enabled = !cfg.mqtt_url.empty();
    h.mqtt_url = cfg.mqtt_url;
    // `mqtt` is assigned by start() after the HTTP server already answers: read it only
    // once `started` says so (a /health request during start-up would race the assignment).
    if (h.mqtt_enabled && !started.load(std::memory_order_acquire)) {
      h.mqtt_state = "starting";
    } else if (mqtt) {
      h.mqtt_connected = mqtt->connected();
      h.mqtt_state = mqtt->state();
      h.ingest_paused = mqtt->paused();
      if (h.ingest_paused) h.ingest_pause_reason = h.mqtt_state;
      h.intake_blocked = mqtt->intake_blocked();
      if (h.intake_blocked) h.intake_blocked_reason = journal->last_failure();
    }
    const auto last = journal->last_seq();
    const auto committed = writer->committed_seq();
    h.journal_backlog = last > committed ? last - committed : 0;
    h.journal_bytes = journal->bytes_on_disk();
    if (h.journal_backlog > 0) {
      auto last_commit = counters.last_commit_at_ms.load();
      h.commit_lag_ms = time::now_ms() - (last_commit ? last_commit : started_at_ms);
    }
    h.journal_quarantined_segments = journal->quarantined_files();
    h.journal_quarantined_bytes = journal->quarantined_bytes();
    if (auto free = journal->filesystem_free_bytes()) h.journal_free_bytes = static_cast<std::int64_t>(*free);
    h.journal_dir = cfg.journal_dir;
    h.journal_append_failures = journal->append_failures();
    return h;
  }

  // Copies the components' state into the counters' sampled gauges (GET /metrics, the
  // health JSON): atomics only, so neither the writer nor the MQTT callback ever waits on it.
  void sample_metrics() {
    if (!started.load(std::memory_order_acquire)) return;  // a scrape during start-up
    counters.mqtt_connected = mqtt && mqtt->connected() ? 1 : 0;
    counters.cluster_relay_connected = relay && relay->connected() ? 1 : 0;
    const auto last = journal->last_seq();
    const auto committed = writer->committed_seq();
    counters.journal_backlog_frames = static_cast<std::int64_t>(last > committed ? last - committed : 0);
    counters.journal_size = static_cast<std::int64_t>(journal->bytes_on_disk());
    counters.journal_fsyncs.store(journal->fsyncs());
    counters.db_pool_in_use = static_cast<std::int64_t>(repo->pool_in_use());
    counters.db_pool_size = static_cast<std::int64_t>(repo->pool_size());
    counters.http_connections = static_cast<std::int64_t>(server->connections());  // issue 12
    // Fault handling (issue 12).
    counters.journal_quarantined_files = static_cast<std::int64_t>(journal->quarantined_files());
    counters.journal_quarantined_size = static_cast<std::int64_t>(journal->quarantined_bytes());
    if (auto free = journal->filesystem_free_bytes()) counters.journal_filesystem_free = static_cast<std::int64_t>(*free);
    counters.mqtt_intake_paused = mqtt && mqtt->paused() ? 1 : 0;
    counters.mqtt_intake_blocked = mqtt && mqtt->intake_blocked() ? 1 : 0;
  }

  void shutdown() {
    spdlog::info("shutting down: stopping MQTT intake");
    monitor.request_stop();
    if (monitor.joinable()) monitor.join();
    if (mqtt) mqtt->stop();
    command_service->stop();  // after MQTT: every publish outcome is in and gets recorded
    auto backlog = journal->last_seq() - writer->committed_seq();
    spdlog::info("draining {} journal frame(s) into the database", backlog);
    writer->stop(std::chrono::seconds(30));
    http_ingest->close();  // what the writer could not commit is answered as not stored
    if (relay) relay->stop();  // before the hub it feeds
    hub->stop();  // no delivery may hold a session while the server goes
    server->stop();
    journal->sync();
    spdlog::info("stopped; committed through journal seq {}", writer->committed_seq());
  }
};

App::App(config::Config cfg) : impl_(std::make_unique<Impl>(std::move(cfg))) {}

App::~App() = default;

int App::wait_for_shutdown() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  int sig = 0;
  sigwait(&set, &sig);
  spdlog::info("received {}", sig == SIGINT ? "SIGINT" : "SIGTERM");
  impl_->shutdown();
  return 0;
}

}  // namespace iotd::app
