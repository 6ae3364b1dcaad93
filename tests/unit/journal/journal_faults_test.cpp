// The journal's fault reporting (issue 12): quarantined files count toward the bound and are
// reported; free space and the last append failure are readable.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "iotd/journal/journal.hpp"

#include "support/temp_dir.hpp"

namespace iotd::journal {
namespace {

namespace fs = std::filesystem;

TEST(JournalQuarantineBound, BadFilesAreCountedTowardTheBoundKeptAndGoneAfterDeletion) {
  test::TempDir dir;
  fs::create_directories(dir / "j");
  {
    std::ofstream(dir / "j" / "00000000000000000001.seg.bad", std::ios::binary) << std::string(3000, 'x');
    std::ofstream(dir / "j" / "00000000000000000007.seg.2.bad", std::ios::binary) << std::string(1000, 'y');
  }
  JournalOptions o;
  o.dir = dir / "j";
  o.fsync = FsyncPolicy::off;
  o.segment_bytes = 64 << 10;
  o.max_bytes = 4000;  // the quarantined files alone reach it
  {
    Journal j(o);
    EXPECT_EQ(j.quarantined_files(), 2u);
    EXPECT_EQ(j.quarantined_bytes(), 4000u);
    EXPECT_TRUE(j.over_bound()) << "bytes_on_disk " << j.bytes_on_disk();
    EXPECT_TRUE(fs::exists(dir / "j" / "00000000000000000001.seg.bad")) << "never deleted by iotd";
  }
  fs::remove(dir / "j" / "00000000000000000001.seg.bad");
  fs::remove(dir / "j" / "00000000000000000007.seg.2.bad");
  Journal j(o);
  EXPECT_EQ(j.quarantined_files(), 0u);
  EXPECT_EQ(j.quarantined_bytes(), 0u);
  EXPECT_FALSE(j.over_bound());
}

TEST(JournalFreeSpace, FilesystemFreeBytesIsReadAndNoFailureBeforeOne) {
  test::TempDir dir;
  JournalOptions o;
  o.dir = dir / "j";
  o.fsync = FsyncPolicy::off;
  Journal j(o);
  auto free = j.filesystem_free_bytes();
  ASSERT_TRUE(free.has_value());
  EXPECT_GT(*free, 0u);
  EXPECT_EQ(j.last_failure(), "");
}

}  // namespace
}  // namespace iotd::journal
