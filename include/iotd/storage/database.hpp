// Database URLs, migrations and the factories for the read repository and the writer's
// store. Start-up code: these throw std::runtime_error with a message a user can act on
// (naming host and port, never the password).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "iotd/storage/repository.hpp"
#include "iotd/storage/store.hpp"

namespace iotd::storage {

struct ConnectionSpec {
  std::string backend;         // SOCI backend name: sqlite3 | postgresql | mysql
  std::string dialect;         // migrations dir: sqlite | postgresql | mysql
  std::string connect_string;  // SOCI connect string (may hold the password)
  std::string display;         // safe to log: "sqlite:data/iotd.db", "postgresql://u@h:5432/db"
  std::string sqlite_path;     // for sqlite: the file (parent dirs are created)
  int busy_timeout_ms = 5000;  // sqlite: how long a session waits for a lock (?timeout=seconds)
};

// sqlite:///rel.db (relative), sqlite:////abs.db (absolute), sqlite://PATH, a bare path;
// postgresql://user:pass@host:port/db, postgres://…, mysql://…, mariadb://…; "+driver"
// suffixes (SQLAlchemy forms) are stripped; passwords are percent-decoded.
// Throws std::invalid_argument naming what is wrong.
ConnectionSpec parse_database_url(std::string_view url);

struct MigrationReport {
  int applied = 0;      // migrations applied by this call
  int current = 0;      // highest version now recorded
  int latest_known = 0; // highest version compiled into the binary
};

// Applies pending migrations under a lock, each recorded in schema_migrations.
// Throws if the database holds a newer schema than this binary knows.
MigrationReport migrate(const ConnectionSpec& spec);
// Only the migrations up to version `up_to` (0: all): an older schema, for upgrade tests.
MigrationReport migrate(const ConnectionSpec& spec, int up_to);

std::unique_ptr<Repository> make_repository(const ConnectionSpec& spec, int pool_size);
std::unique_ptr<WriteStore> make_write_store(const ConnectionSpec& spec);

}  // namespace iotd::storage
