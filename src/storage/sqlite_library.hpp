// Private to src/storage. SQLite's process-wide settings, applied once before the first
// SQLite connection opens (sqlite3_config() is refused after sqlite3_initialize()). SOCI
// loads libsqlite3 with its SQLite backend at run time; this opens the same library
// (libsqlite3.so.0) and leaves it loaded.
//
// Debian's libsqlite3 is built thread-safe in "serialized" mode, with memory statistics on
// and without lookaside: every sqlite3_malloc()/free() then takes a global mutex, and every
// bind, step and column call takes the connection's. iotd never uses one connection from
// two threads at once (the writer, the checkpointer and every pooled read session each
// belong to one thread at a time, handed over under a lock), so it sets:
//   SQLITE_CONFIG_MULTITHREAD    no mutex per connection and statement;
//   SQLITE_CONFIG_MEMSTATUS = 0  no global mutex and counters around each allocation.
// Measured (BENCHMARKS.md, issue 14): pthread_mutex_lock/unlock were 13 % of iotd's samples
// at full-speed ingest over 10,000 devices.
#pragma once

namespace iotd::storage::detail {

struct SqliteLibraryConfig {
  bool multithread = false;  // SQLITE_CONFIG_MULTITHREAD accepted
  bool memstatus_off = false;  // SQLITE_CONFIG_MEMSTATUS 0 accepted
};

// Idempotent and thread-safe; never throws. A library that cannot be opened, or that was
// already initialised by someone else, keeps its defaults (the result says which took).
const SqliteLibraryConfig& configure_sqlite_library() noexcept;

}  // namespace iotd::storage::detail
