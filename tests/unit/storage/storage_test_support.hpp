// Shared by the storage suites: a fresh migrated database per test, on every backend the
// run names. SQLite (a file in a TempDir) always. Server databases:
//  - IOTD_TEST_DATABASE_URLS set: those (comma-separated URLs, e.g.
//    postgresql://u:p@127.0.0.1:5432/db; empty = SQLite only);
//  - otherwise "postgresql" and "mysql": under ctest, the servers of the run's `db_servers`
//    fixture (tests/tools/test_db_servers.cpp; IOTD_TEST_DB_SERVERS names its state file),
//    one of each for every test of the run; without it (the test binary run by hand) a
//    throwaway PostgreSQL / MariaDB server (tests/support/services.hpp) started on first
//    use and shared by the rest of the process. A server not installed is left out with a
//    message, except under CI, where its tests fail.
// The iotd tables of a server database are dropped before each test, so the tests that
// share a server must not run at the same time (ctest RESOURCE_LOCK db_servers).
#pragma once

#include <gtest/gtest.h>
#include <soci/soci.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "iotd/core/reading.hpp"
#include "iotd/storage/database.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::storage::testing {

// A local server for the "postgresql" / "mysql" backends, started once per process.
template <class Server>
inline std::string local_server_url() {
  static std::unique_ptr<Server> server;
  static std::string error;
  if (!server && error.empty()) {
    try {
      server = std::make_unique<Server>();
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  if (!server) throw std::runtime_error("cannot start the test database server: " + error);
  return server->url();
}

inline bool local_server_available(const char* name, bool (*installed)()) {
  try {
    if (installed()) return true;
  } catch (const std::exception&) {
    return true;  // under CI: keep its tests, which then fail on the missing server
  }
  std::fprintf(stderr, "[ NOTE     ] %s is not installed: its storage tests are left out "
                       "(they fail under CI=true)\n", name);
  return false;
}

inline std::vector<std::string> test_backends() {
  std::vector<std::string> out{"sqlite"};
  if (const char* env = std::getenv("IOTD_TEST_DATABASE_URLS")) {
    std::string s = env;
    std::size_t start = 0;
    while (start <= s.size()) {
      auto comma = s.find(',', start);
      std::string url = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
      if (!url.empty()) out.push_back(url);
      if (comma == std::string::npos) break;
      start = comma + 1;
    }
    return out;
  }
  static const bool pg = local_server_available(
      "PostgreSQL", [] { return iotd::test::find_postgres_bindir().has_value(); });
  static const bool my = local_server_available("MariaDB", [] { return iotd::test::mariadb_installed(); });
  if (pg) out.push_back("postgresql");
  if (my) out.push_back("mysql");
  return out;
}

// The URL of the ctest run's shared server for `backend` ("postgresql", "mysql"), from the
// state file IOTD_TEST_DB_SERVERS names; nullopt when the variable is not set.
inline std::optional<std::string> shared_server_url(const std::string& backend) {
  const char* state = std::getenv("IOTD_TEST_DB_SERVERS");
  if (!state || !*state) return std::nullopt;
  std::ifstream in(state);
  std::string name, url;
  std::getline(in, name);  // the PID of the process holding the servers
  while (in >> name >> url)
    if (name == backend) return url;
  throw std::runtime_error(std::string("no shared ") + backend + " server in " + state +
                           " (the ctest fixture db_servers, TestDbServers.Start, failed?)");
}

// A backend name ("sqlite", "postgresql", "mysql") or a URL -> a database URL.
inline std::string backend_url(const std::string& backend) {
  if (backend == "postgresql" || backend == "mysql")
    if (auto url = shared_server_url(backend)) return *url;
  if (backend == "postgresql") return local_server_url<iotd::test::PostgresServer>();
  if (backend == "mysql") return local_server_url<iotd::test::MariaDbServer>();
  return backend;
}

inline std::string backend_name(const ::testing::TestParamInfo<std::string>& info) {
  if (info.param.find(':') == std::string::npos) return info.param;  // sqlite, postgresql, mysql
  std::string scheme = info.param.substr(0, info.param.find(':'));
  std::string out;
  for (char c : scheme) out.push_back(std::isalnum(static_cast<unsigned char>(c)) ? c : '_');
  return out + "_" + std::to_string(info.index);
}

class TestDatabase {
 public:
  explicit TestDatabase(const std::string& backend, bool run_migrations = true) {
    if (backend == "sqlite") {
      dir_.emplace();
      spec_ = parse_database_url("sqlite:///" + (dir_->path() / "iotd.db").string());
    } else {
      spec_ = parse_database_url(backend_url(backend));
      drop_all();
    }
    if (run_migrations) migrate(spec_);
  }

  ConnectionSpec& spec() { return spec_; }
  // A plain session for checks and for playing "another process".
  std::unique_ptr<soci::session> raw() const {
    return std::make_unique<soci::session>(spec_.backend, spec_.connect_string);
  }

 private:
  void drop_all() {
    auto s = raw();
    for (const char* t : {"messages", "devices", "metric_names", "rollup_1m", "latest_values",
                          "rules", "alerts", "rejects", "ingest_checkpoint", "commands", "schema_migrations"})
      *s << std::string("DROP TABLE IF EXISTS ") + t;
  }

  std::optional<iotd::test::TempDir> dir_;
  ConnectionSpec spec_;
};

inline Reading make_reading(std::string device_id, std::int64_t ts,
                            std::vector<std::pair<std::string, double>> metrics,
                            std::optional<std::int64_t> dedup_key = std::nullopt,
                            std::int64_t received_at = 0) {
  Reading r;
  r.device_id = std::move(device_id);
  r.ts_ms = ts;
  r.received_at_ms = received_at ? received_at : ts + 7;
  r.has_device_time = dedup_key.has_value();
  r.dedup_key = dedup_key;
  r.metrics = std::move(metrics);
  std::sort(r.metrics.begin(), r.metrics.end());
  return r;
}

// One committed batch.
inline std::vector<std::optional<std::int64_t>> store_batch(WriteStore& ws,
                                                            const std::vector<Reading>& rs) {
  ws.begin();
  try {
    auto ids = ws.insert_messages(rs);
    ws.commit();
    return ids;
  } catch (...) {
    ws.rollback();
    throw;
  }
}

// Hostile text: array syntax, quoting, escapes, whitespace PostgreSQL would trim outside
// quotes, the word NULL, SQL and JSON syntax, multi-byte UTF-8.
inline std::vector<std::string> adversarial_texts() {
  std::vector<std::string> out = {
      "", " ", "  lead and trail  ", "NULL", "null", "\"NULL\"", "{", "}", "{}", "{NULL}",
      "{\"a\",\"b\"}", ",", ",,", "a,b", "\"", "\"\"", "\\", "\\\\", "\\\"", "\"\\", "\\N",
      "'", "''", "');DROP TABLE messages;--", "$1", ":c0", "::text", "\t\n\r\v\f", "\x01\x1f\x7f",
      "{\"fw\":\"1.2\",\"note\":\"a\\\"b\\\\c\"}", "日本語", "Ünïcödé ✓", "emoji 😀🚀",
      "\xe2\x80\x8b zero-width", "ARRAY[1]", "[1:2]={1,2}", "a b", "a\\,b", "}{", "\"a\"b",
  };
  std::string all;
  for (int c = 1; c < 128; ++c) all.push_back(static_cast<char>(c));
  out.push_back(all);
  for (int c = 1; c < 128; ++c) out.emplace_back(1, static_cast<char>(c));
  // Seeded random mixes of the dangerous characters and multi-byte UTF-8.
  const std::vector<std::string> atoms = {"\"", "\\", ",", "{", "}", " ", "NULL", "a", "é",
                                          "😀", "\n", "'", ":", "$", "[", "]", "="};
  std::mt19937 rng(20240611);
  for (int i = 0; i < 500; ++i) {
    std::string s;
    const int n = static_cast<int>(rng() % 12);
    for (int k = 0; k < n; ++k) s += atoms[rng() % atoms.size()];
    out.push_back(s);
  }
  return out;
}

inline long long count_rows(soci::session& s, const std::string& sql) {
  long long n = 0;
  s << sql, soci::into(n);
  return n;
}

}  // namespace iotd::storage::testing
