#include "iotd/config/config.hpp"

#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <fstream>
#include <limits>
#include <sstream>
#include <thread>

#include "iotd/core/text.hpp"
#include "iotd/core/time.hpp"

namespace iotd::config {
namespace {

constexpr std::string_view kPrefix = "IOTD_";

const std::vector<SettingInfo> kSettings{
    {"IOTD_HTTP_LISTEN", "0.0.0.0:8080", "REST, WebSocket and dashboard address (host:port; port 0 picks a free one)", "http"},
    {"IOTD_IO_THREADS", "0", "HTTP io threads (0 = hardware threads)", "http"},
    {"IOTD_DB_POOL", "4", "database read connections (and blocking-handler threads)", "http"},
    {"IOTD_HTTP_BODY_LIMIT", "1MiB", "largest accepted HTTP request body", "http"},
    {"IOTD_CORS_ORIGINS", "*", "CORS origins allowed to read: * or a comma-separated list", "http"},
    {"IOTD_ADMIN_KEY", "", "admin API key (X-API-Key or Authorization: Bearer); admin endpoints answer 403 until set", "http", Secret::value},
    {"IOTD_DATABASE_URL", "sqlite:///data/iotd.db", "sqlite:///relative.db, sqlite:////absolute.db, postgresql://user:pass@host:port/db, mysql://user:pass@host:port/db", "database", Secret::url_password},
    {"IOTD_MQTT_URL", "tcp://127.0.0.1:1883", "broker URL: tcp:// (or mqtt://), or ssl:// (or mqtts://) for TLS; empty disables MQTT", "mqtt"},
    {"IOTD_MQTT_TOPICS", "sensors/{device_id}/data,sensors/{device_id},iot/{device_id}/telemetry", "comma-separated topic templates; {device_id} (or a single +) marks the device id level", "mqtt"},
    {"IOTD_MQTT_SHARE_GROUP", "", "scale-out: subscribe every topic (and the command ack topic) as $share/<group>/<filter> so that the instances sharing the group split the stream (docs/scaling.md); empty: plain subscriptions", "mqtt"},
    {"IOTD_MQTT_CLIENT_ID", "", "MQTT client id (default iotd-<instance id>); keep it stable: the broker keeps the session under it", "mqtt"},
    {"IOTD_MQTT_USERNAME", "", "broker user name", "mqtt"},
    {"IOTD_MQTT_PASSWORD", "", "broker password", "mqtt", Secret::value},
    {"IOTD_MQTT_QOS", "1", "subscription QoS (0 or 1; 1 is needed for the no-loss guarantee)", "mqtt"},
    {"IOTD_MQTT_VERSION", "5", "MQTT protocol version: 5 or 3 (3.1.1)", "mqtt"},
    {"IOTD_MQTT_KEEPALIVE", "30s", "MQTT keep-alive interval", "mqtt"},
    {"IOTD_MQTT_SESSION_EXPIRY", "86400s", "how long the broker keeps iotd's session (and queues its messages) while it is away", "mqtt"},
    {"IOTD_MQTT_IGNORE_RETAINED", "true", "ignore retained messages (stale values replayed on subscribe)", "mqtt"},
    {"IOTD_MQTT_CA_FILE", "", "ssl:// brokers: the CA bundle (PEM) that verifies the broker certificate (its host name is checked too); empty: the system CAs", "mqtt"},
    {"IOTD_MQTT_CERT_FILE", "", "ssl:// brokers: client certificate (PEM) for a broker that requires one", "mqtt"},
    {"IOTD_MQTT_KEY_FILE", "", "ssl:// brokers: the client certificate's private key (PEM, unencrypted); needs IOTD_MQTT_CERT_FILE", "mqtt"},
    {"IOTD_COMMAND_TOPIC", "control/{device_id}/command", "topic template commands are published to (QoS 1)", "mqtt"},
    {"IOTD_COMMAND_ACK_TOPIC", "control/{device_id}/ack", "topic template devices answer commands on (JSON: command_id, status ok or error, optional message); subscribed alongside IOTD_MQTT_TOPICS; empty: not subscribed", "mqtt"},
    {"IOTD_COMMAND_TTL", "1h", "a command with no ack from its device within this time becomes expired", "mqtt"},
    {"IOTD_INSTANCE_ID", "", "names this instance's journal checkpoint (default: host name)", "ingest"},
    {"IOTD_JOURNAL_DIR", "data/journal", "ingest journal directory (one iotd per directory)", "ingest"},
    {"IOTD_JOURNAL_FSYNC", "interval", "journal fsync policy: interval (1 s), always, off", "ingest"},
    {"IOTD_JOURNAL_MAX_BYTES", "1GiB", "journal bound on disk: MQTT intake pauses above it", "ingest"},
    {"IOTD_JOURNAL_SEGMENT_BYTES", "64MiB", "journal segment size", "ingest"},
    {"IOTD_JOURNAL_MIN_FREE_BYTES", "64MiB", "MQTT intake pauses while less than this is free on the journal's filesystem, and resumes above 1.25 times it; 0: off (a full disk then blocks intake until space returns)", "ingest"},
    {"IOTD_DEVICE_ID_SOURCE", "payload_then_topic", "where the device id comes from: payload_then_topic, topic, payload", "ingest"},
    {"IOTD_MAX_CLOCK_SKEW", "24h", "device times further ahead than this (or before 2000) are replaced by the receive time", "ingest"},
    {"IOTD_INGEST_TIMEOUT", "10s", "HTTP ingest: longest wait for the commit before 503", "ingest"},
    {"IOTD_ALIASES", "temp:temperature,hum:humidity", "metric name aliases, alias:canonical pairs", "ingest"},
    {"IOTD_MAX_BATCH", "2000", "most journal frames per database transaction", "ingest"},
    {"IOTD_COMMIT_DELAY", "10ms", "how long the writer waits for more messages before committing a small batch (under a quarter of IOTD_MAX_BATCH): fewer, larger transactions at moderate rates (less CPU and disk per message) for at most this much added latency; 0 commits at once", "ingest"},
    {"IOTD_AUTO_REGISTER", "true", "create devices on first message", "ingest"},
    {"IOTD_MAX_DEVICES", "100000", "most devices; messages from further new devices are rejected (device_limit)", "ingest"},
    {"IOTD_REJECTS_MAX_BYTES", "64KiB", "payload bytes kept per rejected message", "ingest"},
    {"IOTD_LOG_LEVEL", "info", "trace, debug, info, warn, error", "logging"},
    {"IOTD_LOG_FORMAT", "console", "console or json (JSON lines)", "logging"},
    {"IOTD_LOG_FILE", "", "also log to this file (same format as stderr)", "logging"},
    {"IOTD_LOG_MAX_BYTES", "10MiB", "rotate IOTD_LOG_FILE when it would grow past this size (iotd.log -> iotd.1.log -> iotd.2.log ...); 0 never rotates", "logging"},
    {"IOTD_LOG_FILES", "5", "rotated log files kept besides the current one (0-1000); older ones are deleted", "logging"},
    // Live stream (issue 10).
    {"IOTD_WS_QUEUE_FRAMES", "1024", "frames queued for one WebSocket stream client; a client that would fall further behind is closed with 1008 (one with nothing queued takes any commit whole)", "live"},
    {"IOTD_WS_IDLE_TIMEOUT", "60s", "WebSocket stream keepalive: a ping after half of this without traffic; a client silent (no pong) for all of it is closed", "live"},
    // Retention (issue 11, docs/architecture.md §17).
    {"IOTD_RETENTION", "off", "delete readings (messages and their per-minute rollups) whose device time is older than this, e.g. 30d or 12h; off or 0 keeps them forever. Latest values are kept", "retention"},
    {"IOTD_RETENTION_ALERTS", "off", "delete CLEARED alerts cleared longer ago than this (active alerts are never deleted); off or 0 keeps them", "retention"},
    {"IOTD_RETENTION_REJECTS", "30d", "delete rejected messages received longer ago than this; off or 0 keeps them", "retention"},
    {"IOTD_RETENTION_INTERVAL", "10m", "how often a retention run starts (the first at start-up); a run deletes in small batches between the writer's commits until nothing is older than the ages", "retention"},
    // TLS for HTTP and WebSocket (issue 12 item 4); MQTT's TLS files are in the mqtt group.
    {"IOTD_HTTP_TLS_CERT", "", "HTTPS/WSS on IOTD_HTTP_LISTEN: certificate chain (PEM, server certificate first); set together with IOTD_HTTP_TLS_KEY; unset: plain HTTP", "tls"},
    {"IOTD_HTTP_TLS_KEY", "", "HTTPS/WSS: the certificate's private key (PEM, unencrypted)", "tls"},
    // HTTP limits and write rate limiting (issue 12, docs/architecture.md §20).
    {"IOTD_HTTP_HEADER_LIMIT", "16KiB", "largest request line plus headers; larger is answered 431", "limits"},
    {"IOTD_HTTP_READ_TIMEOUT", "30s", "once a request's first byte has arrived, its head, and then its body, must each arrive within this, or the connection is closed (slow clients)", "limits"},
    {"IOTD_HTTP_IDLE_TIMEOUT", "60s", "a connection with no request in progress (new, or keep-alive between requests) is closed after this", "limits"},
    {"IOTD_HTTP_MAX_CONNECTIONS", "10000", "open HTTP and WebSocket connections; beyond, a new connection gets 503 with Retry-After and is closed", "limits"},
    {"IOTD_RATE_LIMIT_WRITES", "off", "writes (POST, PUT, PATCH, DELETE) per client: N/s, N/min or N/h, kept per device key, admin key or client address; above it 429 with Retry-After; off: no limit (reads are never limited)", "limits"},
    {"IOTD_RATE_LIMIT_BURST", "0", "writes a client may send at once before IOTD_RATE_LIMIT_WRITES applies (the token bucket's size); 0: one second's worth, at least 1", "limits"},
    {"IOTD_HTTP_TRUSTED_PROXIES", "", "comma-separated addresses of reverse proxies whose X-Forwarded-For names the client for rate limiting; otherwise the header is ignored", "limits"},
    // Several instances on one PostgreSQL database (issue 13, docs/architecture.md §21).
    {"IOTD_CLUSTER", "off", "on: several iotd instances share this PostgreSQL (or MariaDB) database: alarm state is read and locked per device in each batch's transaction, and commits, rule and device changes are relayed between instances (PostgreSQL LISTEN/NOTIFY) for live streams and caches; off: single instance (SQLite must stay off)", "cluster"},
};

using text::lower;
using text::trim;

// IOTD_HTTP_LISTEN -> http_listen (file key) / --http-listen (flag).
std::string file_key(std::string_view env) { return lower(env.substr(kPrefix.size())); }
std::string flag_name(std::string_view env) {
  std::string k = file_key(env);
  std::replace(k.begin(), k.end(), '_', '-');
  return "--" + k;
}

const SettingInfo* find_by_env(std::string_view env) {
  for (const auto& s : kSettings)
    if (s.env == env) return &s;
  return nullptr;
}



// The message names the setting; a secret's value is masked (SettingInfo::secret).
[[noreturn]] void fail(std::string_view env, std::string_view value, std::string_view why) {
  const SettingInfo* s = find_by_env(env);
  const std::string shown = s ? masked_value(*s, value) : std::string(value);
  throw ConfigError(std::string(env) + "=\"" + shown + "\": " + std::string(why));
}

std::int64_t to_int(std::string_view env, std::string_view v, std::int64_t lo, std::int64_t hi) {
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  if (ec != std::errc{} || p != v.data() + v.size())
    fail(env, v, "not an integer");
  if (out < lo || out > hi)
    fail(env, v, "must be from " + std::to_string(lo) + " to " + std::to_string(hi));
  return out;
}

std::chrono::milliseconds to_duration(std::string_view env, std::string_view v) {
  auto ms = time::parse_duration_ms(v);
  if (!ms || *ms < 0) fail(env, v, "not a duration (e.g. 30s, 15m, 24h)");
  return std::chrono::milliseconds(*ms);
}

std::uint64_t to_size(std::string_view env, std::string_view v) {
  try {
    return parse_size(v);
  } catch (const std::invalid_argument&) {
    fail(env, v, "not a size (e.g. 64KiB, 1GiB, 1000000)");
  }
}

bool to_bool(std::string_view env, std::string_view v) {
  try {
    return parse_bool(v);
  } catch (const std::invalid_argument&) {
    fail(env, v, "not a boolean (true/false)");
  }
}

// "off" (0), or N/s, N/min, N/h (N a positive number): per second.
double to_rate(std::string_view env, std::string_view v) {
  if (v == "off" || v == "0") return 0;
  auto slash = v.find('/');
  if (slash == std::string_view::npos) fail(env, v, "expected off or a rate such as 100/s, 600/min, 1000/h");
  std::string_view num = v.substr(0, slash), unit = v.substr(slash + 1);
  double n = 0;
  auto [p, ec] = std::from_chars(num.data(), num.data() + num.size(), n);
  if (ec != std::errc{} || p != num.data() + num.size() || !(n > 0) || n > 1e9)
    fail(env, v, "the count must be a number above 0");
  if (unit == "s") return n;
  if (unit == "min" || unit == "m") return n / 60;
  if (unit == "h") return n / 3600;
  fail(env, v, "the unit must be s, min or h");
}

void one_of(std::string_view env, std::string_view v, std::initializer_list<std::string_view> allowed) {
  for (auto a : allowed)
    if (v == a) return;
  std::string list;
  for (auto a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  fail(env, v, "must be one of " + list);
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || buf[0] == '\0') return "iotd";
  return buf;
}

void apply_settings(Config& c, const std::map<std::string, std::string>& raw) {
  auto get = [&](std::string_view env) -> const std::string& { return raw.at(std::string(env)); };
  c.http_listen = get("IOTD_HTTP_LISTEN");
  if (c.http_listen.find(':') == std::string::npos)
    fail("IOTD_HTTP_LISTEN", c.http_listen, "expected host:port");
  {
    auto port = c.http_listen.substr(c.http_listen.rfind(':') + 1);
    std::int64_t n = -1;
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n);
    if (ec != std::errc{} || p != port.data() + port.size() || n < 0 || n > 65535)
      fail("IOTD_HTTP_LISTEN", c.http_listen, "the port must be a number from 0 to 65535");
  }
  c.io_threads = static_cast<int>(to_int("IOTD_IO_THREADS", get("IOTD_IO_THREADS"), 0, 256));
  if (c.io_threads == 0) c.io_threads = std::max(1u, std::thread::hardware_concurrency());
  c.db_pool = static_cast<int>(to_int("IOTD_DB_POOL", get("IOTD_DB_POOL"), 1, 256));
  c.http_body_limit = to_size("IOTD_HTTP_BODY_LIMIT", get("IOTD_HTTP_BODY_LIMIT"));
  if (c.http_body_limit < 1024) fail("IOTD_HTTP_BODY_LIMIT", get("IOTD_HTTP_BODY_LIMIT"), "must be at least 1KiB");
  c.cors_origins = get("IOTD_CORS_ORIGINS");
  c.admin_key = get("IOTD_ADMIN_KEY");
  if (!c.admin_key.empty() && c.admin_key.size() < 16)
    fail("IOTD_ADMIN_KEY", "(hidden)", "must be at least 16 characters");
  c.database_url = get("IOTD_DATABASE_URL");
  if (c.database_url.empty()) fail("IOTD_DATABASE_URL", "", "must not be empty");

