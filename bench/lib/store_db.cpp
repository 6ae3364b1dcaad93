#include "lib/store_db.hpp"

#include <soci/soci.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <stdexcept>
#include <string_view>
#include <system_error>

#include "iotd/core/text.hpp"
#include "iotd/storage/migrations_data.hpp"

namespace iotd::bench {
namespace {

using text::lower;

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Table names created by the dialect's migrations ("CREATE TABLE [IF NOT EXISTS] name"),
// in creation order. Identifiers come from the binary's own SQL, never from input.
std::vector<std::string> iotd_tables(const std::string& dialect) {
  std::vector<std::string> out;
  for (const auto& m : storage::embedded_migrations()) {
    if (m.dialect != dialect) continue;
    const std::string sql = lower(m.sql);
    for (std::size_t at = sql.find("create table"); at != std::string::npos;
         at = sql.find("create table", at + 1)) {
      // Skip mentions inside comments: the statement must start its line.
      const std::size_t line_start = sql.rfind('\n', at);
      const std::string_view before(sql.data() + (line_start == std::string::npos ? 0 : line_start + 1),
                                    at - (line_start == std::string::npos ? 0 : line_start + 1));
      if (before.find_first_not_of(" \t") != std::string_view::npos) continue;
      std::size_t p = at + std::string_view("create table").size();
      auto skip_space = [&] {
        while (p < sql.size() && std::isspace(static_cast<unsigned char>(sql[p]))) ++p;
      };
      skip_space();
      if (sql.compare(p, 13, "if not exists") == 0) {
        p += 13;
        skip_space();
      }
      std::size_t end = p;
      while (end < sql.size() && is_ident_char(sql[end])) ++end;
      if (end == p) continue;
      std::string name = sql.substr(p, end - p);
      if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    }
  }
  return out;
}

void remove_sqlite_files(const storage::ConnectionSpec& spec) {
  if (spec.sqlite_path.empty() || spec.sqlite_path == ":memory:")
    throw std::runtime_error("the store benchmark needs a database file, not " + spec.display);
  for (const char* suffix : {"", "-wal", "-shm", "-journal"}) {
    std::error_code ec;
    std::filesystem::remove(spec.sqlite_path + suffix, ec);
    if (ec)
      throw std::runtime_error("cannot remove " + spec.sqlite_path + suffix + ": " + ec.message());
  }
}

}  // namespace

std::unique_ptr<soci::session> open_plain_session(const storage::ConnectionSpec& spec) {
  auto s = std::make_unique<soci::session>();
  try {
    if (spec.backend == "mysql" && spec.connect_string.find("charset=") == std::string::npos)
      s->open(spec.backend, spec.connect_string + " charset=utf8mb4");
    else
      s->open(spec.backend, spec.connect_string);
    if (spec.backend == "sqlite3") {
      *s << "PRAGMA busy_timeout = " + std::to_string(spec.busy_timeout_ms);
      *s << "PRAGMA journal_mode = WAL";
      *s << "PRAGMA synchronous = NORMAL";
    }
  } catch (const soci::soci_error& e) {
    throw std::runtime_error("cannot open database " + spec.display + ": " + e.what());
  }
  return s;
}

void fresh_schema(const storage::ConnectionSpec& spec) {
  if (spec.dialect == "sqlite") {
    remove_sqlite_files(spec);
  } else {
    auto s = open_plain_session(spec);
    std::vector<std::string> tables = iotd_tables(spec.dialect);
    tables.push_back("schema_migrations");
    try {
      if (spec.dialect == "postgresql") *s << "SET client_min_messages = warning";  // no "does not exist" notices
      for (auto it = tables.rbegin(); it != tables.rend(); ++it) *s << "DROP TABLE IF EXISTS " + *it;
    } catch (const soci::soci_error& e) {
      throw std::runtime_error("cannot drop iotd's tables in " + spec.display + ": " + e.what());
    }
  }
  storage::migrate(spec);
}

std::vector<std::pair<std::string, std::string>> server_settings(const storage::ConnectionSpec& spec) {
  auto s = open_plain_session(spec);
  std::vector<std::pair<std::string, std::string>> out;
  auto query = [&](const std::string& name, const std::string& sql) {
    std::string v;
    soci::indicator ind = soci::i_null;
    try {
      *s << sql, soci::into(v, ind);
    } catch (const std::exception& e) {
      v = std::string("? (") + e.what() + ")";
    }
    out.emplace_back(name, ind == soci::i_ok ? v : v.empty() ? "NULL" : v);
  };
  if (spec.dialect == "sqlite") {
    query("sqlite_version", "SELECT sqlite_version()");
    query("journal_mode", "PRAGMA journal_mode");
    // synchronous is per connection: iotd's writer and this tool both set NORMAL (1).
    long long sync = -1;
    *s << "PRAGMA synchronous", soci::into(sync);
    out.emplace_back("synchronous", sync == 1 ? "NORMAL" : sync == 2 ? "FULL" : std::to_string(sync));
  } else if (spec.dialect == "postgresql") {
    query("server_version", "SHOW server_version");
    for (const char* name : {"fsync", "synchronous_commit", "full_page_writes", "wal_level",
                             "wal_sync_method", "shared_buffers", "max_wal_size", "commit_delay"})
      query(name, std::string("SHOW ") + name);
  } else {
    query("version", "SELECT @@version");
    for (const char* name : {"innodb_flush_log_at_trx_commit", "sync_binlog", "log_bin",
                             "innodb_buffer_pool_size", "innodb_doublewrite"})
      query(name, std::string("SELECT CAST(@@") + name + " AS CHAR)");
  }
  return out;
}

std::int64_t count_rows(const storage::ConnectionSpec& spec, const std::string& table) {
  auto s = open_plain_session(spec);
  long long n = 0;
  try {
    *s << "SELECT COUNT(*) FROM " + table, soci::into(n);
  } catch (const soci::soci_error& e) {
    throw std::runtime_error("cannot count " + table + " in " + spec.display + ": " + e.what());
  }
  return n;
}

}  // namespace iotd::bench
