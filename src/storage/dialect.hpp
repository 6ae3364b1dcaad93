// Private to src/storage: the few places where SQLite, PostgreSQL and MySQL differ (upserts,
// insert-or-nothing, how a new row's id comes back, write-transaction start, blob binding,
// the migration lock), session opening with per-backend settings, and error classification.
// Everything else is plain SQL shared by all three. Pure data and free functions.
#pragma once

#include <cstddef>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "iotd/storage/database.hpp"

namespace soci {
class session;
class connection_pool;
}  // namespace soci

namespace iotd::storage::detail {

enum class Dialect { sqlite, postgresql, mysql };

// How the id of a row just inserted is learnt.
enum class IdRetrieval {
  last_insert_id,  // affected rows says inserted or not; session.get_last_insert_id() (SQLite, MySQL)
  returning,       // the insert ends in "RETURNING id"; no row back = nothing inserted (PostgreSQL)
};

struct SqlDialect {
  Dialect kind;
  IdRetrieval ids;
  // Starts the writer's transaction. SQLite: IMMEDIATE takes the write lock up front, so a
  // busy database fails (and is retried) at begin() instead of deep inside a batch.
  std::string_view begin_write;
  std::string_view commit = "COMMIT";
  std::string_view rollback = "ROLLBACK";

  // Writer statements, placeholders in the order the store binds them.
  std::string_view insert_message;      // device_pk, ts, received_at, dedup_key, metrics, extra
  std::string_view insert_device;       // device_id, created_at, updated_at; nothing on conflict
  std::string_view insert_metric_name;  // name; nothing on conflict
  std::string_view upsert_checkpoint;   // instance_id, journal_uuid, seq, updated_at
  std::string_view insert_alert;        // see soci_write_store.cpp
  std::string_view insert_reject;       // source, topic, payload, payload_size, reason, detail, received_at
  // Server dialects: the hot-path writes go as multi-row statements "INSERT … VALUES (…),(…)"
  // + tail (vector binding costs one round trip per row there, docs/architecture.md §10). The
  // tails follow the VALUES rows: messages_tail insert_message's columns, rollup_tail
  // (device_pk, metric_id, bucket, n, sum, min, max), latest_tail (device_pk, metric_id, ts,
  // value; a newer-or-equal ts wins).
  // SQLite: messages stay single-row (multi_row false), but the rollup, latest-value and
  // last-seen writes of commit() use the tails and upsert_chunk on every dialect.
  bool multi_row = false;
  std::string_view messages_tail;  // after the VALUES rows of insert_message's columns
  std::string_view rollup_tail;
  std::string_view latest_tail;
  // PostgreSQL: the rows go as one array parameter per column, unnested by the statement
  // ("INSERT … SELECT * FROM unnest(…)" + tail; column_arrays.hpp), not as VALUES rows.
  bool column_arrays = false;
  // Rows per chunk. VALUES chunks cost rows x columns parameters (PostgreSQL allows 65535;
  // MySQL's statement must fit max_allowed_packet); array chunks cost one per column.
  std::size_t message_chunk = 0;
  std::size_t upsert_chunk = 0;
  // How rejects.payload is selected; `hex_blobs` means payloads travel hex-encoded.
  std::string_view select_reject_payload;
  bool hex_blobs = false;

  // Migrations: a session-level lock around the whole check+apply (empty for SQLite, where
  // each migration runs in its own BEGIN IMMEDIATE transaction that re-checks the version).
  std::string_view migration_lock;
  std::string_view migration_unlock;
  bool transactional_ddl = true;  // MySQL commits implicitly around DDL

  // Rules API (Repository::put_rule): metric, scope, scope_value, min, max, severity,
  // hysteresis; replaces the limits of an existing (metric, scope, scope_value).
  std::string_view upsert_rule;
};

Dialect dialect_of(const ConnectionSpec& spec);  // throws std::invalid_argument
const SqlDialect& sql_dialect(Dialect d);

// Opens a session (backends are loaded by name: SOCI dlopen()s libsoci_<backend>.so.4.0)
// and applies the per-session settings (SQLite: WAL, synchronous=NORMAL, busy timeout,
// foreign keys off). Creates a SQLite file's parent directories. Throws std::runtime_error
// naming the database (never the password).
std::unique_ptr<soci::session> open_session(const ConnectionSpec& spec);
void open_pool(soci::connection_pool& pool, int size, const ConnectionSpec& spec);
// Closes `s` (whatever state its connection is in) and opens it again with `spec`.
void reopen_session(soci::session& s, const ConnectionSpec& spec);

// Connection lost, lock/busy timeouts, deadlocks, serialisation failures: worth retrying.
bool is_transient_error(const std::exception& e);

// The session itself is unusable (server restarted or gone, connection reset, could not
// connect): reopening it, not just retrying the statement, is what helps.
bool is_connection_error(const std::exception& e);

// A migration file's statements: split on lines "-- statement"; chunks holding only
// whitespace and comments are dropped.
std::vector<std::string> split_statements(std::string_view sql);

// `sql` without "--" comments (outside '…' literals) and blank lines. SOCI's MySQL backend
// scans statement text for ":name" placeholders and quotes, comments included: a colon or
// an apostrophe in a comment would cut the statement short.
std::string strip_sql_comments(std::string_view sql);

// The leading number of a migration name ("0001_init" -> 1); -1 if none.
int migration_version(std::string_view name);

}  // namespace iotd::storage::detail