  c.mqtt_url = get("IOTD_MQTT_URL");
  if (!c.mqtt_url.empty() && c.mqtt_url.rfind("tcp://", 0) != 0 && c.mqtt_url.rfind("ssl://", 0) != 0 &&
      c.mqtt_url.rfind("mqtt://", 0) != 0 && c.mqtt_url.rfind("mqtts://", 0) != 0)
    fail("IOTD_MQTT_URL", c.mqtt_url, "must start with tcp://, ssl://, mqtt:// or mqtts://");
  c.mqtt_topics = get("IOTD_MQTT_TOPICS");
  // Scale-out (issue 13): the group name itself; templates are checked against it at start-up.
  c.mqtt_share_group = get("IOTD_MQTT_SHARE_GROUP");
  if (!c.mqtt_share_group.empty() && c.mqtt_share_group.find_first_of("/+# \t") != std::string::npos)
    fail("IOTD_MQTT_SHARE_GROUP", c.mqtt_share_group, "a share group name cannot hold '/', '+', '#' or spaces");
  c.instance_id = get("IOTD_INSTANCE_ID");
  if (c.instance_id.empty()) c.instance_id = host_name();
  c.mqtt_client_id = get("IOTD_MQTT_CLIENT_ID");
  if (c.mqtt_client_id.empty()) c.mqtt_client_id = "iotd-" + c.instance_id;
  c.mqtt_username = get("IOTD_MQTT_USERNAME");
  c.mqtt_password = get("IOTD_MQTT_PASSWORD");
  c.mqtt_qos = static_cast<int>(to_int("IOTD_MQTT_QOS", get("IOTD_MQTT_QOS"), 0, 1));
  one_of("IOTD_MQTT_VERSION", get("IOTD_MQTT_VERSION"), {"5", "3", "3.1.1", "4"});
  c.mqtt_version = get("IOTD_MQTT_VERSION") == "5" ? 5 : 4;
  auto keepalive = to_duration("IOTD_MQTT_KEEPALIVE", get("IOTD_MQTT_KEEPALIVE"));
  c.mqtt_keepalive = std::chrono::duration_cast<std::chrono::seconds>(keepalive);
  if (c.mqtt_keepalive.count() < 1 || c.mqtt_keepalive.count() > 65535)
    fail("IOTD_MQTT_KEEPALIVE", get("IOTD_MQTT_KEEPALIVE"), "must be from 1s to 65535s");
  c.mqtt_session_expiry = std::chrono::duration_cast<std::chrono::seconds>(
      to_duration("IOTD_MQTT_SESSION_EXPIRY", get("IOTD_MQTT_SESSION_EXPIRY")));
  if (c.mqtt_session_expiry.count() < 1)
    fail("IOTD_MQTT_SESSION_EXPIRY", get("IOTD_MQTT_SESSION_EXPIRY"),
         "must be at least 1s: a zero expiry ends the session (and drops queued messages) at disconnect");
  c.mqtt_ignore_retained = to_bool("IOTD_MQTT_IGNORE_RETAINED", get("IOTD_MQTT_IGNORE_RETAINED"));
  c.mqtt_ca_file = get("IOTD_MQTT_CA_FILE");
  c.mqtt_cert_file = get("IOTD_MQTT_CERT_FILE");
  c.mqtt_key_file = get("IOTD_MQTT_KEY_FILE");
  c.command_topic = get("IOTD_COMMAND_TOPIC");
  if (c.command_topic.find_first_of("+#") != std::string::npos)
    fail("IOTD_COMMAND_TOPIC", c.command_topic, "a topic to publish to cannot hold the wildcards + or #");
  if (c.command_topic.find("{device_id}") == std::string::npos)
    fail("IOTD_COMMAND_TOPIC", c.command_topic, "needs a {device_id} placeholder");
  c.command_ack_topic = get("IOTD_COMMAND_ACK_TOPIC");
  c.command_ttl = to_duration("IOTD_COMMAND_TTL", get("IOTD_COMMAND_TTL"));
  if (c.command_ttl.count() < 1) fail("IOTD_COMMAND_TTL", get("IOTD_COMMAND_TTL"), "must be more than 0");

