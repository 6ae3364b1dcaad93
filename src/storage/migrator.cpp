// Schema migrations (docs/architecture.md §10): numbered SQL files per dialect, compiled into
// the binary, applied at start-up and by `iotd migrate`, each in its own transaction under a
// lock.
//
// Locking. SQLite: every migration runs in a BEGIN IMMEDIATE transaction (the database
// write lock) that first re-reads schema_migrations, so concurrent migrators serialise and
// the later ones find nothing to do. PostgreSQL: pg_advisory_lock around the whole loop,
// each migration in a transaction (DDL is transactional). MySQL/MariaDB: GET_LOCK around
// the loop; DDL commits implicitly, so a migration that fails halfway must be written to be
// re-runnable (IF NOT EXISTS) and is recorded only after its last statement.
#include <soci/soci.h>

#include <algorithm>
#include <map>
#include <set>
#include <stdexcept>
#include <string>

#include "dialect.hpp"
#include "iotd/core/time.hpp"
#include "iotd/storage/database.hpp"
#include "iotd/storage/migrations_data.hpp"

namespace iotd::storage {
namespace {

constexpr std::string_view kCreateSchemaMigrations =
    "CREATE TABLE IF NOT EXISTS schema_migrations ("
    "version INTEGER PRIMARY KEY, name VARCHAR(255) NOT NULL, applied_at BIGINT NOT NULL)";

struct Migration {
  int version;
  std::string_view name;
  std::string_view sql;
};

std::vector<Migration> known_migrations(const std::string& dialect) {
  std::map<int, Migration> by_version;
  for (const auto& m : embedded_migrations()) {
    if (m.dialect != dialect) continue;
    int v = detail::migration_version(m.name);
    if (v <= 0)
      throw std::logic_error("migration '" + std::string(m.name) + "' has no leading version number");
    if (!by_version.emplace(v, Migration{v, m.name, m.sql}).second)
      throw std::logic_error("two " + dialect + " migrations with version " + std::to_string(v));
  }
  std::vector<Migration> out;
  for (auto& [_, m] : by_version) out.push_back(m);
  return out;
}

std::set<int> recorded_versions(soci::session& s) {
  std::vector<int> versions(256);
  std::set<int> out;
  soci::statement st = (s.prepare << "SELECT version FROM schema_migrations ORDER BY version",
                        soci::into(versions));
  st.execute();
  while (st.fetch())
    for (int v : versions) out.insert(v);
  return out;
}

void rollback_quietly(soci::session& s, const detail::SqlDialect& d) noexcept {
  try {
    s << d.rollback;
  } catch (...) {
  }
}

// Blocks until this session holds the migration lock; throws after a minute.
void take_lock(soci::session& s, const detail::SqlDialect& d) {
  if (d.kind == detail::Dialect::mysql) {
    int got = 0;
    soci::indicator ind = soci::i_null;
    s << d.migration_lock, soci::into(got, ind);
    if (ind != soci::i_ok || got != 1)
      throw std::runtime_error("timed out waiting for the migration lock (another iotd migrating?)");
    return;
  }
  if (d.kind == detail::Dialect::postgresql) {
    s << "SET client_min_messages = warning";  // no "already exists, skipping" notices
    s << "SET lock_timeout = '60s'";
  }
  s << d.migration_lock;
}

}  // namespace

MigrationReport migrate(const ConnectionSpec& spec) { return migrate(spec, 0); }

MigrationReport migrate(const ConnectionSpec& spec, int up_to) {
  const auto& d = detail::sql_dialect(detail::dialect_of(spec));
  auto migrations = known_migrations(spec.dialect);
  if (migrations.empty())
    throw std::runtime_error("this iotd has no " + spec.dialect + " migrations (" + spec.display +
                             "): that database is not supported yet");
  MigrationReport report;
  report.latest_known = migrations.back().version;
  // Upgrade tests build an old schema: the migrations after `up_to` are left out.
  if (up_to > 0)
    std::erase_if(migrations, [&](const Migration& m) { return m.version > up_to; });

  auto session = detail::open_session(spec);
  soci::session& s = *session;
  try {
    // The lock comes first: concurrent CREATE TABLE IF NOT EXISTS can fail on PostgreSQL.
    if (!d.migration_lock.empty()) take_lock(s, d);
    try {
      s << kCreateSchemaMigrations;
      for (;;) {
        s << d.begin_write;
        try {
          const std::set<int> recorded = recorded_versions(s);
          const int current = recorded.empty() ? 0 : *recorded.rbegin();
          if (current > report.latest_known)
            throw std::runtime_error("database schema version " + std::to_string(current) +
                                     " is newer than this iotd (knows up to " +
                                     std::to_string(report.latest_known) + "): upgrade iotd");
          auto next = std::find_if(migrations.begin(), migrations.end(),
                                   [&](const Migration& m) { return !recorded.contains(m.version); });
          if (next == migrations.end()) {
            s << d.commit;
            report.current = current;
            break;
          }
          for (const auto& stmt : detail::split_statements(next->sql)) {
            try {
              s << detail::strip_sql_comments(stmt);
            } catch (const soci::soci_error& e) {
              throw std::runtime_error("migration " + std::string(next->name) + " failed: " + e.what());
            }
          }
          int version = next->version;
          std::string name(next->name);
          long long now = time::now_ms();
          s << "INSERT INTO schema_migrations(version, name, applied_at) VALUES(:v, :n, :t)",
              soci::use(version), soci::use(name), soci::use(now);
          s << d.commit;
          ++report.applied;
        } catch (...) {
          rollback_quietly(s, d);
          throw;
        }
      }
    } catch (...) {
      if (!d.migration_unlock.empty()) {
        try {
          s << d.migration_unlock;
        } catch (...) {
        }
      }
      throw;
    }
    if (!d.migration_unlock.empty()) s << d.migration_unlock;
  } catch (const soci::soci_error& e) {
    throw std::runtime_error("cannot migrate " + spec.display + ": " + e.what());
  }
  return report;
}

}  // namespace iotd::storage
