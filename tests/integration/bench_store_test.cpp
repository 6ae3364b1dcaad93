// The store benchmark (bench/store.cpp) run as the real iotd-bench-store binary: its JSON
// reports parse, the writer's drain and the raw insert reference store exactly the requested
// messages — the same rows — and a bad --db fails with a message. No timing asserts.
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "support/process.hpp"
#include "support/services.hpp"
#include "support/temp_dir.hpp"

namespace iotd::test {
namespace {

using namespace std::chrono_literals;

struct BenchRun {
  int exit_code = -1;
  std::string log;  // stdout + stderr
  nlohmann::json report;  // the JSON line, null if none parsed
};

BenchRun bench_store(const TempDir& dir, std::vector<std::string> args) {
#ifndef IOTD_BENCH_STORE
  throw std::runtime_error("built without IOTD_BENCH_STORE (configure with IOTD_BUILD_BENCH=ON)");
#else
  static int n = 0;
  const auto log = dir / ("bench-store-" + std::to_string(++n) + ".log");
  args.insert(args.begin(), IOTD_BENCH_STORE);
  BenchRun r;
  r.exit_code = Process::exit_code(run_process(args, {.env = {}, .cwd = dir.path(), .log_file = log}, 300s));
  std::ifstream in(log);
  r.log.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::istringstream lines(r.log);
  for (std::string line; std::getline(lines, line);)
    if (line.starts_with("{\"bench\""))
      r.report = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
  return r;
#endif
}

std::int64_t count(soci::session& s, const std::string& table) {
  long long n = -1;
  s << "SELECT COUNT(*) FROM " + table, soci::into(n);
  return n;
}

using Row = std::tuple<long long, long long, long long, long long, std::string, std::string>;

// Every messages row as (device_pk, ts, received_at, dedup_key, metrics, extra), ordered.
std::vector<Row> message_rows(soci::session& s) {
  std::vector<Row> out;
  long long pk = 0, ts = 0, received_at = 0, key = 0;
  std::string metrics, extra;
  soci::indicator key_ind, extra_ind;
  soci::statement st = (s.prepare << "SELECT device_pk, ts, received_at, dedup_key, metrics, extra "
                                     "FROM messages ORDER BY device_pk, ts",
                        soci::into(pk), soci::into(ts), soci::into(received_at), soci::into(key, key_ind),
                        soci::into(metrics), soci::into(extra, extra_ind));
  st.execute();
  while (st.fetch())
    out.emplace_back(pk, ts, received_at, key_ind == soci::i_ok ? key : 0, metrics,
                     extra_ind == soci::i_ok ? extra : "");
  return out;
}

const std::vector<std::string> kWorkload{"--messages", "2000", "--devices", "20", "--metrics", "5",
                                         "--batch", "500", "--base-ms", "1767225600000", "--json"};

std::vector<std::string> args(std::string mode, std::string db) {
  std::vector<std::string> a{std::move(mode), "--db", std::move(db)};
  a.insert(a.end(), kWorkload.begin(), kWorkload.end());
  return a;
}

TEST(BenchStore, SqliteDrainAndInsertStoreTheSameTwoThousandMessages) {
  TempDir dir;
  const auto drain_db = dir / "drain.db", insert_db = dir / "insert.db";

  const BenchRun drain = bench_store(dir, args("drain", "sqlite:///" + drain_db.string()));
  ASSERT_EQ(drain.exit_code, 0) << drain.log;
  ASSERT_TRUE(drain.report.is_object()) << drain.log;
  EXPECT_EQ(drain.report["mode"], "drain");
  EXPECT_EQ(drain.report["backend"], "sqlite");
  ASSERT_EQ(drain.report["runs"].size(), 1u) << drain.log;
  const auto& d = drain.report["runs"][0]["drain"];
  EXPECT_EQ(d["stored_messages"], 2000) << drain.log;
  EXPECT_EQ(d["readings"], 10000);
  EXPECT_GT(d["messages_per_s"].get<double>(), 0);
  EXPECT_GE(d["commits"].get<int>(), 4);  // 2000 frames, batches of at most 500
  EXPECT_EQ(d["rejects"], 0);
  EXPECT_TRUE(drain.report["median"].contains("drain_messages_per_s"));

  const BenchRun insert = bench_store(dir, args("insert", "sqlite:///" + insert_db.string()));
  ASSERT_EQ(insert.exit_code, 0) << insert.log;
  ASSERT_TRUE(insert.report.is_object()) << insert.log;
  const auto& i = insert.report["runs"][0]["insert"];
  EXPECT_EQ(i["messages_table"]["rows"], 2000) << insert.log;
  EXPECT_GT(i["messages_table"]["rows_per_s"].get<double>(), 0);
  EXPECT_EQ(i["all_tables"]["messages"], 2000);
  EXPECT_GT(i["all_tables"]["rollup_rows"].get<int>(), 0);
  EXPECT_EQ(i["all_tables"]["transactions"], 4);

  // Counted in the files themselves; the reference wrote exactly the writer's rows.
  soci::session ds("sqlite3", "db=" + drain_db.string());
  soci::session is("sqlite3", "db=" + insert_db.string());
  EXPECT_EQ(count(ds, "messages"), 2000);
  EXPECT_EQ(count(is, "messages"), 2000);
  const auto drained = message_rows(ds), inserted = message_rows(is);
  ASSERT_EQ(drained.size(), inserted.size());
  EXPECT_TRUE(drained == inserted) << "first drained row: " << std::get<4>(drained.front())
                                   << " " << std::get<5>(drained.front())
                                   << "; first inserted row: " << std::get<4>(inserted.front())
                                   << " " << std::get<5>(inserted.front());
  // The all-tables reference upserted what the writer's commits left behind.
  EXPECT_EQ(count(is, "rollup_1m"), count(ds, "rollup_1m"));
  EXPECT_EQ(count(is, "latest_values"), count(ds, "latest_values"));
}

TEST(BenchStore, BadDatabaseUrlFailsWithAMessage) {
  TempDir dir;
  const BenchRun bad = bench_store(dir, args("drain", "nosuchdb://somewhere/x"));
  EXPECT_NE(bad.exit_code, 0) << bad.log;
  EXPECT_NE(bad.log.find("--db"), std::string::npos) << bad.log;
  EXPECT_TRUE(bad.report.is_null()) << bad.log;

  // Well-formed but nobody listens: a start-up error naming the database.
  const BenchRun down = bench_store(
      dir, args("insert", "postgresql://u:p@127.0.0.1:" + std::to_string(free_tcp_port()) + "/db"));
  EXPECT_NE(down.exit_code, 0) << down.log;
  EXPECT_NE(down.log.find("127.0.0.1"), std::string::npos) << down.log;
  EXPECT_EQ(down.log.find(":p@"), std::string::npos) << "password leaked: " << down.log;

  const BenchRun usage = bench_store(dir, {"drain", "--db", "sqlite:///" + (dir / "x.db").string()});
  EXPECT_EQ(usage.exit_code, 2) << usage.log;
  EXPECT_NE(usage.log.find("--messages"), std::string::npos) << usage.log;
}

TEST(BenchStore, PostgresqlBothRunsInsertThenDrain) {
  if (!find_postgres_bindir()) GTEST_SKIP() << "PostgreSQL is not installed";
  PostgresServer pg;
  TempDir dir;
  const BenchRun both = bench_store(dir, args("both", pg.url()));
  ASSERT_EQ(both.exit_code, 0) << both.log;
  ASSERT_TRUE(both.report.is_object()) << both.log;
  EXPECT_EQ(both.report["backend"], "postgresql");
  EXPECT_EQ(both.report["server"]["fsync"], "off");  // the test cluster's setting, reported
  const auto& run = both.report["runs"][0];
  EXPECT_EQ(run["insert"]["messages_table"]["rows"], 2000) << both.log;
  EXPECT_EQ(run["insert"]["all_tables"]["messages"], 2000);
  EXPECT_EQ(run["drain"]["stored_messages"], 2000);
  EXPECT_GT(run["ratio"].get<double>(), 0);
  EXPECT_TRUE(both.report["median"].contains("ratio"));

  // The drain ran last, on a fresh schema: exactly its messages are in the database.
  soci::session s("postgresql", "host=127.0.0.1 port=" + std::to_string(pg.port()) +
                                    " dbname=iotd user=iotd password=iotd");
  EXPECT_EQ(count(s, "messages"), 2000);
}

// Issue 14's reference: the same messages rows by a raw COPY (libpq on SOCI's connection),
// then the drain; iotd-bench-store itself fails the run unless COPY left exactly N rows.
TEST(BenchStore, PostgresqlCopyLoadsTheRowsThenDrains) {
  if (!find_postgres_bindir()) GTEST_SKIP() << "PostgreSQL is not installed";
  PostgresServer pg;
  TempDir dir;
  const BenchRun copy = bench_store(dir, args("copy", pg.url()));
  ASSERT_EQ(copy.exit_code, 0) << copy.log;
  ASSERT_TRUE(copy.report.is_object()) << copy.log;
  EXPECT_EQ(copy.report["mode"], "copy");
  const auto& run = copy.report["runs"][0];
  EXPECT_EQ(run["copy"]["rows"], 2000) << copy.log;
  EXPECT_EQ(run["copy"]["transactions"], 4);  // batches of 500
  EXPECT_NE(run["copy"]["method"].get<std::string>().find("COPY"), std::string::npos);
  EXPECT_FALSE(run.contains("insert"));
  EXPECT_EQ(run["drain"]["stored_messages"], 2000);
  EXPECT_GT(run["ratio_copy"].get<double>(), 0);
  EXPECT_TRUE(copy.report["median"].contains("ratio_copy"));

  // COPY is PostgreSQL's: on SQLite it is a usage error.
  const BenchRun sqlite = bench_store(dir, args("copy", "sqlite:///" + (dir / "c.db").string()));
  EXPECT_EQ(sqlite.exit_code, 2) << sqlite.log;
  EXPECT_NE(sqlite.log.find("postgresql"), std::string::npos) << sqlite.log;
}

}  // namespace
}  // namespace iotd::test