  c.journal_dir = get("IOTD_JOURNAL_DIR");
  if (c.journal_dir.empty()) fail("IOTD_JOURNAL_DIR", "", "must not be empty");
  c.journal_fsync = get("IOTD_JOURNAL_FSYNC");
  one_of("IOTD_JOURNAL_FSYNC", c.journal_fsync, {"interval", "always", "off"});
  c.journal_max_bytes = to_size("IOTD_JOURNAL_MAX_BYTES", get("IOTD_JOURNAL_MAX_BYTES"));
  c.journal_segment_bytes = to_size("IOTD_JOURNAL_SEGMENT_BYTES", get("IOTD_JOURNAL_SEGMENT_BYTES"));
  if (c.journal_segment_bytes < (64 << 10))
    fail("IOTD_JOURNAL_SEGMENT_BYTES", get("IOTD_JOURNAL_SEGMENT_BYTES"), "must be at least 64KiB");
  if (c.journal_max_bytes < 2 * c.journal_segment_bytes)
    fail("IOTD_JOURNAL_MAX_BYTES", get("IOTD_JOURNAL_MAX_BYTES"),
         "must be at least twice IOTD_JOURNAL_SEGMENT_BYTES");
  c.journal_min_free_bytes = to_size("IOTD_JOURNAL_MIN_FREE_BYTES", get("IOTD_JOURNAL_MIN_FREE_BYTES"));
  c.device_id_source = get("IOTD_DEVICE_ID_SOURCE");
  one_of("IOTD_DEVICE_ID_SOURCE", c.device_id_source, {"payload_then_topic", "topic", "payload"});
  c.max_clock_skew = to_duration("IOTD_MAX_CLOCK_SKEW", get("IOTD_MAX_CLOCK_SKEW"));
  c.ingest_timeout = to_duration("IOTD_INGEST_TIMEOUT", get("IOTD_INGEST_TIMEOUT"));
  if (c.ingest_timeout.count() <= 0)  // 0 would answer every HTTP ingest 503 at once
    fail("IOTD_INGEST_TIMEOUT", get("IOTD_INGEST_TIMEOUT"), "must be more than 0");
  c.aliases = get("IOTD_ALIASES");
  c.max_batch = static_cast<int>(to_int("IOTD_MAX_BATCH", get("IOTD_MAX_BATCH"), 1, 100000));
  c.commit_delay = to_duration("IOTD_COMMIT_DELAY", get("IOTD_COMMIT_DELAY"));
  if (c.commit_delay > std::chrono::seconds(1))
    fail("IOTD_COMMIT_DELAY", get("IOTD_COMMIT_DELAY"), "must be at most 1s");
  c.auto_register = to_bool("IOTD_AUTO_REGISTER", get("IOTD_AUTO_REGISTER"));
  c.max_devices = to_int("IOTD_MAX_DEVICES", get("IOTD_MAX_DEVICES"), 1, std::numeric_limits<std::int32_t>::max());
  c.rejects_max_bytes = to_size("IOTD_REJECTS_MAX_BYTES", get("IOTD_REJECTS_MAX_BYTES"));

