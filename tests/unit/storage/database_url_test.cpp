#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "iotd/storage/database.hpp"

namespace iotd::storage {
namespace {

std::string error_of(const std::string& url) {
  try {
    parse_database_url(url);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(ParseDatabaseUrl, DefaultSqliteUrlIsRelative) {
  auto s = parse_database_url("sqlite:///data/iotd.db");
  EXPECT_EQ(s.backend, "sqlite3");
  EXPECT_EQ(s.dialect, "sqlite");
  EXPECT_EQ(s.sqlite_path, "data/iotd.db");
  EXPECT_EQ(s.connect_string, "db=data/iotd.db timeout=5");
  EXPECT_EQ(s.display, "sqlite:data/iotd.db");
  EXPECT_EQ(s.busy_timeout_ms, 5000);
}

TEST(ParseDatabaseUrl, FourSlashesMeanAbsolutePath) {
  EXPECT_EQ(parse_database_url("sqlite:////var/lib/iotd/iotd.db").sqlite_path, "/var/lib/iotd/iotd.db");
}

TEST(ParseDatabaseUrl, SqliteShortFormsAndBarePaths) {
  EXPECT_EQ(parse_database_url("sqlite://rel/x.db").sqlite_path, "rel/x.db");
  EXPECT_EQ(parse_database_url("sqlite:x.db").sqlite_path, "x.db");
  EXPECT_EQ(parse_database_url("data/iotd.db").sqlite_path, "data/iotd.db");
  EXPECT_EQ(parse_database_url("/abs/iotd.db").sqlite_path, "/abs/iotd.db");
  EXPECT_EQ(parse_database_url("  sqlite:///sensors.db \n").sqlite_path, "sensors.db");
}

TEST(ParseDatabaseUrl, DriverSuffixIsStripped) {
  EXPECT_EQ(parse_database_url("sqlite+aiosqlite:///./dev.db").sqlite_path, "./dev.db");
  auto pg = parse_database_url("postgresql+asyncpg://user:pass@host/db");
  EXPECT_EQ(pg.backend, "postgresql");
  EXPECT_EQ(pg.display, "postgresql://user@host:5432/db");
  auto my = parse_database_url("mysql+pymysql://user:password@localhost:3306/autoforge");
  EXPECT_EQ(my.backend, "mysql");
  EXPECT_EQ(my.dialect, "mysql");
  EXPECT_EQ(my.connect_string,
            "host='localhost' port=3306 db='autoforge' user='user' password='password' connect_timeout=10");
}

TEST(ParseDatabaseUrl, SqlitePathWithSpacesIsQuotedForSoci) {
  auto s = parse_database_url("sqlite:////tmp/my data/iotd.db");
  EXPECT_EQ(s.connect_string, "db=\"/tmp/my data/iotd.db\" timeout=5");
}

TEST(ParseDatabaseUrl, SqliteTimeoutOption) {
  auto s = parse_database_url("sqlite:///x.db?timeout=0.25&check_same_thread=False");
  EXPECT_EQ(s.busy_timeout_ms, 250);
  EXPECT_EQ(s.sqlite_path, "x.db");
  EXPECT_NE(error_of("sqlite:///x.db?mode=ro").find("unsupported sqlite option 'mode'"),
            std::string::npos);
  EXPECT_NE(error_of("sqlite:///x.db?timeout=abc").find("timeout"), std::string::npos);
}

TEST(ParseDatabaseUrl, PostgresqlFullForm) {
  auto s = parse_database_url("postgresql://iot:s3cret@db.example:6543/telemetry");
  EXPECT_EQ(s.backend, "postgresql");
  EXPECT_EQ(s.dialect, "postgresql");
  EXPECT_EQ(s.connect_string,
            "host='db.example' port=6543 dbname='telemetry' user='iot' password='s3cret' connect_timeout=10");
  EXPECT_EQ(s.display, "postgresql://iot@db.example:6543/telemetry");
  EXPECT_TRUE(s.sqlite_path.empty());
}

TEST(ParseDatabaseUrl, PostgresAliasesDefaultPortAndQueryOptions) {
  auto s = parse_database_url("postgres://u@h/d?sslmode=require&connect_timeout=3");
  EXPECT_EQ(s.connect_string,
            "host='h' port=5432 dbname='d' user='u' sslmode='require' connect_timeout='3'");
  EXPECT_EQ(parse_database_url("mariadb://u:p@h/d").display, "mysql://u@h:3306/d");
}

TEST(ParseDatabaseUrl, ConnectTimeoutDefaultsToTenSecondsUnlessTheUrlSetsIt) {
  // A database host that drops packets must not hold start-up or a reconnect for minutes.
  EXPECT_NE(parse_database_url("postgresql://u@h/d").connect_string.find(" connect_timeout=10"),
            std::string::npos);
  EXPECT_NE(parse_database_url("mysql://u@h/d").connect_string.find(" connect_timeout=10"),
            std::string::npos);
  const auto own = parse_database_url("mysql://u@h/d?connect_timeout=2").connect_string;
  EXPECT_NE(own.find("connect_timeout='2'"), std::string::npos) << own;
  EXPECT_EQ(own.find("connect_timeout=10"), std::string::npos) << own;
  EXPECT_EQ(parse_database_url("sqlite:///x.db").connect_string.find("connect_timeout"),
            std::string::npos);
}

TEST(ParseDatabaseUrl, PasswordIsPercentDecodedAndQuoted) {
  auto s = parse_database_url("postgresql://app:p%40ss%3Aw%27rd%20x@127.0.0.1:5432/app%2Ddb");
  EXPECT_EQ(s.connect_string,
            "host='127.0.0.1' port=5432 dbname='app-db' user='app' password='p@ss:w\\'rd x' connect_timeout=10");
}

TEST(ParseDatabaseUrl, DisplayNeverContainsThePassword) {
  for (const char* url : {"postgresql://app:topsecret@h:1/d", "mysql://app:topsecret@h/d",
                          "postgresql://app:top%73ecret@h/d"}) {
    auto s = parse_database_url(url);
    EXPECT_EQ(s.display.find("topsecret"), std::string::npos) << url;
    EXPECT_EQ(s.display.find("top%73ecret"), std::string::npos) << url;
  }
}

TEST(ParseDatabaseUrl, Ipv6Host) {
  auto s = parse_database_url("postgresql://u:p@[::1]:5433/d");
  EXPECT_EQ(s.connect_string, "host='::1' port=5433 dbname='d' user='u' password='p' connect_timeout=10");
  EXPECT_EQ(s.display, "postgresql://u@[::1]:5433/d");
}

TEST(ParseDatabaseUrl, Errors) {
  EXPECT_EQ(error_of("redis://h/0"),
            "IOTD_DATABASE_URL: unsupported scheme 'redis' (use sqlite, postgresql or mysql)");
  EXPECT_NE(error_of("postgresql://user:pw@/db").find("missing host"), std::string::npos);
  EXPECT_NE(error_of("postgresql:///db").find("missing host"), std::string::npos);
  EXPECT_NE(error_of("postgresql://u@h:99999/db").find("invalid port '99999'"), std::string::npos);
  EXPECT_NE(error_of("postgresql://u@h:x/db").find("invalid port"), std::string::npos);
  EXPECT_NE(error_of("mysql://u@h").find("missing database name"), std::string::npos);
  EXPECT_NE(error_of("mysql://u@h/d?ssl_ca=x").find("unsupported mysql option"), std::string::npos);
  EXPECT_NE(error_of("postgresql://u:p%zz@h/d").find("percent-encoding"), std::string::npos);
  EXPECT_NE(error_of("sqlite://").find("no file path"), std::string::npos);
  EXPECT_NE(error_of("sqlite:///:memory:").find("in-memory"), std::string::npos);
  EXPECT_NE(error_of("").find("empty"), std::string::npos);
  // The password never shows up in an error either.
  EXPECT_EQ(error_of("postgresql://u:hunter2@h:0/d").find("hunter2"), std::string::npos);
}

}  // namespace
}  // namespace iotd::storage
