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

namespace iotd::journal {
namespace {

// Intake paused with everything committed: no further checkpoint comes, so the monitor
// takes the deleting step itself (issue 12).
TEST(JournalRelease, ReleaseCommittedDeletesWhatTheLastCheckpointCoversButNeverTheActiveSegment) {
  test::TempDir dir;
  JournalOptions o;
  o.dir = dir / "j";
  o.fsync = FsyncPolicy::off;
  o.segment_bytes = 64 << 10;
  Journal j(o);
  const std::string payload(1000, 'p');
  for (int i = 0; i < 300; ++i) ASSERT_EQ(j.append("t/a", payload, 1, 0), AppendResult::appended);
  const auto full = j.bytes_on_disk();
  ASSERT_GT(full, 4u * (64 << 10)) << "several sealed segments";
  j.checkpoint(j.last_seq());
  EXPECT_EQ(j.bytes_on_disk(), full) << "never in the step that first covers a segment";
  j.release_committed();
  EXPECT_LT(j.bytes_on_disk(), static_cast<std::uint64_t>(64 << 10) + 2000) << "only the active segment is left";
  EXPECT_GT(j.bytes_on_disk(), 0u);
  j.release_committed();  // idempotent
  EXPECT_GT(j.bytes_on_disk(), 0u);
  EXPECT_EQ(j.append("t/a", payload, 1, 0), AppendResult::appended);
}

}  // namespace
}  // namespace iotd::journal