  c.log_level = get("IOTD_LOG_LEVEL");
  one_of("IOTD_LOG_LEVEL", c.log_level, {"trace", "debug", "info", "warn", "error", "critical", "off"});
  c.log_format = get("IOTD_LOG_FORMAT");
  one_of("IOTD_LOG_FORMAT", c.log_format, {"console", "json"});
  c.log_file = get("IOTD_LOG_FILE");
  c.log_max_bytes = to_size("IOTD_LOG_MAX_BYTES", get("IOTD_LOG_MAX_BYTES"));
  if (c.log_max_bytes != 0 && c.log_max_bytes < 1024)
    fail("IOTD_LOG_MAX_BYTES", get("IOTD_LOG_MAX_BYTES"), "must be 0 (no rotation) or at least 1KiB");
  c.log_files = static_cast<int>(to_int("IOTD_LOG_FILES", get("IOTD_LOG_FILES"), 0, 1000));
  // Live stream (issue 10).
  c.ws_queue_frames = static_cast<int>(to_int("IOTD_WS_QUEUE_FRAMES", get("IOTD_WS_QUEUE_FRAMES"), 1, 1'000'000));
  c.ws_idle_timeout = to_duration("IOTD_WS_IDLE_TIMEOUT", get("IOTD_WS_IDLE_TIMEOUT"));
  if (c.ws_idle_timeout < std::chrono::seconds(1))
    fail("IOTD_WS_IDLE_TIMEOUT", get("IOTD_WS_IDLE_TIMEOUT"), "must be at least 1s");
  // Retention (issue 11).
  for (auto [env, field] : {std::pair{"IOTD_RETENTION", &c.retention},
                            std::pair{"IOTD_RETENTION_ALERTS", &c.retention_alerts},
                            std::pair{"IOTD_RETENTION_REJECTS", &c.retention_rejects}}) {
    try {
      *field = parse_retention(get(env));
    } catch (const std::invalid_argument& e) {
      fail(env, get(env), e.what());
    }
  }
  c.retention_interval = to_duration("IOTD_RETENTION_INTERVAL", get("IOTD_RETENTION_INTERVAL"));
  if (c.retention_interval < std::chrono::seconds(1))
    fail("IOTD_RETENTION_INTERVAL", get("IOTD_RETENTION_INTERVAL"), "must be at least 1s");
  // TLS (issue 12 item 4): the files are read at start-up (a bad one names its setting there).
  c.http_tls_cert = get("IOTD_HTTP_TLS_CERT");
  c.http_tls_key = get("IOTD_HTTP_TLS_KEY");
  if (c.http_tls_cert.empty() != c.http_tls_key.empty())
    fail(c.http_tls_cert.empty() ? "IOTD_HTTP_TLS_KEY" : "IOTD_HTTP_TLS_CERT",
         c.http_tls_cert.empty() ? c.http_tls_key : c.http_tls_cert,
         "IOTD_HTTP_TLS_CERT and IOTD_HTTP_TLS_KEY go together: set both (HTTPS) or neither (HTTP)");
  // HTTP limits and write rate limiting (issue 12).
  c.http_header_limit = to_size("IOTD_HTTP_HEADER_LIMIT", get("IOTD_HTTP_HEADER_LIMIT"));
  if (c.http_header_limit < 1024 || c.http_header_limit > (64u << 20))
    fail("IOTD_HTTP_HEADER_LIMIT", get("IOTD_HTTP_HEADER_LIMIT"), "must be from 1KiB to 64MiB");
  c.http_read_timeout = to_duration("IOTD_HTTP_READ_TIMEOUT", get("IOTD_HTTP_READ_TIMEOUT"));
  if (c.http_read_timeout < std::chrono::milliseconds(100))
    fail("IOTD_HTTP_READ_TIMEOUT", get("IOTD_HTTP_READ_TIMEOUT"), "must be at least 100ms");
  c.http_idle_timeout = to_duration("IOTD_HTTP_IDLE_TIMEOUT", get("IOTD_HTTP_IDLE_TIMEOUT"));
  if (c.http_idle_timeout < std::chrono::milliseconds(100))
    fail("IOTD_HTTP_IDLE_TIMEOUT", get("IOTD_HTTP_IDLE_TIMEOUT"), "must be at least 100ms");
  c.http_max_connections = to_int("IOTD_HTTP_MAX_CONNECTIONS", get("IOTD_HTTP_MAX_CONNECTIONS"), 1, 10'000'000);
  c.rate_limit_writes = to_rate("IOTD_RATE_LIMIT_WRITES", get("IOTD_RATE_LIMIT_WRITES"));
  c.rate_limit_burst = static_cast<double>(
      to_int("IOTD_RATE_LIMIT_BURST", get("IOTD_RATE_LIMIT_BURST"), 0, 100'000'000));
  c.http_trusted_proxies.clear();
  for (std::string_view rest = get("IOTD_HTTP_TRUSTED_PROXIES"); !rest.empty();) {
    auto comma = rest.find(',');
    auto item = trim(rest.substr(0, comma));
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    if (!item.empty()) c.http_trusted_proxies.emplace_back(item);
  }
  // Several instances (issue 13, docs/architecture.md §21).
  c.cluster = to_bool("IOTD_CLUSTER", get("IOTD_CLUSTER"));
  if (c.cluster && c.database_url.rfind("sqlite:", 0) == 0)
    fail("IOTD_CLUSTER", get("IOTD_CLUSTER"),
         "several instances need a shared server database (postgresql:// or mysql://); SQLite is single-instance");
}

std::map<std::string, std::string> read_file(const std::string& path,
                                             std::vector<std::string>& warnings) {
  std::ifstream in(path);
  if (!in) throw ConfigError("IOTD_CONFIG=\"" + path + "\": cannot open the file");
  std::map<std::string, std::string> out;
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    auto t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    auto eq = t.find('=');
    if (eq == std::string::npos)
      throw ConfigError(path + ":" + std::to_string(n) + ": expected `key = value`");
    auto key = lower(trim(t.substr(0, eq)));
    auto value = trim(t.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    std::string env = "IOTD_";
    for (char ch : key) env += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (!find_by_env(env)) {
      warnings.push_back(path + ":" + std::to_string(n) + ": unknown setting `" + key + "` ignored");
      continue;
    }
    out[env] = value;
  }
  return out;
}

}  // namespace

