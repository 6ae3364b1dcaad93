#include <gtest/gtest.h>
#include <soci/soci.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <map>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include "../../../src/storage/dialect.hpp"
#include "iotd/storage/database.hpp"
#include "iotd/storage/migrations_data.hpp"
#include "storage_test_support.hpp"
#include "support/temp_dir.hpp"

namespace iotd::storage {
namespace {

using testing::count_rows;
using testing::TestDatabase;

class Migrate : public ::testing::TestWithParam<std::string> {};

TEST_P(Migrate, SecondRunIsANoOp) {
  TestDatabase db(GetParam(), /*run_migrations=*/false);
  auto first = migrate(db.spec());
  EXPECT_GE(first.applied, 1);
  EXPECT_EQ(first.current, first.latest_known);
  auto second = migrate(db.spec());
  EXPECT_EQ(second.applied, 0);
  EXPECT_EQ(second.current, first.current);
  auto s = db.raw();
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM schema_migrations"), first.applied);
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM rules"), 5);  // seeds not inserted twice
}

TEST_P(Migrate, NewerSchemaStopsStartUp) {
  TestDatabase db(GetParam());
  auto s = db.raw();
  *s << "INSERT INTO schema_migrations(version, name, applied_at) VALUES(9999, '9999_future', 0)";
  try {
    migrate(db.spec());
    FAIL() << "migrate accepted a newer schema";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("database schema version 9999 is newer than this iotd"),
              std::string::npos)
        << e.what();
    EXPECT_NE(std::string(e.what()).find("upgrade iotd"), std::string::npos);
  }
}

TEST_P(Migrate, ConcurrentMigratorsAllSucceedAndApplyOnce) {
  TestDatabase db(GetParam(), /*run_migrations=*/false);
  std::atomic<int> applied{0}, failures{0};
  {
    std::vector<std::jthread> threads;
    for (int i = 0; i < 4; ++i)
      threads.emplace_back([&] {
        try {
          applied += migrate(db.spec()).applied;
        } catch (const std::exception& e) {
          ADD_FAILURE() << e.what();
          ++failures;
        }
      });
  }
  EXPECT_EQ(failures, 0);
  auto s = db.raw();
  EXPECT_EQ(applied, count_rows(*s, "SELECT COUNT(*) FROM schema_migrations"));
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM rules"), 5);
}

TEST_P(Migrate, SeedRulesArePresent) {
  TestDatabase db(GetParam());
  auto repo = make_repository(db.spec(), 1);
  auto rules = repo->rules();
  ASSERT_EQ(rules.size(), 5u);
  struct Want { const char* metric; double min, max; };
  for (auto w : {Want{"current", 0, 10}, Want{"humidity", 10, 90}, Want{"pressure", 900, 1100},
                 Want{"temperature", 0, 50}, Want{"voltage", 200, 240}}) {
    auto it = std::find_if(rules.begin(), rules.end(), [&](const Rule& r) { return r.metric == w.metric; });
    ASSERT_NE(it, rules.end()) << w.metric;
    EXPECT_EQ(it->scope, "global");
    EXPECT_EQ(it->scope_value, "");
    EXPECT_EQ(it->min, w.min);
    EXPECT_EQ(it->max, w.max);
    EXPECT_EQ(it->severity, "warning");
    EXPECT_EQ(it->hysteresis, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Backends, Migrate, ::testing::ValuesIn(testing::test_backends()),
                         testing::backend_name);

TEST(MigrateSqlite, ConcurrentProcessesAllSucceed) {
  iotd::test::TempDir dir;
  auto spec = parse_database_url("sqlite:///" + (dir / "iotd.db").string());
  std::vector<pid_t> children;
  for (int i = 0; i < 3; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        migrate(spec);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child migrate failed: %s\n", e.what());
        rc = 1;
      }
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  soci::session s(spec.backend, spec.connect_string);
  EXPECT_EQ(count_rows(s, "SELECT COUNT(*) FROM rules"), 5);
  auto report = migrate(spec);
  EXPECT_EQ(report.applied, 0);
  EXPECT_EQ(count_rows(s, "SELECT COUNT(*) FROM schema_migrations"), report.current);
}

TEST(MigrateSqlite, CreatesParentDirectoriesAndUsesWal) {
  iotd::test::TempDir dir;
  auto spec = parse_database_url("sqlite:///" + (dir / "a/b/iotd.db").string());
  migrate(spec);
  EXPECT_TRUE(std::filesystem::exists(dir / "a/b/iotd.db"));
  soci::session s(spec.backend, spec.connect_string);
  std::string mode;
  s << "PRAGMA journal_mode", soci::into(mode);
  EXPECT_EQ(mode, "wal");
}

TEST(MigrateSqlite, UnopenableDatabaseNamesIt) {
  auto spec = parse_database_url("sqlite:////proc/iotd-nope/iotd.db");
  try {
    migrate(spec);
    FAIL();
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("sqlite:/proc/iotd-nope/iotd.db"), std::string::npos) << e.what();
  }
}

// Two processes at once (the migration lock is per database, not per process).
TEST_P(Migrate, ConcurrentProcessesAllSucceedAndApplyOnce) {
  TestDatabase db(GetParam(), /*run_migrations=*/false);
  const ConnectionSpec spec = db.spec();
  std::vector<pid_t> children;
  for (int i = 0; i < 2; ++i) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      int rc = 0;
      try {
        migrate(spec);
      } catch (const std::exception& e) {
        std::fprintf(stderr, "child migrate failed: %s\n", e.what());
        rc = 1;
      }
      ::_exit(rc);
    }
    children.push_back(pid);
  }
  for (pid_t pid : children) {
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
  auto s = db.raw();
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM rules"), 5);
  auto report = migrate(spec);
  EXPECT_EQ(report.applied, 0);
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM schema_migrations"), report.current);
}

// A MySQL migration that failed halfway (DDL commits implicitly) is simply run again.
TEST_P(Migrate, StatementsOfTheLatestMigrationCanRunTwice) {
  TestDatabase db(GetParam());
  if (db.spec().dialect != "mysql") return;  // DDL is transactional: a failure rolls back
  auto s = db.raw();
  for (const auto& m : embedded_migrations()) {
    if (m.dialect != "mysql") continue;
    for (const auto& stmt : detail::split_statements(m.sql)) {
      EXPECT_NO_THROW(*s << detail::strip_sql_comments(stmt)) << stmt;
    }
  }
  EXPECT_EQ(count_rows(*s, "SELECT COUNT(*) FROM rules"), 5);
}

// Every dialect has the same numbered migrations (one schema, three spellings).
TEST(Migrations, EveryDialectHasTheSameNumberedMigrations) {
  std::map<std::string, std::vector<int>> versions;
  for (const auto& m : embedded_migrations()) {
    auto& v = versions[std::string(m.dialect)];
    int n = detail::migration_version(m.name);
    EXPECT_GT(n, v.empty() ? 0 : v.back()) << m.dialect << "/" << m.name;
    v.push_back(n);
    EXPECT_FALSE(detail::split_statements(m.sql).empty()) << m.name;
  }
  ASSERT_EQ(versions.size(), 3u);
  EXPECT_GE(versions["sqlite"].size(), 1u);
  EXPECT_EQ(versions["postgresql"], versions["sqlite"]);
  EXPECT_EQ(versions["mysql"], versions["sqlite"]);
}

TEST(Migrations, StripSqlCommentsKeepsLiterals) {
  EXPECT_EQ(detail::strip_sql_comments("-- a: 'b\nSELECT 'x -- y', 1 -- z: w\n\n-- t\nFROM t"),
            "SELECT 'x -- y', 1 \nFROM t");
  EXPECT_EQ(detail::strip_sql_comments("INSERT INTO r VALUES('it''s', '')"),
            "INSERT INTO r VALUES('it''s', '')");
}

TEST(Migrations, SplitStatementsOnMarkerLines) {
  auto parts = detail::split_statements(
      "-- header comment\nCREATE TABLE a(x)\n-- statement\n\n  -- Statement  \n"
      "-- only a comment\n-- statement\nINSERT INTO a VALUES(1);\n-- statement\n");
  ASSERT_EQ(parts.size(), 2u);
  EXPECT_EQ(parts[0], "-- header comment\nCREATE TABLE a(x)");
  EXPECT_EQ(parts[1], "INSERT INTO a VALUES(1);");
  EXPECT_EQ(detail::migration_version("0001_init"), 1);
  EXPECT_EQ(detail::migration_version("0012_more"), 12);
  EXPECT_EQ(detail::migration_version("init"), -1);
}

}  // namespace
}  // namespace iotd::storage
