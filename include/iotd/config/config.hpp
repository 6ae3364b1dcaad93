// iotd's configuration (docs/architecture.md §12): one table of settings drives parsing from
// flags, IOTD_* environment variables and an optional key = value file (precedence flag > env >
// file > default), `--help`, config/iotd.example.conf and the README table.
// Start-up code: load_config throws ConfigError naming the setting at fault.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace iotd::config {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Which part of a setting's value `iotd check-config` (and anything else that shows the
// effective configuration) must hide.
enum class Secret {
  no,            // shown as is
  value,         // the whole value: ***
  url_password,  // the password of a scheme://user:password@host URL: scheme://user:***@host
};

struct SettingInfo {
  std::string_view env;            // IOTD_HTTP_LISTEN
  std::string_view default_value;  // as text; "" = unset
  std::string_view help;
  std::string_view group;
  Secret secret = Secret::no;
};

// Every setting, in documentation order.
const std::vector<SettingInfo>& settings();

struct Config {
  // http
  std::string http_listen;
  int io_threads = 0;
  int db_pool = 4;
  std::uint64_t http_body_limit = 1 << 20;
  std::string cors_origins;
  std::string admin_key;
  // database
  std::string database_url;
  // mqtt
  std::string mqtt_url;              // empty: MQTT disabled
  std::string mqtt_topics;
  std::string mqtt_share_group;      // scale-out: "$share/<group>/" before each filter; empty: off
  std::string mqtt_client_id;
  std::string mqtt_username, mqtt_password;
  int mqtt_qos = 1;
  int mqtt_version = 5;
  std::chrono::seconds mqtt_keepalive{30};
  std::chrono::seconds mqtt_session_expiry{86400};
  bool mqtt_ignore_retained = true;
  std::string mqtt_ca_file, mqtt_cert_file, mqtt_key_file;
  std::string command_topic;      // template with {device_id}; commands are published here
  std::string command_ack_topic;  // template with {device_id}; empty: acks not subscribed
  std::chrono::milliseconds command_ttl{3600 * 1000};  // no ack by then: expired
  // ingest
  std::string instance_id;
  std::string journal_dir;
  std::string journal_fsync;
  std::uint64_t journal_max_bytes = 1ULL << 30;
  std::uint64_t journal_segment_bytes = 64ULL << 20;
  std::uint64_t journal_min_free_bytes = 64ULL << 20;  // pause intake below this free space
  std::string device_id_source;
  std::chrono::milliseconds max_clock_skew{24LL * 3600 * 1000};
  std::chrono::milliseconds ingest_timeout{10000};
  std::string aliases;
  int max_batch = 2000;
  std::chrono::milliseconds commit_delay{10};
  bool auto_register = true;
  std::int64_t max_devices = 100000;
  std::uint64_t rejects_max_bytes = 64 * 1024;
  // logging
  std::string log_level;
  std::string log_format;
  std::string log_file;
  std::uint64_t log_max_bytes = 10ULL << 20;  // 0: the file is never rotated
  int log_files = 5;                          // rotated files kept besides the current one
  // live stream (issue 10)
  int ws_queue_frames = 1024;
  std::chrono::milliseconds ws_idle_timeout{60'000};
  // retention (issue 11, docs/architecture.md §17); nullopt: off
  std::optional<std::chrono::milliseconds> retention;
  std::optional<std::chrono::milliseconds> retention_alerts;
  std::optional<std::chrono::milliseconds> retention_rejects{std::chrono::hours(24 * 30)};
  std::chrono::milliseconds retention_interval{10 * 60 * 1000};
  // TLS (issue 12 item 4): both set = HTTPS and WSS on http_listen
  std::string http_tls_cert, http_tls_key;
  // HTTP limits and write rate limiting (issue 12)
  std::uint64_t http_header_limit = 16 * 1024;
  std::chrono::milliseconds http_read_timeout{30'000};
  std::chrono::milliseconds http_idle_timeout{60'000};
  std::int64_t http_max_connections = 10000;
  double rate_limit_writes = 0;  // per second; 0: off
  double rate_limit_burst = 0;   // 0: one second's worth
  std::vector<std::string> http_trusted_proxies;
  // several instances on one server database (issue 13, docs/architecture.md §21)
  bool cluster = false;

  // Where each value came from: "default", "file", "env", "flag" (for `iotd config`).
  std::map<std::string, std::string> sources;
  std::map<std::string, std::string> values;  // the text of each setting as given
};

struct Invocation {
  std::string command = "run";  // run | migrate | check-config (alias config) | help | version
  Config config;
  std::vector<std::string> warnings;  // unknown IOTD_* variables etc., to log after set-up
  std::string config_output;          // `iotd config --example|--markdown`: what to print
};

// argv without the program name; env as "KEY=VALUE" strings (environ).
Invocation parse_invocation(const std::vector<std::string>& args,
                            const std::vector<std::string>& env);

std::string help_text();
// `iotd check-config`: every setting as KEY=VALUE with its source, secrets masked.
std::string effective_config_text(const Config& c);
// The value as `iotd check-config` may show it (SettingInfo::secret).
std::string masked_value(const SettingInfo& s, std::string_view value);
std::string example_config_file();
std::string markdown_table();

// "1GiB", "64KiB", "512MB", "1000" -> bytes; throws std::invalid_argument.
std::uint64_t parse_size(std::string_view s);
bool parse_bool(std::string_view s);  // true/false/1/0/yes/no/on/off; throws
// A retention age: "30d", "12h", "90m" (at least 1s); "off" or "0" -> nullopt (keep
// forever). Throws std::invalid_argument saying what is wrong.
std::optional<std::chrono::milliseconds> parse_retention(std::string_view s);

}  // namespace iotd::config