const std::vector<SettingInfo>& settings() { return kSettings; }

std::uint64_t parse_size(std::string_view s) {
  auto t = trim(s);
  std::uint64_t n = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), n);
  if (ec != std::errc{} || p == t.data()) throw std::invalid_argument("bad size");
  std::string unit = lower(trim(std::string_view(p, t.data() + t.size() - p)));
  static const std::pair<std::string_view, std::uint64_t> kUnits[] = {
      {"", 1}, {"b", 1}, {"k", 1000}, {"kb", 1000}, {"kib", 1ULL << 10}, {"m", 1000000},
      {"mb", 1000000}, {"mib", 1ULL << 20}, {"g", 1000000000}, {"gb", 1000000000},
      {"gib", 1ULL << 30}, {"tib", 1ULL << 40}};
  for (auto [u, mul] : kUnits) {
    if (unit == u) {
      if (n > std::numeric_limits<std::uint64_t>::max() / mul) throw std::invalid_argument("size overflow");
      return n * mul;
    }
  }
  throw std::invalid_argument("bad size unit");
}

std::optional<std::chrono::milliseconds> parse_retention(std::string_view s) {
  auto v = lower(trim(s));
  if (v == "off" || v == "0" || v == "false" || v == "none") return std::nullopt;
  if (!v.empty() && std::isdigit(static_cast<unsigned char>(v.back())))
    throw std::invalid_argument("an age needs a unit (s, m, h, d, w), e.g. 30d; or off");
  auto ms = time::parse_duration_ms(v);
  if (!ms) throw std::invalid_argument("not an age (e.g. 30d, 12h, 90m) or off");
  if (*ms <= 0) return std::nullopt;  // 0s, 0d
  if (*ms < 1000) throw std::invalid_argument("must be at least 1s (or off)");
  return std::chrono::milliseconds(*ms);
}

