// Database chores of the store benchmark (bench/store.cpp): a fresh iotd schema on the
// benchmark database, a plain SOCI session with the settings iotd itself uses, the server
// settings that decide the numbers (fsync, synchronous_commit, …), and row counts.
// Start-up style errors: everything throws std::runtime_error naming the database.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "iotd/storage/database.hpp"

namespace soci {
class session;
}

namespace iotd::bench {

// Wipes iotd's tables from the database (SQLite: deletes the file and its -wal/-shm;
// PostgreSQL/MySQL: DROP TABLE of every table iotd's migrations create, and
// schema_migrations), then applies the migrations as `iotd migrate` does.
void fresh_schema(const storage::ConnectionSpec& spec);

// A session opened by backend name, as iotd opens its own (SQLite: WAL, synchronous=NORMAL,
// busy timeout; MySQL: utf8mb4).
std::unique_ptr<soci::session> open_plain_session(const storage::ConnectionSpec& spec);

// name -> value of the settings that decide write throughput, and the server version.
std::vector<std::pair<std::string, std::string>> server_settings(const storage::ConnectionSpec& spec);

std::int64_t count_rows(const storage::ConnectionSpec& spec, const std::string& table);

}  // namespace iotd::bench
