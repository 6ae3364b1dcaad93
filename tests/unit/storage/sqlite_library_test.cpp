// SQLite's process-wide settings (src/storage/sqlite_library.hpp): the first SQLite session
// iotd opens puts the library in multi-thread mode with memory statistics off, and a second
// call changes nothing.
#include "../../../src/storage/dialect.hpp"
#include "../../../src/storage/sqlite_library.hpp"

#include <dlfcn.h>
#include <gtest/gtest.h>
#include <soci/soci.h>
#include <sqlite3.h>

#include <string>

#include "iotd/storage/database.hpp"
#include "support/temp_dir.hpp"

namespace iotd::storage::detail {
namespace {

TEST(SqliteLibrary, FirstSessionConfiguresMultiThreadModeWithoutMemoryStatistics) {
  test::TempDir dir;
  auto spec = parse_database_url("sqlite:///" + (dir / "lib.db").string());
  auto session = open_session(spec);
  *session << "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT)";
  for (int i = 0; i < 100; ++i) *session << "INSERT INTO t(b) VALUES ('" + std::string(200, 'x') + "')";
  int n = 0;
  *session << "SELECT COUNT(*) FROM t", soci::into(n);
  EXPECT_EQ(n, 100);

  const auto& config = configure_sqlite_library();
  EXPECT_TRUE(config.multithread);
  EXPECT_TRUE(config.memstatus_off);
  EXPECT_EQ(&configure_sqlite_library(), &config);

  // The library SOCI loaded keeps no allocation statistics: with them on (Debian's default),
  // a connection that has done this much reports about 100 KiB in use (measured: 109,496
  // bytes through Python's sqlite3 module on the same libsqlite3.so.0).
  void* lib = ::dlopen("libsqlite3.so.0", RTLD_NOW | RTLD_NOLOAD);
  ASSERT_NE(lib, nullptr) << "libsqlite3 is not loaded";
  auto status = reinterpret_cast<int (*)(int, sqlite3_int64*, sqlite3_int64*, int)>(::dlsym(lib, "sqlite3_status64"));
  ASSERT_NE(status, nullptr);
  sqlite3_int64 current = -1, highwater = -1;
  ASSERT_EQ(status(SQLITE_STATUS_MEMORY_USED, &current, &highwater, 0), SQLITE_OK);
  EXPECT_EQ(current, 0);
  ::dlclose(lib);
}

}  // namespace
}  // namespace iotd::storage::detail