bool parse_bool(std::string_view s) {
  auto v = lower(trim(s));
  if (v == "true" || v == "1" || v == "yes" || v == "on") return true;
  if (v == "false" || v == "0" || v == "no" || v == "off") return false;
  throw std::invalid_argument("bad boolean");
}

Invocation parse_invocation(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  Invocation inv;
  std::map<std::string, std::string> flags;
  std::string config_file;
  bool strict_env = false;
  bool command_seen = false;

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") { inv.command = "help"; return inv; }
    if (a == "--version") { inv.command = "version"; return inv; }
    if (a == "--strict-env") { strict_env = true; continue; }
    if (a == "--example" || a == "--markdown") { inv.config_output = a.substr(2); continue; }
    if (a.rfind("--", 0) == 0) {
      std::string name = a, value;
      auto eq = a.find('=');
      bool has_value = eq != std::string::npos;
      if (has_value) { name = a.substr(0, eq); value = a.substr(eq + 1); }
      if (name == "--config") {
        if (!has_value) {
          if (i + 1 >= args.size()) throw ConfigError("--config needs a file name");
          value = args[++i];
        }
        config_file = value;
        continue;
      }
      const SettingInfo* hit = nullptr;
      for (const auto& s : kSettings)
        if (flag_name(s.env) == name) hit = &s;
      if (!hit) throw ConfigError("unknown option " + name + " (see iotd --help)");
      if (!has_value) {
        if (i + 1 >= args.size()) throw ConfigError(name + " needs a value");
        value = args[++i];
      }
      flags[std::string(hit->env)] = value;
      continue;
    }
    if (!command_seen && (a == "run" || a == "migrate" || a == "config" || a == "check-config" ||
                          a == "replay-journal")) {
      inv.command = a;
      command_seen = true;
      continue;
    }
    throw ConfigError("unexpected argument `" + a + "` (commands: run, migrate, check-config, replay-journal; see iotd --help)");
  }

  std::map<std::string, std::string> envs;
  for (const auto& kv : env) {
    if (kv.rfind(kPrefix, 0) != 0) continue;
    auto eq = kv.find('=');
    if (eq == std::string::npos) continue;
    std::string key = kv.substr(0, eq);
    std::string value = kv.substr(eq + 1);
    if (key == "IOTD_CONFIG") {
      if (config_file.empty()) config_file = value;
      continue;
    }
    if (find_by_env(key)) {
      envs[key] = value;
      continue;
    }
    // Kubernetes injects <SERVICE>_SERVICE_* and <SERVICE>_PORT* for a service named iotd.
    if (key.rfind("IOTD_SERVICE_", 0) == 0 || key.rfind("IOTD_PORT", 0) == 0) continue;
    if (key == "IOTD_BINARY") continue;
    std::string msg = "unknown environment variable " + key + " ignored (see iotd --help)";
    if (strict_env) throw ConfigError(msg + "; --strict-env makes this fatal");
    inv.warnings.push_back(msg);
  }

  std::map<std::string, std::string> file_values;
  if (!config_file.empty()) file_values = read_file(config_file, inv.warnings);

  std::map<std::string, std::string> raw;
  for (const auto& s : kSettings) {
    std::string key(s.env);
    if (auto f = flags.find(key); f != flags.end()) {
      raw[key] = f->second; inv.config.sources[key] = "flag";
    } else if (auto e = envs.find(key); e != envs.end()) {
      raw[key] = e->second; inv.config.sources[key] = "env";
    } else if (auto fv = file_values.find(key); fv != file_values.end()) {
      raw[key] = fv->second; inv.config.sources[key] = "file";
    } else {
      raw[key] = std::string(s.default_value); inv.config.sources[key] = "default";
    }
  }
  apply_settings(inv.config, raw);
  inv.config.values = std::move(raw);
  return inv;
}

