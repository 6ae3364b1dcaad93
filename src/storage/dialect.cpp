#include "dialect.hpp"
#include "sqlite_library.hpp"

#include "iotd/core/text.hpp"

#include <soci/soci.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <chrono>
#include <thread>
#include <filesystem>
#include <stdexcept>
#include <system_error>

namespace iotd::storage::detail {
namespace {

constexpr SqlDialect kSqlite{
    .kind = Dialect::sqlite,
    .ids = IdRetrieval::last_insert_id,
    .begin_write = "BEGIN IMMEDIATE",
    .insert_message =
        "INSERT INTO messages(device_pk, ts, received_at, dedup_key, metrics, extra) "
        "VALUES(:device_pk, :ts, :received_at, :dedup_key, :metrics, :extra) "
        "ON CONFLICT DO NOTHING",
    .insert_device =
        "INSERT INTO devices(device_id, status, created_at, updated_at) "
        "VALUES(:device_id, 'active', :created_at, :updated_at) ON CONFLICT DO NOTHING",
    .insert_metric_name = "INSERT INTO metric_names(name) VALUES(:name) ON CONFLICT DO NOTHING",
    .upsert_checkpoint =
        "INSERT INTO ingest_checkpoint(instance_id, journal_uuid, seq, updated_at) "
        "VALUES(:instance_id, :journal_uuid, :seq, :updated_at) "
        "ON CONFLICT(instance_id) DO UPDATE SET journal_uuid = excluded.journal_uuid, "
        "seq = excluded.seq, updated_at = excluded.updated_at",
    .insert_alert =
        "INSERT INTO alerts(device_pk, metric, kind, severity, state, message, threshold_min, "
        "threshold_max, first_value, last_value, peak_value, count, raised_ts, "
        "raised_received_at, updated_ts, cleared_ts, acknowledged, acknowledged_at, "
        "acknowledged_by) VALUES(:device_pk, :metric, :kind, :severity, :state, :message, "
        ":threshold_min, :threshold_max, :first_value, :last_value, :peak_value, :count, "
        ":raised_ts, :raised_received_at, :updated_ts, :cleared_ts, :acknowledged, "
        ":acknowledged_at, :acknowledged_by)",
    // Bound as text, stored as a real BLOB (typeof = 'blob') so other tools read it right.
    .insert_reject =
        "INSERT INTO rejects(source, topic, payload, payload_size, reason, detail, received_at) "
        "VALUES(:source, :topic, CAST(:payload AS BLOB), :payload_size, :reason, :detail, "
        ":received_at)",
    .multi_row = false,  // messages: vector-free single-row statements are fast in-process
    .messages_tail = "",
    // commit(): rollups, latest values and last-seen times go as multi-row statements
    // all the same (one execute per up to 512 keys instead of one per key; §10).
    .rollup_tail =
        " ON CONFLICT(device_pk, bucket, metric_id) DO UPDATE SET "
        "n = rollup_1m.n + excluded.n, sum = rollup_1m.sum + excluded.sum, "
        "min = MIN(rollup_1m.min, excluded.min), max = MAX(rollup_1m.max, excluded.max)",
    .latest_tail =
        " ON CONFLICT(device_pk, metric_id) DO UPDATE SET ts = excluded.ts, value = excluded.value "
        "WHERE excluded.ts >= latest_values.ts",
    // 512 x 7 = 3,584 parameters (SQLite 3.40 allows 32,766); shorter chunks run as
    // power-of-two pieces (multi_row.hpp).
    .upsert_chunk = 512,
    .select_reject_payload = "payload",
    .hex_blobs = false,
    .migration_lock = "",
    .migration_unlock = "",
    .transactional_ddl = true,
    .upsert_rule =
        "INSERT INTO rules(metric, scope, scope_value, min_value, max_value, severity, hysteresis) "
        "VALUES(:metric, :scope, :scope_value, :min_value, :max_value, :severity, :hysteresis) "
        "ON CONFLICT(metric, scope, scope_value) DO UPDATE SET min_value = excluded.min_value, "
        "max_value = excluded.max_value, severity = excluded.severity, "
        "hysteresis = excluded.hysteresis",
};

// PostgreSQL gets ids back with RETURNING; the writer's hot path uses the multi-row tails
// (SOCI's vector binding is one round trip per row there; docs/architecture.md §10).
constexpr SqlDialect kPostgresql{
    .kind = Dialect::postgresql,
    .ids = IdRetrieval::returning,
    .begin_write = "BEGIN",
    .insert_message =
        "INSERT INTO messages(device_pk, ts, received_at, dedup_key, metrics, extra) "
        "VALUES(:device_pk, :ts, :received_at, :dedup_key, :metrics, :extra) "
        "ON CONFLICT DO NOTHING RETURNING id",
    .insert_device =
        "INSERT INTO devices(device_id, status, created_at, updated_at) "
        "VALUES(:device_id, 'active', :created_at, :updated_at) ON CONFLICT DO NOTHING",
    .insert_metric_name = "INSERT INTO metric_names(name) VALUES(:name) ON CONFLICT DO NOTHING",
    .upsert_checkpoint =
        "INSERT INTO ingest_checkpoint(instance_id, journal_uuid, seq, updated_at) "
        "VALUES(:instance_id, :journal_uuid, :seq, :updated_at) "
        "ON CONFLICT(instance_id) DO UPDATE SET journal_uuid = EXCLUDED.journal_uuid, "
        "seq = EXCLUDED.seq, updated_at = EXCLUDED.updated_at",
    .insert_alert =
        "INSERT INTO alerts(device_pk, metric, kind, severity, state, message, threshold_min, "
        "threshold_max, first_value, last_value, peak_value, count, raised_ts, "
        "raised_received_at, updated_ts, cleared_ts, acknowledged, acknowledged_at, "
        "acknowledged_by) VALUES(:device_pk, :metric, :kind, :severity, :state, :message, "
        ":threshold_min, :threshold_max, :first_value, :last_value, :peak_value, :count, "
        ":raised_ts, :raised_received_at, :updated_ts, :cleared_ts, :acknowledged, "
        ":acknowledged_at, :acknowledged_by) RETURNING id",
    // Text parameters cannot carry NUL bytes: payloads travel hex-encoded.
    .insert_reject =
        "INSERT INTO rejects(source, topic, payload, payload_size, reason, detail, received_at) "
        "VALUES(:source, :topic, decode(:payload, 'hex'), :payload_size, :reason, :detail, "
        ":received_at)",
    .multi_row = true,
    .messages_tail = " ON CONFLICT DO NOTHING RETURNING id, device_pk, ts, dedup_key",
    .rollup_tail =
        " ON CONFLICT(device_pk, bucket, metric_id) DO UPDATE SET "
        "n = rollup_1m.n + EXCLUDED.n, sum = rollup_1m.sum + EXCLUDED.sum, "
        "min = LEAST(rollup_1m.min, EXCLUDED.min), max = GREATEST(rollup_1m.max, EXCLUDED.max)",
    .latest_tail =
        " ON CONFLICT(device_pk, metric_id) DO UPDATE SET ts = EXCLUDED.ts, value = EXCLUDED.value "
        "WHERE EXCLUDED.ts >= latest_values.ts",
    .column_arrays = true,
    .message_chunk = 2000,  // the writer's default maximum batch: one statement per batch
    .upsert_chunk = 5000,
    .select_reject_payload = "encode(payload, 'hex')",
    .hex_blobs = true,
    .migration_lock = "SELECT pg_advisory_lock(731962026)",
    .migration_unlock = "SELECT pg_advisory_unlock(731962026)",
    .transactional_ddl = true,
    .upsert_rule =
        "INSERT INTO rules(metric, scope, scope_value, min_value, max_value, severity, hysteresis) "
        "VALUES(:metric, :scope, :scope_value, :min_value, :max_value, :severity, :hysteresis) "
        "ON CONFLICT(metric, scope, scope_value) DO UPDATE SET min_value = excluded.min_value, "
        "max_value = excluded.max_value, severity = excluded.severity, "
        "hysteresis = excluded.hysteresis",
};

// MySQL/MariaDB: never INSERT IGNORE (it also swallows truncation errors; docs/architecture.md
// §5). SOCI connects with CLIENT_FOUND_ROWS, so affected rows cannot tell a duplicate from an
// insert, and "ON DUPLICATE KEY UPDATE" statements burn AUTO_INCREMENT values on duplicates
// (ids are not consecutive): the writer learns the ids of a multi-row insert by selecting
// the rows above the transaction's previous MAX(id) (see soci_write_store.cpp). The single
// row statement is used for alerts only, whose id comes from mysql_insert_id().
constexpr SqlDialect kMysql{
    .kind = Dialect::mysql,
    .ids = IdRetrieval::last_insert_id,
    .begin_write = "START TRANSACTION",
    .insert_message =
        "INSERT INTO messages(device_pk, ts, received_at, dedup_key, metrics, extra) "
        "VALUES(:device_pk, :ts, :received_at, :dedup_key, :metrics, :extra) "
        "ON DUPLICATE KEY UPDATE id = id",
    .insert_device =
        "INSERT INTO devices(device_id, status, created_at, updated_at) "
        "VALUES(:device_id, 'active', :created_at, :updated_at) ON DUPLICATE KEY UPDATE pk = pk",
    .insert_metric_name =
        "INSERT INTO metric_names(name) VALUES(:name) ON DUPLICATE KEY UPDATE id = id",
    .upsert_checkpoint =
        "INSERT INTO ingest_checkpoint(instance_id, journal_uuid, seq, updated_at) "
        "VALUES(:instance_id, :journal_uuid, :seq, :updated_at) ON DUPLICATE KEY UPDATE "
        "journal_uuid = VALUES(journal_uuid), seq = VALUES(seq), updated_at = VALUES(updated_at)",
    .insert_alert = kSqlite.insert_alert,
    // Payloads travel hex-encoded: a binary string literal would be checked against the
    // connection's character set.
    .insert_reject =
        "INSERT INTO rejects(source, topic, payload, payload_size, reason, detail, received_at) "
        "VALUES(:source, :topic, UNHEX(:payload), :payload_size, :reason, :detail, :received_at)",
    .multi_row = true,
    .messages_tail = " ON DUPLICATE KEY UPDATE id = id",
    .rollup_tail =
        " ON DUPLICATE KEY UPDATE n = n + VALUES(n), sum = sum + VALUES(sum), "
        "min = LEAST(min, VALUES(min)), max = GREATEST(max, VALUES(max))",
    // Assignments run left to right: value is decided before ts moves.
    .latest_tail =
        " ON DUPLICATE KEY UPDATE "
        "value = IF(VALUES(ts) >= ts, VALUES(value), value), ts = GREATEST(ts, VALUES(ts))",
    .message_chunk = 500,
    .upsert_chunk = 1000,
    .select_reject_payload = "HEX(payload)",
    .hex_blobs = true,
    // GET_LOCK returns 0 on timeout (not an error): the migrator checks the result. The
    // name is per database (one server may hold several iotd databases).
    .migration_lock = "SELECT GET_LOCK(CONCAT('iotd_migrate.', DATABASE()), 60)",
    .migration_unlock = "SELECT RELEASE_LOCK(CONCAT('iotd_migrate.', DATABASE()))",
    .transactional_ddl = false,
    .upsert_rule =
        "INSERT INTO rules(metric, scope, scope_value, min_value, max_value, severity, hysteresis) "
        "VALUES(:metric, :scope, :scope_value, :min_value, :max_value, :severity, :hysteresis) "
        "ON DUPLICATE KEY UPDATE min_value = VALUES(min_value), max_value = VALUES(max_value), "
        "severity = VALUES(severity), hysteresis = VALUES(hysteresis)",
};

using text::lower;
using text::trim;


void init_sqlite(soci::session& s, const ConnectionSpec& spec) {
  s << "PRAGMA busy_timeout = " + std::to_string(spec.busy_timeout_ms);
  // WAL lets readers run beside the writer. The mode is persistent in the file, so it is
  // switched once (switching needs an exclusive lock; reading it does not).
  std::string mode;
  s << "PRAGMA journal_mode", soci::into(mode);
  if (lower(mode) != "wal") {
    // The switch needs an exclusive lock and does not wait on the busy handler: another
    // process opening the new file at the same moment makes it fail with "database is
    // locked" (seen with concurrent migrators). Retry until the busy timeout.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(std::max(spec.busy_timeout_ms, 100));
    for (;;) {
      try {
        s << "PRAGMA journal_mode = WAL", soci::into(mode);
        break;
      } catch (const soci::soci_error& e) {
        if (lower(e.what()).find("locked") == std::string::npos ||
            std::chrono::steady_clock::now() >= deadline)
          throw;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
    }
    if (lower(mode) != "wal")
      throw std::runtime_error("cannot switch " + spec.display + " to WAL mode (got '" + mode + "')");
  }
  s << "PRAGMA synchronous = NORMAL";  // WAL + NORMAL: durable across process crashes
  s << "PRAGMA foreign_keys = OFF";    // no FKs: the writer keeps references consistent
}

void open_one(soci::session& s, const ConnectionSpec& spec) {
  if (spec.backend == "sqlite3" && !spec.sqlite_path.empty()) {
    std::filesystem::path parent = std::filesystem::path(spec.sqlite_path).parent_path();
    std::error_code ec;
    if (!parent.empty()) std::filesystem::create_directories(parent, ec);
    if (ec)
      throw std::runtime_error("cannot create directory " + parent.string() + " for " +
                               spec.display + ": " + ec.message());
  }
  if (spec.backend == "sqlite3") configure_sqlite_library();  // before SOCI opens the first one
  try {
    if (spec.backend == "mysql" && spec.connect_string.find("charset=") == std::string::npos)
      s.open(spec.backend, spec.connect_string + " charset=utf8mb4");  // text is UTF-8
    else
      s.open(spec.backend, spec.connect_string);
    if (spec.backend == "sqlite3") init_sqlite(s, spec);
  } catch (const soci::soci_error& e) {
    std::string what = e.what();
    std::string hint;
    if (what.find("Failed to find shared library") != std::string::npos)
      hint = " (install the SOCI backend package, e.g. libsoci-" + spec.backend + "-4.0)";
    throw std::runtime_error("cannot open database " + spec.display + ": " + what + hint);
  }
}

}  // namespace

Dialect dialect_of(const ConnectionSpec& spec) {
  if (spec.dialect == "sqlite") return Dialect::sqlite;
  if (spec.dialect == "postgresql") return Dialect::postgresql;
  if (spec.dialect == "mysql") return Dialect::mysql;
  throw std::invalid_argument("unknown database dialect '" + spec.dialect + "'");
}

const SqlDialect& sql_dialect(Dialect d) {
  switch (d) {
    case Dialect::sqlite: return kSqlite;
    case Dialect::postgresql: return kPostgresql;
    case Dialect::mysql: return kMysql;
  }
  return kSqlite;
}

std::unique_ptr<soci::session> open_session(const ConnectionSpec& spec) {
  auto s = std::make_unique<soci::session>();
  open_one(*s, spec);
  return s;
}

void open_pool(soci::connection_pool& pool, int size, const ConnectionSpec& spec) {
  for (int i = 0; i < size; ++i) open_one(pool.at(static_cast<std::size_t>(i)), spec);
}

void reopen_session(soci::session& s, const ConnectionSpec& spec) {
  try {
    s.close();
  } catch (const std::exception&) {
  }
  open_one(s, spec);
}

namespace {

// What the database said, lower-cased. A soci_error's what() also carries SOCI's context:
// the statement and every bound value, i.e. stored payload text, which must never decide
// the class (a payload saying "timed out" would make a poisoned row look transient and be
// retried for ever instead of isolated).
std::string error_text(const std::exception& e) {
  if (const auto* se = dynamic_cast<const soci::soci_error*>(&e)) return lower(se->get_error_message());
  return lower(e.what());
}

}  // namespace

bool is_transient_error(const std::exception& e) {
  if (const auto* se = dynamic_cast<const soci::soci_error*>(&e)) {
    auto cat = se->get_error_category();
    if (cat == soci::soci_error::connection_error ||
        cat == soci::soci_error::unknown_transaction_state)
      return true;
    if (cat == soci::soci_error::constraint_violation) return false;
  }
  static constexpr std::array<std::string_view, 24> kTransient{
      // SQLite (SQLITE_BUSY / SQLITE_LOCKED / I/O and space trouble a retry may outlive)
      "database is locked", "database table is locked", "database schema is locked",
      "disk i/o error", "database or disk is full", "unable to open database",
      "out of memory", "interrupted",
      // PostgreSQL
      "server closed the connection", "could not connect", "connection refused",
      "terminating connection", "could not serialize", "deadlock detected",
      "the database system is", "no connection to the server", "canceling statement due to",
      // MySQL / MariaDB
      "lost connection", "has gone away", "can't connect", "lock wait timeout", "deadlock found",
      "too many connections",
      // generic
      "timed out"};
  const std::string m = error_text(e);
  for (auto needle : kTransient)
    if (m.find(needle) != std::string::npos) return true;
  return false;
}

bool is_connection_error(const std::exception& e) {
  if (const auto* se = dynamic_cast<const soci::soci_error*>(&e)) {
    if (se->get_error_category() == soci::soci_error::connection_error) return true;
  }
  static constexpr std::array<std::string_view, 15> kConnection{
      // PostgreSQL (libpq)
      "server closed the connection", "could not connect", "connection refused",
      "terminating connection", "the database system is", "no connection to the server",
      "could not send data to server", "could not receive data from server",
      // MySQL / MariaDB
      "lost connection", "has gone away", "can't connect",
      // sockets and SOCI
      "connection reset", "broken pipe", "session is not connected", "cannot open database"};
  const std::string m = error_text(e);
  for (auto needle : kConnection)
    if (m.find(needle) != std::string::npos) return true;
  return false;
}

std::vector<std::string> split_statements(std::string_view sql) {
  std::vector<std::string> out;
  std::string current;
  bool has_code = false;
  auto flush = [&] {
    if (has_code) out.push_back(std::string(trim(current)));
    current.clear();
    has_code = false;
  };
  while (!sql.empty()) {
    auto nl = sql.find('\n');
    std::string_view line = sql.substr(0, nl);
    sql = nl == std::string_view::npos ? std::string_view{} : sql.substr(nl + 1);
    std::string_view t = trim(line);
    if (lower(t) == "-- statement") {
      flush();
      continue;
    }
    if (!t.empty() && !t.starts_with("--")) has_code = true;
    current.append(line);
    current.push_back('\n');
  }
  flush();
  return out;
}

std::string strip_sql_comments(std::string_view sql) {
  std::string out;
  std::string line;
  bool in_quote = false;  // a literal may span lines
  for (std::size_t i = 0; i <= sql.size(); ++i) {
    const char c = i < sql.size() ? sql[i] : '\n';
    if (c == '\n') {
      if (in_quote || !trim(line).empty()) {
        out.append(line);
        out.push_back('\n');
      }
      line.clear();
      continue;
    }
    if (!in_quote && c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      while (i + 1 < sql.size() && sql[i + 1] != '\n') ++i;  // skip to the end of the line
      continue;
    }
    if (c == '\'') in_quote = !in_quote;  // '' inside a literal toggles twice
    line.push_back(c);
  }
  while (!out.empty() && std::isspace(static_cast<unsigned char>(out.back()))) out.pop_back();
  return out;
}

int migration_version(std::string_view name) {
  int v = 0;
  std::size_t i = 0;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])); ++i) {
    v = v * 10 + (name[i] - '0');
    if (v > 1'000'000) return -1;
  }
  return i == 0 ? -1 : v;
}

}  // namespace iotd::storage::detail
