// Lost connections (docs/architecture.md §7): the server drops every session of the database
// (as on a restart); the writer's store reopens its session at the retry of the failed batch,
// and the read pool reopens a leased session and retries the query once. Server dialects only.
#include <gtest/gtest.h>
#include <soci/soci.h>

#include <optional>
#include <string>
#include <vector>

#include "iotd/storage/database.hpp"
#include "storage_test_support.hpp"

namespace iotd::storage {
namespace {

using testing::count_rows;
using testing::make_reading;
using testing::store_batch;
using testing::TestDatabase;

constexpr std::int64_t kT0 = 1'767'225'600'000;  // 2026-01-01T00:00:00Z

// Terminates every other client connection to the test database, as a server restart
// would. PostgreSQL: only the test user's client backends; an autovacuum worker on the
// database (likely on the server the whole run shares) belongs to a superuser, and the
// test user may not terminate it.
void drop_other_connections(soci::session& s) {
  if (s.get_backend_name() == "postgresql") {
    long long n = 0;
    s << "SELECT COUNT(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
         "WHERE datname = current_database() AND pid <> pg_backend_pid() "
         "AND backend_type = 'client backend' AND usename = current_user) t",
        soci::into(n);
    return;
  }
  std::vector<long long> ids(100);
  s << "SELECT id FROM information_schema.processlist WHERE id <> CONNECTION_ID() AND db = DATABASE()",
      soci::into(ids);
  for (long long id : ids) s << "KILL CONNECTION " + std::to_string(id);
}

class Reconnect : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    db_.emplace(GetParam());
    raw_ = db_->raw();
  }
  std::optional<TestDatabase> db_;
  std::unique_ptr<soci::session> raw_;
};

TEST_P(Reconnect, WriteStoreReopensItsSessionAtTheRetryOfTheFailedBatch) {
  auto ws = make_write_store(db_->spec());
  store_batch(*ws, {make_reading("dev-a", kT0, {{"temperature", 1}}, 1)});
  drop_other_connections(*raw_);

  // The batch that meets the dead session fails, as transient: the writer backs off and retries.
  bool failed = false;
  try {
    store_batch(*ws, {make_reading("dev-a", kT0 + 1, {{"temperature", 2}}, 2)});
  } catch (const std::exception& e) {
    failed = true;
    EXPECT_TRUE(ws->last_error_transient()) << e.what();
  }
  EXPECT_TRUE(failed);

  // The retry runs on a new session with its statements prepared again; a known device, a new
  // device and a new metric name all resolve (the caches were reloaded from the database).
  auto ids = store_batch(*ws, {make_reading("dev-a", kT0 + 1, {{"temperature", 2}}, 2),
                               make_reading("dev-b", kT0 + 2, {{"humidity", 3}}, 3)});
  ASSERT_EQ(ids.size(), 2u);
  EXPECT_TRUE(ids[0] && ids[1]);
  EXPECT_EQ(count_rows(*raw_, "SELECT COUNT(*) FROM messages"), 3);
  EXPECT_EQ(count_rows(*raw_, "SELECT COUNT(*) FROM devices"), 2);
  // Still exactly once: the stored reading is recognised as a duplicate.
  auto again = store_batch(*ws, {make_reading("dev-a", kT0, {{"temperature", 1}}, 1)});
  EXPECT_FALSE(again[0]);
}

TEST_P(Reconnect, ReadPoolReopensALeasedSessionAndRetriesOnce) {
  auto ws = make_write_store(db_->spec());
  store_batch(*ws, {make_reading("dev-a", kT0, {{"temperature", 1}}, 1)});
  auto repo = make_repository(db_->spec(), 2);
  repo->ping();
  drop_other_connections(*raw_);
  EXPECT_NO_THROW(repo->ping());
  ReadingQuery q;
  q.device_id = "dev-a";
  ReadingPage page;
  EXPECT_NO_THROW(page = repo->readings(q));
  EXPECT_EQ(page.rows.size(), 1u);
  drop_other_connections(*raw_);
  EXPECT_NO_THROW(page = repo->readings(q));
  EXPECT_EQ(page.rows.size(), 1u);
}

std::vector<std::string> server_backends() {
  auto all = testing::test_backends();
  std::erase(all, std::string("sqlite"));  // a SQLite file has no connection to lose
  return all;
}

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(Reconnect);
INSTANTIATE_TEST_SUITE_P(Backends, Reconnect, ::testing::ValuesIn(server_backends()),
                         testing::backend_name);

}  // namespace
}  // namespace iotd::storage