std::string help_text() {
  std::ostringstream o;
  o << "iotd: IoT telemetry backend (MQTT/HTTP in, SQL, REST/WebSocket out)\n\n"
       "Usage: iotd [run|migrate|check-config|replay-journal] [--config FILE] [--strict-env] [--<setting> VALUE]...\n"
       "       iotd config --example | --markdown\n"
       "       iotd --help | --version\n\n"
       "Commands:\n"
       "  run           (default) serve: ingest MQTT, store, answer HTTP\n"
       "  migrate       apply database migrations and exit (0: schema current)\n"
       "  check-config  validate every setting as start-up would (no sockets, no database),\n"
       "                print the effective configuration with each value's source\n"
       "                (default, file, env, flag), secrets masked; exit 0 if valid, 2 if not\n"
       "  config        the same as check-config; with --example or --markdown, print the\n"
       "                example config file or the README settings table\n"
       "  replay-journal  --journal-dir DIR [--instance-id ID]: commit a dead instance's\n"
       "                journal into the database (ID: the one recorded in DIR), then rename\n"
       "                DIR to DIR.replayed-<time>; exit 0 when done (docs/scaling.md)\n\n"
       "Every setting is a flag (--http-listen 0.0.0.0:8080), an environment variable\n"
       "(IOTD_HTTP_LISTEN) or a line in the IOTD_CONFIG / --config file (http_listen = ...).\n"
       "Precedence: flag > environment > file > default.\n";
  std::string_view group;
  for (const auto& s : kSettings) {
    if (s.group != group) {
      group = s.group;
      o << "\n" << group << ":\n";
    }
    o << "  " << flag_name(s.env) << " / " << s.env << "\n      " << s.help;
    if (!s.default_value.empty()) o << " [default: " << s.default_value << "]";
    o << "\n";
  }
  return o.str();
}

std::string masked_value(const SettingInfo& s, std::string_view value) {
  if (value.empty()) return std::string(value);
  switch (s.secret) {
    case Secret::no: return std::string(value);
    case Secret::value: return "***";
    case Secret::url_password: {
      // scheme://user:password@host...: only the password goes; no user info, nothing hidden.
      const auto scheme_end = value.find("://");
      if (scheme_end == std::string_view::npos) return std::string(value);
      const auto auth_begin = scheme_end + 3;
      const auto auth_end = value.find_first_of("/?#", auth_begin);
      const auto at = value.substr(0, auth_end).rfind('@');
      if (at == std::string_view::npos || at < auth_begin) return std::string(value);
      const auto colon = value.substr(0, at).find(':', auth_begin);
      if (colon == std::string_view::npos) return std::string(value);
      return std::string(value.substr(0, colon + 1)) + "***" + std::string(value.substr(at));
    }
  }
  return "***";
}

std::string effective_config_text(const Config& c) {
  std::ostringstream o;
  for (const auto& s : kSettings) {
    const std::string key(s.env);
    const auto v = c.values.find(key);
    const auto src = c.sources.find(key);
    o << key << "=" << masked_value(s, v == c.values.end() ? "" : v->second) << "  # "
      << (src == c.sources.end() ? "default" : src->second) << "\n";
  }
  return o.str();
}

std::string example_config_file() {
  std::ostringstream o;
  o << "# iotd example configuration: every setting with its default.\n"
       "# Generated by `iotd config --example`; use with IOTD_CONFIG=FILE or --config FILE.\n"
       "# Environment variables (IOTD_<KEY>) and flags (--<key>) override this file.\n";
  std::string_view group;
  for (const auto& s : kSettings) {
    if (s.group != group) {
      group = s.group;
      o << "\n# --- " << group << " ---\n";
    }
    o << "# " << s.help << "\n";
    if (s.default_value.empty())
      o << "# " << file_key(s.env) << " =\n";
    else
      o << file_key(s.env) << " = " << s.default_value << "\n";
  }
  return o.str();
}

std::string markdown_table() {
  std::ostringstream o;
  o << "| variable | flag | default | meaning |\n| --- | --- | --- | --- |\n";
  for (const auto& s : kSettings) {
    o << "| `" << s.env << "` | `" << flag_name(s.env) << "` | "
      << (s.default_value.empty() ? std::string("–") : "`" + std::string(s.default_value) + "`")
      << " | " << s.help << " |\n";
  }
  return o.str();
}

}  // namespace iotd::config
